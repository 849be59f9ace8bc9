// CPUs this process may run on (sched_getaffinity); CPU_COUNT is a macro Swift cannot call.
#define _GNU_SOURCE
#include "CShims.h"
#include <sched.h>

int bp_affinity_cpu_count(void) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return CPU_COUNT(&set);
#else
    return 0;
#endif
}
