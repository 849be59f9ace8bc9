// A small C surface over OpenMPI for Swift, which cannot import MPI's handle macros (MPI_COMM_WORLD,
// MPI_FLOAT, MPI_SUM). Only plain types cross it. Every collective is non-blocking
// underneath and waits with a timeout; on a timeout the job is aborted with a message that names the
// ranks that never arrived (rank 0 tracks arrivals through small point-to-point messages).
#ifndef BAYESPRUNE_CMPI_H
#define BAYESPRUNE_CMPI_H
#include <stddef.h>
#include <stdint.h>

/// 1 when this process was started by an MPI launcher (mpirun/srun), judged from the environment.
int bp_mpi_launched(void);
/// MPI_Init_thread (funneled); returns 0 and sets rank/size, or an MPI error code.
int bp_mpi_init(int *rank, int *size);
void bp_mpi_finalize(void);
/// MPI_Abort on the world communicator.
void bp_mpi_abort(int code);
/// Seconds to wait in any collective before aborting the job (default 300).
void bp_mpi_set_timeout(double seconds);

/// In-place sum over ranks. Return 0 on success; otherwise the job is being aborted.
int bp_mpi_allreduce_sum_float(float *buffer, size_t count, const char *what);
int bp_mpi_allreduce_sum_double(double *buffer, size_t count, const char *what);
/// Starts a float sum over ranks into the buffer (the input is copied first) without waiting for it (at most BP_MPI_MAX_PENDING at a time);
/// the buffer must stay untouched until bp_mpi_wait_pending returns. Returns 0, or an MPI error code.
#define BP_MPI_MAX_PENDING 1024
int bp_mpi_start_allreduce_sum_float(float *buffer, size_t count, const char *what);
/// Lets the started collectives progress (MPI moves data only inside its calls); returns how many are done.
int bp_mpi_progress(void);
/// How many collectives have been started and not yet waited for.
int bp_mpi_pending(void);
/// Waits, with the timeout and arrival tracking of the blocking collectives, for every started collective.
int bp_mpi_wait_pending(const char *what);
/// Broadcast `bytes` bytes from `root`.
int bp_mpi_broadcast(void *buffer, size_t bytes, int root, const char *what);
/// Every rank contributes `bytes` bytes; `out` receives size·bytes, rank-major.
int bp_mpi_allgather(const void *value, size_t bytes, void *out, const char *what);
#endif
