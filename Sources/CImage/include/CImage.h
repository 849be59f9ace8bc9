// C shim over Debian's libjpeg-turbo (libjpeg62-turbo) and libpng: header probing, decoding to 8-bit
// RGB and (for tests and tools) encoding. libjpeg reports errors by longjmp and libpng's simplified API
// by a message field; both become a return code and a message here, so Swift sees plain values.
// Swift imports this header as the module `CImage`.
#ifndef BAYESPRUNE_CIMAGE_H
#define BAYESPRUNE_CIMAGE_H

#include <stddef.h>
#include <stdint.h>

/// The container formats read: detected from the first bytes, never from the file name.
enum bp_image_format { BP_IMAGE_UNKNOWN = 0, BP_IMAGE_JPEG = 1, BP_IMAGE_PNG = 2 };

/// JPEG (FF D8 FF) or PNG (the 8-byte signature) from the first `size` bytes; BP_IMAGE_UNKNOWN otherwise.
int bp_image_format(const uint8_t *data, size_t size);

/// Width and height from the header alone. Returns 0, or -1 with a one-line reason in `message`.
int bp_image_probe(const uint8_t *data, size_t size, int *width, int *height, char *message, size_t message_size);

/// Decodes to interleaved 8-bit RGB (grey repeated, alpha dropped, CMYK converted, 16-bit PNG rounded).
/// `scale_denominator` (1, 2, 4 or 8) asks libjpeg for a 1/d-size DCT-domain decode (PNG ignores it).
/// On success *pixels is a malloc'd width·height·3 buffer (release with bp_image_free) and 0 is returned;
/// on failure -1 with a one-line reason in `message` and *pixels NULL.
int bp_image_decode(
    const uint8_t *data, size_t size, int scale_denominator, uint8_t **pixels, int *width, int *height,
    char *message, size_t message_size);

void bp_image_free(void *pointer);

/// Encodes interleaved 8-bit RGB (channels 3) or grey (channels 1) as a baseline JPEG of `quality`
/// (1-100) or a PNG. On success *bytes is a malloc'd buffer of *size bytes (bp_image_free); returns 0, or -1.
int bp_jpeg_encode(const uint8_t *pixels, int width, int height, int channels, int quality, uint8_t **bytes, size_t *size);
int bp_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **bytes, size_t *size);

#endif
