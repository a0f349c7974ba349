/* LeakSanitizer hooks of the r1d binary, called only in sanitized builds (make asan-test):
 * Open MPI's own allocations are not r1d's leaks (core/comm_mpi.h; tests set
 * ASAN_OPTIONS=fast_unwind_on_malloc=0 for their mpirun runs). */
#include "core/comm_mpi.h"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

const char *__lsan_default_options(void) { return "print_suppressions=0"; }
const char *__lsan_default_suppressions(void) { return COMM_MPI_LSAN_SUPPRESSIONS; }
