// A small C API over oneDNN (libdnnl) convolutions for BayesPrune's channel-major batch layout
// [C, N, H, W] (oneDNN dims (N, C, H, W) with tag `bacd`) and weights [O, C, kh, kw] (`oihw`).
// Swift imports this header as the module `CDNNL`.
#ifndef BAYESPRUNE_CDNNL_H
#define BAYESPRUNE_CDNNL_H

#include <stddef.h>

typedef struct bp_conv bp_conv;

/// Creates forward (training), backward-data and backward-weights primitives for one geometry and
/// batch size N; primitives pick their preferred (blocked) formats and reorders are set up once.
/// Returns NULL if oneDNN cannot build them (the caller falls back to im2col + GEMM).
/// src_block / dst_block: the caller's layout of x and dx / y and dy: 0 for [C, N, H, W], 8 or 16 for the
/// channel-blocked [N][C/k][H][W][k] (`aBcd8b`, `aBcd16b`; C a multiple of k). When it is the primitive's
/// own format no reorder runs.
bp_conv *bp_conv_create(int N, int C, int H, int W, int O, int k, int stride, int pad, int has_bias, int src_block,
                        int dst_block);
void bp_conv_destroy(bp_conv *h);
/// y[O, N, OH, OW] = conv(x[C, N, H, W], w[O, C, k, k]) + bias. Returns 0 on success.
/// Keeps the reordered w, and with `training` the reordered x, for the following backward call.
/// Activation-sized temporaries live in one process-wide arena; calls are serialised by a lock.
int bp_conv_forward(bp_conv *h, const float *x, const float *w, const float *bias, float *y, int training);
/// Backward after forward on the same x and w: dw += dL/dw, db += dL/db (db may be NULL when the
/// convolution has no bias), dx = dL/dx (SET; skipped when dx is NULL). Returns 0 on success.
/// (After a forward with training = 0, x is reordered again.)
int bp_conv_backward(bp_conv *h, const float *x, const float *dy, const float *w,
                     float *dx, float *dw, float *db);
/// Sets the OpenMP thread count oneDNN uses (no-op when OpenMP is not loaded).
void bp_dnnl_set_threads(int n);
/// The channel block of the activation format oneDNN's convolutions choose on this CPU (16 with AVX-512,
/// 8 with AVX2), 0 if oneDNN is unavailable or picks a format that is not channel-blocked.
int bp_dnnl_preferred_block(void);
/// Runs fn(ctx, part) for part in 0..<n on oneDNN's OpenMP threads (the calling thread is one of them), so
/// the element-wise layers share the convolutions' thread pool; returns 0 (nothing run) without OpenMP.
int bp_omp_run(int n, void (*fn)(void *ctx, int part), void *ctx);
/// oneDNN version as major*10000 + minor*100 + patch, 0 if unavailable.
int bp_dnnl_version(void);

#endif
