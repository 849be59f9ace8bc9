// Preemption signals: SIGTERM/SIGINT set a flag the training loop polls at every step (a C volatile
// sig_atomic_t, so the compiler re-reads it). Only a second SIGINT (Ctrl-C twice) exits at once: a
// scheduler that signals every process of a job (Slurm) delivers SIGTERM to a rank that launch/mpi's
// SIGUSR1 also reaches, and that rank must still checkpoint.
// SIGUSR1 counts as SIGTERM: mpirun forwards SIGUSR1 to every rank but answers its own SIGTERM by
// killing the ranks, so launch/mpi turns a scheduler's SIGTERM into SIGUSR1 for mpirun.
#include "CShims.h"
#include <signal.h>
#include <unistd.h>
#include <pthread.h>

static volatile sig_atomic_t stop_signal = 0;

static void on_stop(int sig) {
    if (sig == SIGUSR1) sig = SIGTERM;
    if (stop_signal && sig == SIGINT && stop_signal == SIGINT) _exit(128 + sig);
    if (!stop_signal) stop_signal = sig;
}

void bp_install_stop_handlers(void) {
    struct sigaction sa;
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    // A parent that blocked these (some launchers and test runners do) passes the mask on: unblock.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int bp_stop_signal(void) { return stop_signal; }
