// Fused sampler kernels with vectorisable, branch-free arithmetic (no libm calls in the loops, so the
// compiler vectorises them; target_clones builds AVX-512, AVX2 and baseline versions picked at load).
//
// Noise: weight i at (key, counter) belongs to block b = i / 256, lane l = i % 256; the block's pair
// j = b·128 + (l mod 128) is two 32-bit hashes of (2j, 2j+1) under a per-(key, counter) key, turned
// into two normals by Box-Muller; lanes l < 128 take the cosine branch, the others the sine branch.
// So a value depends only on (key, counter, i): identical on every MPI rank and for any chunking.
#include "bp_sampler.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

// Each kernel body is compiled three times (AVX-512, AVX2+FMA, baseline) and the first call picks one
// with __builtin_cpu_supports. (clang's target_clones resolver chose the baseline here: measured.)
#if defined(__x86_64__)
#define BP_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#define BP_AVX2 __attribute__((target("avx2,fma")))
#define BP_HAVE_DISPATCH 1
#else
#define BP_HAVE_DISPATCH 0
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
    kf = __builtin_rintf(kf);
    float f = x - kf * 0.693145752f - kf * 1.42860677e-6f;
    float p = 1.0f + f * (1.0f + f * (0.5f + f * (0.16666667f + f * (0.041666667f
              + f * (0.0083333333f + f * 0.0013888889f)))));
    return p * as_float((uint32_t)((int)kf + 127) << 23);
}

static inline float sigmoid_poly(float x) { return 1.0f / (1.0f + exp_poly(-x)); }

static void derive_keys(uint64_t key, uint64_t counter, uint32_t *k0, uint32_t *k1) {
    uint64_t h = splitmix64(key ^ splitmix64(counter + 0x632BE59BD9B4E019ull));
    *k0 = (uint32_t)h;
    *k1 = (uint32_t)(h >> 32);
}

#define KATTR
#define KFN(name) name##_base
#include "sampler_kernels.inc"
#undef KATTR
#undef KFN
#if BP_HAVE_DISPATCH
#define KATTR BP_AVX2
#define KFN(name) name##_avx2
#include "sampler_kernels.inc"
#undef KATTR
#undef KFN
#define KATTR BP_AVX512
#define KFN(name) name##_avx512
#include "sampler_kernels.inc"
#undef KATTR
#undef KFN
#endif

typedef struct {
    void (*noise)(uint32_t, uint32_t, uint64_t, float *);
    void (*adavb)(size_t, float *, float *, float *, float *, const float *, const float *, const float *,
                  const float *, bp_adavb_params);
    void (*adavb_dense)(size_t, float *, float *, float *, float *, const float *, float, const float *,
                        bp_adavb_params);
    void (*sghmc)(size_t, float *, float *, const float *, float, const float *, const float *, const float *, float,
                  float, float);
    void (*sgld)(size_t, float *, const float *, float, const float *, const float *, const float *, float, float);
    void (*sigmoid)(size_t, const float *, float *);
} kernel_table;

#define TABLE(sfx) { noise_block_##sfx, adavb_block_##sfx, adavb_block_dense_##sfx, sghmc_block_##sfx, \
                     sgld_block_##sfx, sigmoid_block_##sfx }

static const kernel_table *dispatch(void) {
    static const kernel_table base = TABLE(base);
#if BP_HAVE_DISPATCH
    static const kernel_table avx2 = TABLE(avx2), avx512 = TABLE(avx512);
    static const kernel_table *chosen = NULL;
    if (!chosen) {
        __builtin_cpu_init();
        // BAYESPRUNE_ISA=avx2 or baseline caps the choice (to measure or test a narrower path on a wider CPU).
        const char *cap = getenv("BAYESPRUNE_ISA");
        int allow512 = !cap || strcmp(cap, "avx512") == 0, allow2 = allow512 || (cap && strcmp(cap, "avx2") == 0);
        if (allow512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
            && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vl")) chosen = &avx512;
        else if (allow2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) chosen = &avx2;
        else chosen = &base;
    }
    return chosen;
#else
    return &base;
#endif
}

const char *bp_sampler_isa(void) {
#if BP_HAVE_DISPATCH
    const kernel_table *t = dispatch();
    return t->noise == noise_block_avx512 ? "avx512" : (t->noise == noise_block_avx2 ? "avx2" : "baseline");
#else
    return "baseline";
#endif
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
        dispatch()->noise(k0, k1, b, z);
        memcpy(out + (i - i0), z + lo, take * sizeof(float));
        i += take;
    }
}

/// Constant stand-ins for the optional per-weight inputs.
typedef struct { float lambda[BLOCK]; float ones[BLOCK]; } constants;

/// One sampler step over n weights, a block at a time: the block's noise, then `update` on
/// [i, i + len) with λ and mask pointers that are real even where the caller passed NULL.
typedef struct {
    const float *lambda, *mask;
    const float *z;
} block_inputs;
typedef void (*block_update)(size_t i, size_t len, block_inputs in, void *ctx);

/// With noise_index, weight i takes the noise of index noise_index[i] (a compact network's weights keep
/// the draws of their places in the full network); the blocks holding those indices are generated once
/// per run of consecutive weights that share a block.
static void for_each_block(size_t n, const float *lambda, float lambda_const, const float *mask,
                           uint64_t key, uint64_t counter, const uint32_t *noise_index, block_update update,
                           void *ctx) {
    uint32_t k0, k1;
    derive_keys(key, counter, &k0, &k1);
    float z[BLOCK], source[BLOCK];
    uint64_t cached = UINT64_MAX;
    constants c;
    for (int j = 0; j < BLOCK; j++) { c.lambda[j] = lambda_const; c.ones[j] = 1.0f; }
    for (size_t i = 0; i < n; i += BLOCK) {
        size_t len = n - i < BLOCK ? n - i : BLOCK;
        if (noise_index) {
            for (size_t j = 0; j < len; j++) {
                uint64_t o = noise_index[i + j];
                if (o / BLOCK != cached) {
                    cached = o / BLOCK;
                    dispatch()->noise(k0, k1, cached, source);
                }
                z[j] = source[o % BLOCK];
            }
        } else {
            dispatch()->noise(k0, k1, i / BLOCK, z);
        }
        block_inputs in = { lambda ? lambda + i : c.lambda, mask ? mask + i : c.ones, z };
        update(i, len, in, ctx);
    }
}

typedef struct {
    float *w, *m, *rho, *eps;
    const float *g;
    float lambda_const;
    int dense;
    bp_adavb_params p;
} adavb_ctx;
static void adavb_update(size_t i, size_t len, block_inputs in, void *ctx) {
    adavb_ctx *a = ctx;
    if (a->dense)
        dispatch()->adavb_dense(len, a->w + i, a->m + i, a->rho + i, a->eps + i, a->g + i, a->lambda_const, in.z,
                                a->p);
    else dispatch()->adavb(len, a->w + i, a->m + i, a->rho + i, a->eps + i, a->g + i, in.lambda, in.mask, in.z, a->p);
}

void bp_adavb_step(size_t n, float *w, float *m, float *rho, float *eps, const float *g,
                   const float *lambda, float lambda_const, const float *mask,
                   bp_adavb_params p, uint64_t key, uint64_t counter, const uint32_t *noise_index) {
    adavb_ctx a = { w, m, rho, eps, g, lambda_const, !lambda && !mask, p };
    for_each_block(n, lambda, lambda_const, mask, key, counter, noise_index, adavb_update, &a);
}

typedef struct { float *w, *v; const float *g; float gs, lr, alpha, noise_sd; } sg_ctx;
static void sghmc_update(size_t i, size_t len, block_inputs in, void *ctx) {
    sg_ctx *a = ctx;
    dispatch()->sghmc(len, a->w + i, a->v + i, a->g + i, a->gs, in.lambda, in.mask, in.z, a->lr, a->alpha, a->noise_sd);
}
static void sgld_update(size_t i, size_t len, block_inputs in, void *ctx) {
    sg_ctx *a = ctx;
    dispatch()->sgld(len, a->w + i, a->g + i, a->gs, in.lambda, in.mask, in.z, a->lr, a->noise_sd);
}

void bp_sghmc_step(size_t n, float *w, float *v, const float *g, float grad_scale, const float *lambda,
                   float lambda_const, const float *mask, float lr, float alpha, float noise_sd, uint64_t key,
                   uint64_t counter, const uint32_t *noise_index) {
    sg_ctx a = { w, v, g, grad_scale, lr, alpha, noise_sd };
    for_each_block(n, lambda, lambda_const, mask, key, counter, noise_index, sghmc_update, &a);
}

void bp_sgld_step(size_t n, float *w, const float *g, float grad_scale, const float *lambda, float lambda_const,
                  const float *mask, float lr, float noise_sd, uint64_t key, uint64_t counter,
                  const uint32_t *noise_index) {
    sg_ctx a = { w, NULL, g, grad_scale, lr, 0.0f, noise_sd };
    for_each_block(n, lambda, lambda_const, mask, key, counter, noise_index, sgld_update, &a);
}

void bp_sigmoid(size_t n, const float *x, float *out) { dispatch()->sigmoid(n, x, out); }
