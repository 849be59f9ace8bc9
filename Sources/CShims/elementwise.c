// Vectorisable elementwise and reduction kernels for the parameter-free layers and batch norm
// (see CShims.h). Reductions use 16 independent float lanes per block of 4096 elements and add the
// block sums in double, so they vectorise without -ffast-math and stay accurate.
#include "CShims.h"

#define LANES 16
#define BLOCK 4096

#if defined(__x86_64__) && defined(__clang__)
#define BP_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BP_CLONES
#endif

BP_CLONES void bp_relu_forward(const float *restrict x, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

BP_CLONES void bp_relu_backward(const float *restrict y, const float *restrict dy, float *restrict dx, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
}

BP_CLONES void bp_add_relu(const float *restrict a, const float *restrict b, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) { float s = a[i] + b[i]; y[i] = s > 0 ? s : 0; }
}

BP_CLONES void bp_add_inplace(float *restrict y, const float *restrict x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

BP_CLONES void bp_add(const float *restrict a, const float *restrict b, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

BP_CLONES double bp_sum(const float *restrict x, size_t n) {
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i < BLOCK ? n : i + BLOCK;
        float acc[LANES] = {0};
        for (; i + LANES <= end; i += LANES)
            for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
        float tail = 0;
        for (; i < end; i++) tail += x[i];
        double s = tail;
        for (int j = 0; j < LANES; j++) s += acc[j];
        total += s;
    }
    return total;
}

BP_CLONES double bp_sum_sq_dev(const float *restrict x, size_t n, float m) {
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i < BLOCK ? n : i + BLOCK;
        float acc[LANES] = {0};
        for (; i + LANES <= end; i += LANES)
            for (int j = 0; j < LANES; j++) { float d = x[i + j] - m; acc[j] += d * d; }
        float tail = 0;
        for (; i < end; i++) { float d = x[i] - m; tail += d * d; }
        double s = tail;
        for (int j = 0; j < LANES; j++) s += acc[j];
        total += s;
    }
    return total;
}

BP_CLONES void bp_scale_shift(const float *restrict x, float *restrict y, size_t n, float a, float b) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] * a + b;
}

BP_CLONES void bp_bn_backward_sums(const float *restrict x, const float *restrict dy, size_t n, float m,
                                   double *sum_dy, double *sum_dy_xc) {
    double t0 = 0, t1 = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i < BLOCK ? n : i + BLOCK;
        float a[LANES] = {0}, b[LANES] = {0};
        for (; i + LANES <= end; i += LANES)
            for (int j = 0; j < LANES; j++) { float g = dy[i + j]; a[j] += g; b[j] += g * (x[i + j] - m); }
        float ta = 0, tb = 0;
        for (; i < end; i++) { float g = dy[i]; ta += g; tb += g * (x[i] - m); }
        double sa = ta, sb = tb;
        for (int j = 0; j < LANES; j++) { sa += a[j]; sb += b[j]; }
        t0 += sa; t1 += sb;
    }
    *sum_dy = t0; *sum_dy_xc = t1;
}

BP_CLONES void bp_bn_backward_dx(const float *restrict x, const float *restrict dy, float *restrict dx, size_t n,
                                 float m, float inv, float k, float mean_dy, float mean_dy_xhat) {
    for (size_t i = 0; i < n; i++) {
        float xhat = (x[i] - m) * inv;
        dx[i] = k * (dy[i] - mean_dy - xhat * mean_dy_xhat);
    }
}

BP_CLONES void bp_maxpool2x2_forward(const float *restrict x, float *restrict y, int32_t *restrict argmax,
                                     size_t planes, int h, int w, int oh, int ow) {
    for (size_t p = 0; p < planes; p++) {
        const float *src = x + p * (size_t)h * w;
        float *dst = y + p * (size_t)oh * ow;
        int32_t *am = argmax + p * (size_t)oh * ow;
        for (int i = 0; i < oh; i++) {
            const float *r0 = src + 2 * i * w, *r1 = r0 + w;
            int32_t base = 2 * i * w;
            for (int j = 0; j < ow; j++) {
                // Same order and strict comparisons as the generic loop (first maximum wins; index 0 of
                // the plane when nothing beats -inf).
                float best = -__builtin_inff();
                int32_t idx = 0;
                float v;
                v = r0[2 * j];     if (v > best) { best = v; idx = base + 2 * j; }
                v = r0[2 * j + 1]; if (v > best) { best = v; idx = base + 2 * j + 1; }
                v = r1[2 * j];     if (v > best) { best = v; idx = base + w + 2 * j; }
                v = r1[2 * j + 1]; if (v > best) { best = v; idx = base + w + 2 * j + 1; }
                dst[i * ow + j] = best;
                am[i * ow + j] = idx;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The channel-blocked layout [B][C/k][P][k] (oneDNN's nChw16c / nChw8c, k = 16 or 8, C a multiple of k):
// batch norm, residual sums and global average pooling over examples [b0, b1). Per-channel sums are
// kept per example (float lanes over the example's plane, then double), so a caller that splits the
// batch across threads and adds the per-example sums in example order gets the same bits at any thread
// count. K is a compile-time constant in each specialisation, so the lane loops vectorise.

#define BLK_DISPATCH(fn, ...) do { if (k == 16) fn##_k(16, __VA_ARGS__); else fn##_k(8, __VA_ARGS__); } while (0)

static inline __attribute__((always_inline)) void blk_sums_k(size_t K, const float *restrict x, size_t C, size_t P,
                                                              size_t b0, size_t b1, const float *restrict mean,
                                                              double *restrict out) {
    for (size_t b = b0; b < b1; b++) {
        for (size_t cb = 0; cb < C / K; cb++) {
            const float *src = x + (b * C + cb * K) * P;
            float acc[16] = {0}, m[16] = {0};
            if (mean) for (size_t j = 0; j < K; j++) m[j] = mean[cb * K + j];
            if (mean) {
                for (size_t p = 0; p < P; p++)
                    for (size_t j = 0; j < K; j++) { float d = src[p * K + j] - m[j]; acc[j] += d * d; }
            } else {
                for (size_t p = 0; p < P; p++)
                    for (size_t j = 0; j < K; j++) acc[j] += src[p * K + j];
            }
            for (size_t j = 0; j < K; j++) out[b * C + cb * K + j] = acc[j];
        }
    }
}
BP_CLONES void bp_blk_channel_sums(const float *x, size_t C, size_t P, size_t k, size_t b0, size_t b1,
                                   const float *mean, double *out) {
    BLK_DISPATCH(blk_sums, x, C, P, b0, b1, mean, out);
}

static inline __attribute__((always_inline)) void blk_scale_shift_k(size_t K, const float *restrict x,
        float *restrict y, size_t C, size_t P, size_t b0, size_t b1, const float *restrict scale,
        const float *restrict shift, int relu) {
    for (size_t b = b0; b < b1; b++) {
        for (size_t cb = 0; cb < C / K; cb++) {
            size_t o = (b * C + cb * K) * P;
            float a[16], s[16];
            for (size_t j = 0; j < K; j++) { a[j] = scale[cb * K + j]; s[j] = shift[cb * K + j]; }
            if (relu) {
                for (size_t p = 0; p < P; p++)
                    for (size_t j = 0; j < K; j++) { float v = x[o + p * K + j] * a[j] + s[j]; y[o + p * K + j] = v > 0 ? v : 0; }
            } else {
                for (size_t p = 0; p < P; p++)
                    for (size_t j = 0; j < K; j++) y[o + p * K + j] = x[o + p * K + j] * a[j] + s[j];
            }
        }
    }
}
BP_CLONES void bp_blk_scale_shift(const float *x, float *y, size_t C, size_t P, size_t k, size_t b0, size_t b1,
                                  const float *scale, const float *shift, int relu) {
    BLK_DISPATCH(blk_scale_shift, x, y, C, P, b0, b1, scale, shift, relu);
}

static inline __attribute__((always_inline)) void blk_bn_sums_k(size_t K, const float *restrict x,
        const float *restrict dy, const float *restrict y, size_t C, size_t P, size_t b0, size_t b1,
        const float *restrict mean, double *restrict sum_dy, double *restrict sum_dyxc) {
    for (size_t b = b0; b < b1; b++) {
        for (size_t cb = 0; cb < C / K; cb++) {
            size_t o = (b * C + cb * K) * P;
            float a[16] = {0}, c[16] = {0}, m[16];
            for (size_t j = 0; j < K; j++) m[j] = mean[cb * K + j];
            if (y) {
                for (size_t p = 0; p < P; p++)
                    for (size_t j = 0; j < K; j++) {
                        float g = y[o + p * K + j] > 0 ? dy[o + p * K + j] : 0;
                        a[j] += g; c[j] += g * (x[o + p * K + j] - m[j]);
                    }
            } else {
                for (size_t p = 0; p < P; p++)
                    for (size_t j = 0; j < K; j++) {
                        float g = dy[o + p * K + j];
                        a[j] += g; c[j] += g * (x[o + p * K + j] - m[j]);
                    }
            }
            for (size_t j = 0; j < K; j++) { sum_dy[b * C + cb * K + j] = a[j]; sum_dyxc[b * C + cb * K + j] = c[j]; }
        }
    }
}
BP_CLONES void bp_blk_bn_backward_sums(const float *x, const float *dy, const float *y, size_t C, size_t P, size_t k,
                                       size_t b0, size_t b1, const float *mean, double *sum_dy, double *sum_dyxc) {
    BLK_DISPATCH(blk_bn_sums, x, dy, y, C, P, b0, b1, mean, sum_dy, sum_dyxc);
}

static inline __attribute__((always_inline)) void blk_bn_dx_k(size_t K, const float *restrict x,
        const float *restrict dy, const float *restrict y, float *restrict dx, size_t C, size_t P, size_t b0,
        size_t b1, const float *restrict mean, const float *restrict inv, const float *restrict kc,
        const float *restrict mdy, const float *restrict mdyx) {
    for (size_t b = b0; b < b1; b++) {
        for (size_t cb = 0; cb < C / K; cb++) {
            size_t o = (b * C + cb * K) * P;
            float m[16], iv[16], kk[16], a[16], c[16];
            for (size_t j = 0; j < K; j++) {
                size_t ch = cb * K + j;
                m[j] = mean[ch]; iv[j] = inv[ch]; kk[j] = kc[ch]; a[j] = mdy[ch]; c[j] = mdyx[ch];
            }
            for (size_t p = 0; p < P; p++)
                for (size_t j = 0; j < K; j++) {
                    size_t i = o + p * K + j;
                    float g = y ? (y[i] > 0 ? dy[i] : 0) : dy[i];
                    float xhat = (x[i] - m[j]) * iv[j];
                    dx[i] = kk[j] * (g - a[j] - xhat * c[j]);
                }
        }
    }
}
BP_CLONES void bp_blk_bn_backward_dx(const float *x, const float *dy, const float *y, float *dx, size_t C, size_t P,
                                     size_t k, size_t b0, size_t b1, const float *mean, const float *inv,
                                     const float *kcoef, const float *mean_dy, const float *mean_dy_xhat) {
    BLK_DISPATCH(blk_bn_dx, x, dy, y, dx, C, P, b0, b1, mean, inv, kcoef, mean_dy, mean_dy_xhat);
}

BP_CLONES void bp_blk_residual_forward(const float *main, const float *x, float *y, const int32_t *source, size_t C,
                                       size_t inC, int H, int W, int inH, int inW, int stride, size_t k, size_t b0,
                                       size_t b1) {
    size_t P = (size_t)H * W, inP = (size_t)inH * inW;
    for (size_t b = b0; b < b1; b++)
        for (size_t c = 0; c < C; c++) {
            int32_t sc = source[c];
            const float *mrow = main + (b * C + c / k * k) * P + c % k;
            float *yrow = y + (b * C + c / k * k) * P + c % k;
            if (sc < 0) {
                for (size_t p = 0; p < P; p++) { float v = mrow[p * k]; yrow[p * k] = v > 0 ? v : 0; }
                continue;
            }
            const float *xrow = x + (b * inC + (size_t)sc / k * k) * inP + (size_t)sc % k;
            for (int oh = 0; oh < H; oh++)
                for (int ow = 0; ow < W; ow++) {
                    size_t p = (size_t)oh * W + ow, q = (size_t)oh * stride * inW + (size_t)ow * stride;
                    float v = mrow[p * k] + xrow[q * k];
                    yrow[p * k] = v > 0 ? v : 0;
                }
        }
}

BP_CLONES void bp_blk_residual_backward(float *d, const float *ds, const int32_t *source, size_t C, size_t inC, int H,
                                        int W, int inH, int inW, int stride, size_t k, size_t b0, size_t b1) {
    size_t P = (size_t)H * W, inP = (size_t)inH * inW;
    for (size_t b = b0; b < b1; b++)
        for (size_t c = 0; c < C; c++) {
            int32_t sc = source[c];
            if (sc < 0) continue;
            const float *srow = ds + (b * C + c / k * k) * P + c % k;
            float *drow = d + (b * inC + (size_t)sc / k * k) * inP + (size_t)sc % k;
            for (int oh = 0; oh < H; oh++)
                for (int ow = 0; ow < W; ow++) {
                    size_t p = (size_t)oh * W + ow, q = (size_t)oh * stride * inW + (size_t)ow * stride;
                    drow[q * k] += srow[p * k];
                }
        }
}

static inline __attribute__((always_inline)) void blk_gap_k(size_t K, const float *restrict x, float *restrict y,
                                                             size_t B, size_t C, size_t P) {
    float scale = 1.0f / (float)P;
    for (size_t b = 0; b < B; b++)
        for (size_t cb = 0; cb < C / K; cb++) {
            const float *src = x + (b * C + cb * K) * P;
            float acc[16] = {0};
            for (size_t p = 0; p < P; p++)
                for (size_t j = 0; j < K; j++) acc[j] += src[p * K + j];
            for (size_t j = 0; j < K; j++) y[(cb * K + j) * B + b] = acc[j] * scale;
        }
}
BP_CLONES void bp_blk_global_avgpool_forward(const float *x, float *y, size_t B, size_t C, size_t P, size_t k) {
    BLK_DISPATCH(blk_gap, x, y, B, C, P);
}

BP_CLONES void bp_blk_global_avgpool_backward(const float *dy, float *dx, size_t B, size_t C, size_t P, size_t k) {
    float scale = 1.0f / (float)P;
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++) {
            float g = dy[c * B + b] * scale;
            float *dst = dx + (b * C + c / k * k) * P + c % k;
            for (size_t p = 0; p < P; p++) dst[p * k] = g;
        }
}
