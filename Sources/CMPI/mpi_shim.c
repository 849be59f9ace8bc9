// OpenMPI wrappers with timeouts and arrival tracking (see CMPI.h). Rank 0 learns which ranks entered
// each collective from a tagged point-to-point "arrival" message that every other rank posts first;
// when a collective does not finish in time rank 0 names the missing ranks, and the other ranks wait a
// little longer so that rank 0's message is the one the user sees.
#include "CMPI.h"
#include <mpi/mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ARRIVAL_TAG 7301
#define RING 256

static double timeout_seconds = 300.0;
static int world_rank = 0, world_size = 1;
static long long sequence = 0;                 // collectives started by this rank
static long long *arrived = NULL;               // rank 0: highest sequence each rank announced
static long long arrival_ring[RING];            // send buffers for announcements (MPI_Isend needs them alive)
static int oversubscribed = 0;                  // more ranks on this node than cores: never spin

int bp_mpi_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL || getenv("PMI_RANK") != NULL;
}

int bp_mpi_init(int *rank, int *size) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return rc;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_rank == 0) arrived = calloc((size_t)world_size, sizeof(long long));
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    // BAYESPRUNE_MPI_YIELD=1/0 overrides the guess (ranks in network namespaces each see a node of their own).
    const char *yield = getenv("BAYESPRUNE_MPI_YIELD");
    oversubscribed = yield != NULL ? atoi(yield) != 0 : local != NULL && cores > 0 && atol(local) > cores;
    *rank = world_rank;
    *size = world_size;
    return 0;
}

void bp_mpi_finalize(void) { MPI_Finalize(); }
void bp_mpi_abort(int code) { fflush(stdout); fflush(stderr); MPI_Abort(MPI_COMM_WORLD, code); }
void bp_mpi_set_timeout(double seconds) { timeout_seconds = seconds; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void drain_arrivals(void) {
    int flag = 1;
    while (flag) {
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, ARRIVAL_TAG, MPI_COMM_WORLD, &flag, &st);
        if (!flag) break;
        long long seq;
        MPI_Recv(&seq, 1, MPI_LONG_LONG, st.MPI_SOURCE, ARRIVAL_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (seq > arrived[st.MPI_SOURCE]) arrived[st.MPI_SOURCE] = seq;
    }
}

static void announce(long long seq) {
    if (world_rank == 0 || world_size == 1) return;
    MPI_Request r;
    long long *slot = &arrival_ring[seq % RING];
    *slot = seq;
    MPI_Isend(slot, 1, MPI_LONG_LONG, 0, ARRIVAL_TAG, MPI_COMM_WORLD, &r);
    MPI_Request_free(&r);
}

/// Polls `req` until it completes or the timeout passes; on a timeout aborts the job.
static int wait_for(MPI_Request *req, long long seq, const char *what) {
    double start = now();
    // Non-root ranks give rank 0 a head start so its message (which names the ranks) comes first.
    double limit = timeout_seconds + (world_rank == 0 ? 0.0 : 5.0);
    for (;;) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            fprintf(stderr, "bayesprune: rank %d: MPI error %d in %s (collective %lld)\n", world_rank, rc, what, seq);
            bp_mpi_abort(3);
            return rc;
        }
        if (done) return 0;
        if (world_rank == 0) drain_arrivals();
        if (now() - start > limit) {
            if (world_rank == 0) {
                drain_arrivals();
                char missing[1024] = "";
                size_t len = 0;
                int count = 0;
                for (int r = 1; r < world_size; r++) {
                    if (arrived[r] < seq && len < sizeof(missing) - 16) {
                        len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%d", count ? ", " : "", r);
                        count++;
                    }
                }
                fprintf(stderr,
                        "bayesprune: %s (collective %lld) did not complete within %.0f s: rank%s %s did not arrive; "
                        "aborting the job\n",
                        what, seq, timeout_seconds, count == 1 ? "" : "s",
                        count ? missing : "(none missing: a rank is stuck inside MPI)");
            } else {
                fprintf(stderr,
                        "bayesprune: rank %d: %s (collective %lld) did not complete within %.0f s; aborting the job\n",
                        world_rank, what, seq, limit);
            }
            bp_mpi_abort(4);
            return -1;
        }
        // MPI progresses only inside its calls: poll tightly at first, then yield the core now and then. Ranks
        // sharing cores sleep between polls at once: a spinning rank would hold the core the rank it waits for
        // needs (4 ranks on 2 cores: a 4 KB sum over TCP took 9 ms spinning, see docs/SCALING.md).
        if (oversubscribed) usleep(20);
        else if (now() - start > 0.05) usleep(100);
    }
}

static long long begin(void) {
    long long seq = ++sequence;
    announce(seq);
    return seq;
}

// Sums are never run in place: Open MPI 4.1's libnbc answers MPI_IN_PLACE with its binomial algorithm
// (reduce to rank 0, then broadcast: 2·log2(p) rounds each moving the whole buffer), while a separate send
// buffer lets it pick reduce-scatter + allgather for 4 or more ranks and 64 KB or more (2·log2(p) rounds
// moving 2(p−1)/p of the buffer in all), measured in docs/SCALING.md. The copy costs one memcpy per sum,
// and the staging buffers (kept for reuse) one more copy of the gradient per rank.
typedef struct { void *bytes; size_t capacity; } staging_t;

static char empty_send;  // the send buffer of an empty sum

static void *staged(staging_t *s, const void *buffer, size_t bytes) {
    if (bytes == 0) return &empty_send;
    if (s->capacity < bytes) {
        void *grown = realloc(s->bytes, bytes);
        if (grown == NULL) return NULL;
        s->bytes = grown;
        s->capacity = bytes;
    }
    memcpy(s->bytes, buffer, bytes);
    return s->bytes;
}

static staging_t blocking_staging;

static int allreduce_sum(void *buffer, size_t count, MPI_Datatype type, size_t size, const char *what) {
    if (world_size == 1) return 0;
    void *send = staged(&blocking_staging, buffer, count * size);
    if (send == NULL) return MPI_ERR_NO_MEM;
    long long seq = begin();
    MPI_Request req;
    int rc = MPI_Iallreduce(send, buffer, (int)count, type, MPI_SUM, MPI_COMM_WORLD, &req);
    return rc != MPI_SUCCESS ? rc : wait_for(&req, seq, what);
}

int bp_mpi_allreduce_sum_float(float *buffer, size_t count, const char *what) {
    return allreduce_sum(buffer, count, MPI_FLOAT, sizeof(float), what);
}

int bp_mpi_allreduce_sum_double(double *buffer, size_t count, const char *what) {
    return allreduce_sum(buffer, count, MPI_DOUBLE, sizeof(double), what);
}

// Started, not yet waited-for collectives (bucketed gradient sums overlapping the backward pass).
static MPI_Request pending[BP_MPI_MAX_PENDING];
static long long pending_seq[BP_MPI_MAX_PENDING];
static int pending_done[BP_MPI_MAX_PENDING];
static int pending_count = 0;
static staging_t pending_staging[BP_MPI_MAX_PENDING];

int bp_mpi_start_allreduce_sum_float(float *buffer, size_t count, const char *what) {
    if (world_size == 1) return 0;
    if (pending_count == BP_MPI_MAX_PENDING) {
        int rc = bp_mpi_wait_pending(what);
        if (rc != 0) return rc;
    }
    // Each pending sum keeps its own send copy until it completes.
    void *send = staged(&pending_staging[pending_count], buffer, count * sizeof(float));
    if (send == NULL) return MPI_ERR_NO_MEM;
    long long seq = begin();
    int rc = MPI_Iallreduce(send, buffer, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                            &pending[pending_count]);
    if (rc != MPI_SUCCESS) return rc;
    pending_seq[pending_count] = seq;
    pending_done[pending_count] = 0;
    pending_count++;
    return 0;
}

int bp_mpi_progress(void) {
    int completed = 0;
    for (int i = 0; i < pending_count; i++) {
        if (!pending_done[i]) {
            int done = 0;
            if (MPI_Test(&pending[i], &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return completed;
            pending_done[i] = done;
        }
        completed += pending_done[i];
    }
    return completed;
}

int bp_mpi_pending(void) { return pending_count; }

int bp_mpi_wait_pending(const char *what) {
    for (int i = 0; i < pending_count; i++) {
        if (pending_done[i]) continue;
        int rc = wait_for(&pending[i], pending_seq[i], what);
        if (rc != 0) return rc;
    }
    pending_count = 0;
    return 0;
}

int bp_mpi_broadcast(void *buffer, size_t bytes, int root, const char *what) {
    if (world_size == 1) return 0;
    long long seq = begin();
    MPI_Request req;
    int rc = MPI_Ibcast(buffer, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD, &req);
    return rc != MPI_SUCCESS ? rc : wait_for(&req, seq, what);
}

int bp_mpi_allgather(const void *value, size_t bytes, void *out, const char *what) {
    if (world_size == 1) { memcpy(out, value, bytes); return 0; }
    long long seq = begin();
    MPI_Request req;
    int rc = MPI_Iallgather(value, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, MPI_COMM_WORLD, &req);
    return rc != MPI_SUCCESS ? rc : wait_for(&req, seq, what);
}
