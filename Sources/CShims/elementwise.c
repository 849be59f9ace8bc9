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
