// C shims for BayesPrune: OpenBLAS (CBLAS plus its runtime controls), CPUID feature bits, zlib.
// Swift imports this header as the module `CShims`.
#ifndef BAYESPRUNE_CSHIMS_H
#define BAYESPRUNE_CSHIMS_H

#include <stdint.h>
#include <stddef.h>
#include <cblas.h>
#include <zlib.h>
#include "bp_sampler.h"

/// CPUID leaf/subleaf registers; returns 0 when the leaf is not supported.
int bp_cpuid(unsigned leaf, unsigned subleaf, unsigned *eax, unsigned *ebx, unsigned *ecx, unsigned *edx);
/// SIGTERM/SIGINT handlers that record the first signal (a second one exits with 128 + signal).
void bp_install_stop_handlers(void);
/// The recorded stop signal, 0 if none.
int bp_stop_signal(void);

/// XGETBV(0): which register states the OS saves (bit 1-2 SSE/AVX, 5-7 AVX-512).
uint64_t bp_xgetbv0(void);
/// Number of CPUs in this process's affinity mask (sched_getaffinity); 0 if unknown.
int bp_affinity_cpu_count(void);

// Elementwise kernels (elementwise.c), vectorised; n is the element count.
/// y = max(x, 0) (0 for NaN).
void bp_relu_forward(const float *x, float *y, size_t n);
/// dx = y > 0 ? dy : 0.
void bp_relu_backward(const float *y, const float *dy, float *dx, size_t n);
/// y = max(a + b, 0).
void bp_add_relu(const float *a, const float *b, float *y, size_t n);
/// y += x.
void bp_add_inplace(float *y, const float *x, size_t n);
/// y = a + b.
void bp_add(const float *a, const float *b, float *y, size_t n);
/// Σ x (float lanes, double block sums).
double bp_sum(const float *x, size_t n);
/// Σ (x − m)².
double bp_sum_sq_dev(const float *x, size_t n, float m);
/// y = a·x + b.
void bp_scale_shift(const float *x, float *y, size_t n, float a, float b);
/// Σ dy and Σ dy·(x − m).
void bp_bn_backward_sums(const float *x, const float *dy, size_t n, float m, double *sum_dy, double *sum_dy_xc);
/// dx = k·(dy − mean_dy − x̂·mean_dy_xhat) with x̂ = (x − m)·inv.
void bp_bn_backward_dx(const float *x, const float *dy, float *dx, size_t n, float m, float inv, float k,
                       float mean_dy, float mean_dy_xhat);
/// 2×2 max pooling with stride 2 over `planes` planes of h×w (outputs oh×ow); argmax holds plane-relative
/// input indices.
void bp_maxpool2x2_forward(const float *x, float *y, int32_t *argmax, size_t planes, int h, int w, int oh, int ow);

// The channel-blocked layout [B][C/k][P][k] (k = 8 or 16, C a multiple of k; elementwise.c), over
// examples [b0, b1). Per-example channel sums go to out[b·C + c].
/// out[b·C + c] = Σ_p x (mean NULL) or Σ_p (x − mean[c])².
void bp_blk_channel_sums(const float *x, size_t C, size_t P, size_t k, size_t b0, size_t b1, const float *mean,
                         double *out);
/// y = x·scale[c] + shift[c], then max(·, 0) when relu.
void bp_blk_scale_shift(const float *x, float *y, size_t C, size_t P, size_t k, size_t b0, size_t b1,
                        const float *scale, const float *shift, int relu);
/// Per example: Σ g and Σ g·(x − mean[c]) with g = dy, or (y > 0 ? dy : 0) when y is given (a fused ReLU).
void bp_blk_bn_backward_sums(const float *x, const float *dy, const float *y, size_t C, size_t P, size_t k,
                             size_t b0, size_t b1, const float *mean, double *sum_dy, double *sum_dyxc);
/// dx = kcoef[c]·(g − mean_dy[c] − x̂·mean_dy_xhat[c]), x̂ = (x − mean[c])·inv[c], g as above.
void bp_blk_bn_backward_dx(const float *x, const float *dy, const float *y, float *dx, size_t C, size_t P, size_t k,
                           size_t b0, size_t b1, const float *mean, const float *inv, const float *kcoef,
                           const float *mean_dy, const float *mean_dy_xhat);
/// y = max(main + shortcut, 0): output channel c adds input channel source[c] (−1: nothing) subsampled by
/// stride; main and y are [B][C/k][H·W][k], x is [B][inC/k][inH·inW][k].
void bp_blk_residual_forward(const float *main, const float *x, float *y, const int32_t *source, size_t C,
                             size_t inC, int H, int W, int inH, int inW, int stride, size_t k, size_t b0, size_t b1);
/// d[input channel source[c]] += ds[c] at the subsampled positions (the shortcut's adjoint; d is in place).
void bp_blk_residual_backward(float *d, const float *ds, const int32_t *source, size_t C, size_t inC, int H, int W,
                              int inH, int inW, int stride, size_t k, size_t b0, size_t b1);
/// Global average pooling of x [B][C/k][P][k] into y [C, B], and its adjoint (dx SET).
void bp_blk_global_avgpool_forward(const float *x, float *y, size_t B, size_t C, size_t P, size_t k);
void bp_blk_global_avgpool_backward(const float *dy, float *dx, size_t B, size_t C, size_t P, size_t k);

/// libFuzzer's driver (linked only into the fuzz build, `-sanitize=fuzzer`): runs the fuzzing loop with
/// `callback` as the target, taking libFuzzer's own command-line options from argc/argv.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
