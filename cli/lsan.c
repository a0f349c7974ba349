/* LeakSanitizer hooks of the r1d binary, called only in sanitized builds (make asan-test).
 * Open MPI keeps what MPI_Init allocates until exit and unloads its plugins, so only full
 * stacks show who allocated (ASAN_OPTIONS=fast_unwind_on_malloc=0, which tests set for their
 * mpirun runs): those reports are Open MPI's, not r1d's (the test_mpi_* binaries carry the same
 * list, tests/unit/test_mpi_lsan.h). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

const char *__lsan_default_options(void) { return "print_suppressions=0"; }
const char *__lsan_default_suppressions(void) {
    return "leak:MPI_Init_thread\nleak:MPI_Finalize\nleak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\n"
           "leak:libpmix.so\nleak:libevent\nleak:libhwloc.so\n";
}
