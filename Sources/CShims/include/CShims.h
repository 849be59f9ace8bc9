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
/// XGETBV(0): which register states the OS saves (bit 1-2 SSE/AVX, 5-7 AVX-512).
uint64_t bp_xgetbv0(void);
/// Number of CPUs in this process's affinity mask (sched_getaffinity); 0 if unknown.
int bp_affinity_cpu_count(void);

#endif
