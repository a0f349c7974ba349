/* MPI helpers for code that talks to MPI directly (the MPI comm backend, the
 * NCCL backend's unique-id broadcast): an error-checking macro and the
 * communicator behind a comm_t. */
#ifndef R1D_COMM_MPI_H
#define R1D_COMM_MPI_H

#include <mpi.h>

#include "comm.h"

/* Runs an MPI call; on failure returns R1D_ECOMM with the call, MPI's error
 * string and the C file:line (MPI failures are r1d bugs or a broken job, so
 * the code location belongs in the message). The communicator must use
 * MPI_ERRORS_RETURN for errors to reach this check instead of aborting. */
/* Open MPI keeps what MPI_Init allocates until exit and unloads its plugins: LeakSanitizer
 * suppressions (for __lsan_default_suppressions) naming its libraries, so that under
 * make asan-test only r1d's own leaks are reported. Full stacks are needed for the
 * library names to show: ASAN_OPTIONS=fast_unwind_on_malloc=0. */
#define COMM_MPI_LSAN_SUPPRESSIONS                                                                   \
    "leak:MPI_Init_thread\nleak:MPI_Finalize\nleak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\n" \
    "leak:libpmix.so\nleak:libevent\nleak:libhwloc.so\n"

#define MPI_CHECK(e, call)                                                                  \
    do {                                                                                    \
        int _mrc = (call);                                                                  \
        if (_mrc != MPI_SUCCESS) {                                                          \
            char _mstr[MPI_MAX_ERROR_STRING] = "";                                          \
            int _mlen = 0;                                                                  \
            MPI_Error_string(_mrc, _mstr, &_mlen);                                          \
            return ERR((e), R1D_ECOMM, "%s failed: %s (%s:%d)", #call, _mstr, __FILE__,     \
                       __LINE__);                                                           \
        }                                                                                   \
    } while (0)

/* 1 when mpirun/srun started this process (OMPI_COMM_WORLD_SIZE, PMIX_RANK,
 * PMI_SIZE or PMI_RANK is set). Needs no MPI call. */
int comm_mpi_launched(void);
/* The MPI communicator of an "mpi" comm (a duplicate of MPI_COMM_WORLD with
 * MPI_ERRORS_RETURN); MPI_COMM_NULL for other backends. */
MPI_Comm comm_mpi_handle(const comm_t *c);

#endif
