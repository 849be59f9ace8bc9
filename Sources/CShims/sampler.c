// Fused sampler kernels with vectorisable, branch-free arithmetic (no libm calls in the loops, so the
// compiler vectorises them; target_clones builds AVX-512, AVX2 and baseline versions picked at load).
//
// Noise: weight i at (key, counter) belongs to block b = i / 256, lane l = i % 256; the block's pair
// j = b·128 + (l mod 128) is two 32-bit hashes of (2j, 2j+1) under a per-(key, counter) key, turned
// into two normals by Box-Muller; lanes l < 128 take the cosine branch, the others the sine branch.
// So a value depends only on (key, counter, i): identical on every MPI rank and for any chunking.
#include "bp_sampler.h"
#include <string.h>
#include <math.h>

#if defined(__x86_64__) && defined(__clang__)
#define BP_CLONES __attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default")))
#else
#define BP_CLONES
#endif

#define BLOCK 256
#define HALF 128

static inline uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16; x *= 0x7feb352dU;
    x ^= x >> 15; x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline float as_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t as_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/// ln(u) for u in (0, 1]: exponent plus an atanh series on the mantissa folded into [√½, √2).
static inline float log_poly(float u) {
    uint32_t ix = as_bits(u);
    int e = (int)((ix >> 23) & 255) - 127;
    float m = as_float((ix & 0x007FFFFFu) | 0x3F800000u);
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e += big;
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float p = 1.0f + s2 * (0.33333333f + s2 * (0.2f + s2 * (0.14285714f + s2 * 0.11111111f)));
    return (float)e * 0.69314718f + 2.0f * s * p;
}

/// e^x for |x| ≤ 87 by 2^k·e^f, |f| ≤ ln2/2, with a degree-6 polynomial.
static inline float exp_poly(float x) {
    x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
    float kf = x * 1.44269504f;
    kf = kf >= 0 ? (float)(int)(kf + 0.5f) : (float)(int)(kf - 0.5f);
    float f = x - kf * 0.693145752f - kf * 1.42860677e-6f;
    float p = 1.0f + f * (1.0f + f * (0.5f + f * (0.16666667f + f * (0.041666667f + f * (0.0083333333f + f * 0.0013888889f)))));
    return p * as_float((uint32_t)((int)kf + 127) << 23);
}

static inline float sigmoid_poly(float x) { return 1.0f / (1.0f + exp_poly(-x)); }

static void derive_keys(uint64_t key, uint64_t counter, uint32_t *k0, uint32_t *k1) {
    uint64_t h = splitmix64(key ^ splitmix64(counter + 0x632BE59BD9B4E019ull));
    *k0 = (uint32_t)h;
    *k1 = (uint32_t)(h >> 32);
}

/// The 256 normals of block `b` into z[0..255].
BP_CLONES
static void noise_block(uint32_t k0, uint32_t k1, uint64_t b, float *z) {
    uint32_t base = (uint32_t)(b * HALF);
    for (int l = 0; l < HALF; l++) {
        uint32_t j = base + (uint32_t)l;
        uint32_t h1 = mix32(mix32((2u * j) ^ k0) + k1);
        uint32_t h2 = mix32(mix32((2u * j + 1u) ^ k0) + k1);
        float u1 = (float)((h1 >> 8) + 1u) * 5.9604645e-8f;             // (0, 1]
        float r = sqrtf(-2.0f * log_poly(u1));
        // Angle uniform on [0, π/2) plus two random signs: uniform on the circle.
        float d = (float)(h2 >> 10) * (1.5707963f / 4194304.0f) - 0.78539816f;   // [-π/4, π/4)
        float d2 = d * d;
        float sn = d * (1.0f + d2 * (-0.16666667f + d2 * (0.0083333333f + d2 * (-1.9841270e-4f + d2 * 2.7557319e-6f))));
        float cs = 1.0f + d2 * (-0.5f + d2 * (0.041666667f + d2 * (-1.3888889e-3f + d2 * (2.4801587e-5f - d2 * 2.7557319e-7f))));
        float c = (cs - sn) * 0.70710678f, s = (cs + sn) * 0.70710678f;  // cos, sin of π/4 + d
        float sign0 = (h2 & 1u) ? -1.0f : 1.0f, sign1 = (h2 & 2u) ? -1.0f : 1.0f;
        z[l] = r * c * sign0;
        z[l + HALF] = r * s * sign1;
    }
}

void bp_gaussian_fill(uint64_t key, uint64_t counter, size_t i0, size_t n, float *out) {
    uint32_t k0, k1;
    derive_keys(key, counter, &k0, &k1);
    float z[BLOCK];
    size_t i = i0, end = i0 + n;
    while (i < end) {
        uint64_t b = i / BLOCK;
        size_t lo = i % BLOCK, take = BLOCK - lo;
        if (take > end - i) take = end - i;
        noise_block(k0, k1, b, z);
        memcpy(out + (i - i0), z + lo, take * sizeof(float));
        i += take;
    }
}

BP_CLONES
static void adavb_block(size_t n, float *restrict w, float *restrict m, float *restrict rho, float *restrict eps,
                        const float *restrict g, const float *restrict lambda, float lambda_const,
                        const float *restrict mask, const float *restrict z, bp_adavb_params p) {
    const float c15 = sqrtf(p.c2 * sqrtf(p.c2));               // C^1.5
    const float c3 = p.c2 * p.c2 * sqrtf(p.c2);               // C^3 = (C²)^1.5
    const float a = p.temperature * p.temperature * c3;       // T²·C³
    const float bcoef = p.temperature * c15;                  // T·C^1.5
    const float inv_n = 1.0f / p.n_data;
    const float noise = sqrtf(2.0f * (1.0f + p.beta1 * p.beta1)) * c15 * p.temperature;
    const float step = p.beta2 * p.c2;
    for (size_t i = 0; i < n; i++) {
        float lam = lambda ? lambda[i] : lambda_const;
        float r = rho[i];
        float tau = sigmoid_poly(r);
        if (p.eta != 0.0f) {
            r -= p.eta * (a * lam * tau + bcoef * eps[i] * g[i] - inv_n / tau);
            rho[i] = r;
            tau = sigmoid_poly(r);
        }
        float e = z[i];
        eps[i] = e;
        float mi = p.beta1 * m[i] - step * (g[i] + lam * w[i]) + noise * e;
        m[i] = mi;
        float wi = w[i] + tau * mi;
        w[i] = mask ? wi * mask[i] : wi;
    }
}

void bp_adavb_step(size_t n, float *w, float *m, float *rho, float *eps, const float *g,
                   const float *lambda, float lambda_const, const float *mask,
                   bp_adavb_params p, uint64_t key, uint64_t counter) {
    uint32_t k0, k1;
    derive_keys(key, counter, &k0, &k1);
    float z[BLOCK];
    for (size_t i = 0; i < n; i += BLOCK) {
        size_t len = n - i < BLOCK ? n - i : BLOCK;
        noise_block(k0, k1, i / BLOCK, z);
        adavb_block(len, w + i, m + i, rho + i, eps + i, g + i, lambda ? lambda + i : NULL, lambda_const,
                    mask ? mask + i : NULL, z, p);
    }
}

BP_CLONES
static void sghmc_block(size_t n, float *restrict w, float *restrict v, const float *restrict g,
                        const float *restrict lambda, float lambda_const, const float *restrict mask,
                        const float *restrict z, float lr, float alpha, float noise_sd) {
    for (size_t i = 0; i < n; i++) {
        float lam = lambda ? lambda[i] : lambda_const;
        float vi = (1.0f - alpha) * v[i] - lr * (g[i] + lam * w[i]) + noise_sd * z[i];
        v[i] = vi;
        float wi = w[i] + vi;
        w[i] = mask ? wi * mask[i] : wi;
    }
}

void bp_sghmc_step(size_t n, float *w, float *v, const float *g, const float *lambda, float lambda_const,
                   const float *mask, float lr, float alpha, float noise_sd, uint64_t key, uint64_t counter) {
    uint32_t k0, k1;
    derive_keys(key, counter, &k0, &k1);
    float z[BLOCK];
    for (size_t i = 0; i < n; i += BLOCK) {
        size_t len = n - i < BLOCK ? n - i : BLOCK;
        noise_block(k0, k1, i / BLOCK, z);
        sghmc_block(len, w + i, v + i, g + i, lambda ? lambda + i : NULL, lambda_const, mask ? mask + i : NULL,
                    z, lr, alpha, noise_sd);
    }
}

BP_CLONES
static void sgld_block(size_t n, float *restrict w, const float *restrict g, const float *restrict lambda,
                       float lambda_const, const float *restrict mask, const float *restrict z, float lr, float noise_sd) {
    for (size_t i = 0; i < n; i++) {
        float lam = lambda ? lambda[i] : lambda_const;
        float wi = w[i] - lr * (g[i] + lam * w[i]) + noise_sd * z[i];
        w[i] = mask ? wi * mask[i] : wi;
    }
}

void bp_sgld_step(size_t n, float *w, const float *g, const float *lambda, float lambda_const,
                  const float *mask, float lr, float noise_sd, uint64_t key, uint64_t counter) {
    uint32_t k0, k1;
    derive_keys(key, counter, &k0, &k1);
    float z[BLOCK];
    for (size_t i = 0; i < n; i += BLOCK) {
        size_t len = n - i < BLOCK ? n - i : BLOCK;
        noise_block(k0, k1, i / BLOCK, z);
        sgld_block(len, w + i, g + i, lambda ? lambda + i : NULL, lambda_const, mask ? mask + i : NULL, z, lr, noise_sd);
    }
}

BP_CLONES
void bp_sigmoid(size_t n, const float *x, float *out) {
    for (size_t i = 0; i < n; i++) out[i] = sigmoid_poly(x[i]);
}
