// JPEG and PNG decoding/encoding for the image-folder loader (see CImage.h). libjpeg's default error
// handler calls exit(); ours longjmps back with the library's message instead. Warnings (e.g. a few
// corrupt bytes that libjpeg fills in) are not errors, as in PIL and torchvision.
#include "CImage.h"

// stdio before jpeglib.h, which uses FILE without including it.
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

int bp_image_format(const uint8_t *data, size_t size) {
    static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return BP_IMAGE_JPEG;
    if (size >= 8 && memcmp(data, png_signature, 8) == 0) return BP_IMAGE_PNG;
    return BP_IMAGE_UNKNOWN;
}

static void set_message(char *message, size_t message_size, const char *text) {
    if (message && message_size) snprintf(message, message_size, "%s", text);
}

// MARK: - JPEG

struct bp_jpeg_error {
    struct jpeg_error_mgr manager;
    jmp_buf escape;
    char text[JMSG_LENGTH_MAX];
    /// Set by a warning that means pixels are missing (data cut short, or a marker inside the image data).
    int truncated;
};

static void bp_jpeg_error_exit(j_common_ptr info) {
    struct bp_jpeg_error *error = (struct bp_jpeg_error *)info->err;
    (*info->err->format_message)(info, error->text);
    longjmp(error->escape, 1);
}

/// Warnings are not errors (as in PIL), except those that mean the image is incomplete: libjpeg would fill
/// the missing rows with grey, and PIL and torchvision refuse such a file as truncated.
static void bp_jpeg_silent(j_common_ptr info, int level) {
    if (level == -1 && (info->err->msg_code == JWRN_JPEG_EOF || info->err->msg_code == JWRN_HIT_MARKER)) {
        struct bp_jpeg_error *error = (struct bp_jpeg_error *)info->err;
        if (!error->truncated) (*info->err->format_message)(info, error->text);
        error->truncated = 1;
    }
}

/// libjpeg's error manager with our exit (longjmp to error->escape, which the caller setjmps) and no warnings.
static struct jpeg_error_mgr *bp_jpeg_errors(struct bp_jpeg_error *error) {
    struct jpeg_error_mgr *manager = jpeg_std_error(&error->manager);
    manager->error_exit = bp_jpeg_error_exit;
    manager->emit_message = bp_jpeg_silent;
    error->truncated = 0;
    return manager;
}

static int jpeg_decode(
    const uint8_t *data, size_t size, int probe_only, int scale_denominator, uint8_t **pixels, int *width,
    int *height, char *message, size_t message_size) {
    struct jpeg_decompress_struct info;
    struct bp_jpeg_error error;
    // volatile: read after a longjmp.
    uint8_t *volatile out = NULL;
    uint8_t *volatile row = NULL;
    info.err = bp_jpeg_errors(&error);
    if (setjmp(error.escape)) {
        jpeg_destroy_decompress(&info);
        free(out);
        free(row);
        if (pixels) *pixels = NULL;
        char text[JMSG_LENGTH_MAX + 32];
        snprintf(text, sizeof text, "not a readable JPEG (%s)", error.text);
        set_message(message, message_size, text);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    if (probe_only) {
        *width = (int)info.image_width;
        *height = (int)info.image_height;
        jpeg_destroy_decompress(&info);
        return 0;
    }
    int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    info.scale_num = 1;
    info.scale_denom = (unsigned)(scale_denominator == 2 || scale_denominator == 4 || scale_denominator == 8
                                      ? scale_denominator : 1);
    jpeg_start_decompress(&info);
    size_t w = info.output_width, h = info.output_height, components = (size_t)info.output_components;
    out = malloc(w * h * 3);
    row = malloc(w * components);
    if (!out || !row) {
        strcpy(error.text, "out of memory");
        longjmp(error.escape, 1);
    }
    while (info.output_scanline < info.output_height) {
        size_t y = info.output_scanline;
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&info, rows, 1);
        uint8_t *dst = out + y * w * 3;
        if (cmyk) {
            // Adobe CMYK JPEGs store inverted inks: R = C·K/255 with the stored (inverted) values.
            int inverted = info.saw_Adobe_marker;
            for (size_t x = 0; x < w; x++) {
                unsigned c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2], k = row[4 * x + 3];
                if (!inverted) { c = 255 - c; m = 255 - m; yy = 255 - yy; k = 255 - k; }
                dst[3 * x] = (uint8_t)((c * k + 127) / 255);
                dst[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
                dst[3 * x + 2] = (uint8_t)((yy * k + 127) / 255);
            }
        } else {
            memcpy(dst, row, w * 3);
        }
    }
    if (error.truncated) longjmp(error.escape, 1);
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    free(row);
    *pixels = out;
    *width = (int)w;
    *height = (int)h;
    return 0;
}

// MARK: - PNG (libpng's simplified API)

static int png_decode(
    const uint8_t *data, size_t size, int probe_only, uint8_t **pixels, int *width, int *height, char *message,
    size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    char text[128];
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(text, sizeof text, "not a readable PNG (%s)", image.message);
        set_message(message, message_size, text);
        return -1;
    }
    *width = (int)image.width;
    *height = (int)image.height;
    if (probe_only) {
        png_image_free(&image);
        return 0;
    }
    image.format = PNG_FORMAT_RGB;
    uint8_t *out = malloc(PNG_IMAGE_SIZE(image));
    if (!out) {
        png_image_free(&image);
        set_message(message, message_size, "out of memory");
        return -1;
    }
    // Alpha is composited onto black (a NULL background); the colour values of opaque pixels are exact.
    if (!png_image_finish_read(&image, NULL, out, 0, NULL)) {
        snprintf(text, sizeof text, "not a readable PNG (%s)", image.message);
        set_message(message, message_size, text);
        free(out);
        png_image_free(&image);
        return -1;
    }
    *pixels = out;
    return 0;
}

int bp_image_probe(const uint8_t *data, size_t size, int *width, int *height, char *message, size_t message_size) {
    switch (bp_image_format(data, size)) {
    case BP_IMAGE_JPEG: return jpeg_decode(data, size, 1, 1, NULL, width, height, message, message_size);
    case BP_IMAGE_PNG: return png_decode(data, size, 1, NULL, width, height, message, message_size);
    default: set_message(message, message_size, "not a JPEG or PNG image"); return -1;
    }
}

int bp_image_decode(
    const uint8_t *data, size_t size, int scale_denominator, uint8_t **pixels, int *width, int *height,
    char *message, size_t message_size) {
    *pixels = NULL;
    switch (bp_image_format(data, size)) {
    case BP_IMAGE_JPEG:
        return jpeg_decode(data, size, 0, scale_denominator, pixels, width, height, message, message_size);
    case BP_IMAGE_PNG: return png_decode(data, size, 0, pixels, width, height, message, message_size);
    default: set_message(message, message_size, "not a JPEG or PNG image"); return -1;
    }
}

void bp_image_free(void *pointer) { free(pointer); }

// MARK: - Encoding (test data and tools)

int bp_jpeg_encode(const uint8_t *pixels, int width, int height, int channels, int quality, uint8_t **bytes, size_t *size) {
    struct jpeg_compress_struct info;
    struct bp_jpeg_error error;
    unsigned char *volatile buffer = NULL;
    unsigned long length = 0;
    info.err = bp_jpeg_errors(&error);
    if (setjmp(error.escape)) {
        jpeg_destroy_compress(&info);
        free(buffer);
        return -1;
    }
    jpeg_create_compress(&info);
    unsigned char *target = NULL;
    jpeg_mem_dest(&info, &target, &length);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = channels;
    info.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW rows[1] = {(JSAMPROW)(pixels + (size_t)info.next_scanline * (size_t)width * (size_t)channels)};
        jpeg_write_scanlines(&info, rows, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    *bytes = target;
    *size = length;
    return 0;
}

int bp_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **bytes, size_t *size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    png_alloc_size_t length = 0;
    if (!png_image_write_to_memory(&image, NULL, &length, 0, pixels, 0, NULL)) return -1;
    uint8_t *out = malloc(length);
    if (!out) return -1;
    if (!png_image_write_to_memory(&image, out, &length, 0, pixels, 0, NULL)) {
        free(out);
        return -1;
    }
    *bytes = out;
    *size = (size_t)length;
    return 0;
}
