// CPUID and XGETBV wrappers: Swift has no intrinsics for them. On non-x86 targets they report
// "no such leaf" / no OS state, so callers compile everywhere and detect nothing.
#include "CShims.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

int bp_cpuid(unsigned leaf, unsigned subleaf, unsigned *eax, unsigned *ebx, unsigned *ecx, unsigned *edx) {
    unsigned maxLeaf = __get_cpuid_max(leaf & 0x80000000u, 0);
    if (maxLeaf < leaf) { *eax = *ebx = *ecx = *edx = 0; return 0; }
    __cpuid_count(leaf, subleaf, *eax, *ebx, *ecx, *edx);
    return 1;
}

uint64_t bp_xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#else
int bp_cpuid(unsigned leaf, unsigned subleaf, unsigned *eax, unsigned *ebx, unsigned *ecx, unsigned *edx) {
    (void)leaf; (void)subleaf;
    *eax = *ebx = *ecx = *edx = 0;
    return 0;
}

uint64_t bp_xgetbv0(void) { return 0; }
#endif
