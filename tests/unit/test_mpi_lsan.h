/* Included by every test_mpi_* test. */
#ifndef R1D_TEST_MPI_LSAN_H
#define R1D_TEST_MPI_LSAN_H

/* LeakSanitizer hooks (core/comm_mpi.h says why); without sanitizers they are never called. */
#include "core/comm_mpi.h"

const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }
const char *__asan_default_options(void) { return "fast_unwind_on_malloc=0"; }
const char *__lsan_default_suppressions(void) { return COMM_MPI_LSAN_SUPPRESSIONS; }

#endif
