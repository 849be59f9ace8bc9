// Fused, vectorised sampler kernels: counter-based Gaussian noise and the adavb / SGHMC / SGLD
// updates over a flat parameter buffer. See sampler.c for the definitions.
#ifndef BAYESPRUNE_SAMPLER_H
#define BAYESPRUNE_SAMPLER_H
#include <stddef.h>
#include <stdint.h>

/// Standard normal noise as a pure function of (key, counter, index): out[i] = z(key, counter, i0 + i).
/// The same (key, counter) gives the same values on every process, in any chunking.
void bp_gaussian_fill(uint64_t key, uint64_t counter, size_t i0, size_t n, float *out);

typedef struct {
    float beta1, beta2, eta;
    float temperature;   // T
    float c2;            // C², this step's step size from the schedule
    float n_data;        // N
    float grad_scale;    // g is read as g·grad_scale (1/R after a sum allreduce over R ranks; 1 otherwise)
} bp_adavb_params;

/// One adaptive-variational-Bayes step (ALGORITHM.md §2) over n weights. lambda: per-weight decay or
/// NULL for lambda_const; mask: permanent pruning mask (0/1) or NULL. eps holds the previous draw on
/// entry and this step's draw on return. noise_index: NULL (weight i draws noise i) or, for a compact
/// copy of a network, each weight's index in the full network, whose draw it takes (same for all kernels).
void bp_adavb_step(size_t n, float *w, float *m, float *rho, float *eps, const float *g,
                   const float *lambda, float lambda_const, const float *mask,
                   bp_adavb_params p, uint64_t key, uint64_t counter, const uint32_t *noise_index);

/// SGHMC in momentum form: v ← (1−α)v − lr·(s·g + λw) + noise_sd·ξ, w ← (w + v)·mask, s = grad_scale.
void bp_sghmc_step(size_t n, float *w, float *v, const float *g, float grad_scale, const float *lambda,
                   float lambda_const,
                   const float *mask, float lr, float alpha, float noise_sd, uint64_t key, uint64_t counter,
                   const uint32_t *noise_index);

/// SGLD: w ← (w − lr·(s·g + λw) + noise_sd·ξ)·mask, s = grad_scale.
void bp_sgld_step(size_t n, float *w, const float *g, float grad_scale, const float *lambda, float lambda_const,
                  const float *mask, float lr, float noise_sd, uint64_t key, uint64_t counter,
                  const uint32_t *noise_index);

/// The instruction set the sampler kernels dispatched to: "avx512", "avx2" or "baseline".
const char *bp_sampler_isa(void);

/// Vectorised logistic function 1/(1+e^−x) over n values (used for τ statistics).
void bp_sigmoid(size_t n, const float *x, float *out);
#endif
