#!/bin/sh
# The GPU half of the CUDA backend's checks, in two steps, because the GPU machine's image has
# CUDA but not r1d's Debian libraries (jansson, OpenBLAS, MPI, ...):
#   bench/cuda_device.sh pack   on the build machine: builds the CUDA tests and bench_cuda, and
#                               copies them with the shared libraries they need (all but glibc
#                               and CUDA's own) into build-gpu/ (git-ignored)
#   bench/cuda_device.sh run    on the GPU machine, from the repository root, with build-gpu/
#                               carried along: every CUDA test, the op tests again under
#                               compute-sanitizer memcheck, then bench_cuda with and without
#                               CUDA graphs. Logs go to $OUT when it is set.
set -eu
PACK=${PACK:-build-gpu}
TESTS="test_cuda test_cuda_plan test_cuda_ops test_cuda_comm test_cuda_e2e"

case "${1:-}" in
pack)
    B=${BUILD:-/tmp/r1d-gpu-build}
    targets=""
    for t in $TESTS; do targets="$targets $B/tests/$t"; done
    make BUILD="$B" BINDIR="$B/bin" -j"$(nproc)" $targets "$B/bench/bench_cuda"
    rm -rf "$PACK" && mkdir -p "$PACK/lib"
    for t in $TESTS; do strip --strip-debug -o "$PACK/$t" "$B/tests/$t"; done
    strip --strip-debug -o "$PACK/bench_cuda" "$B/bench/bench_cuda"
    # glibc and the compiler's runtime (libstdc++, libgcc_s, libgomp) come from the GPU machine,
    # newer there, and so do CUDA's libraries: only r1d's Debian libraries travel, so that the
    # tools run beside them (compute-sanitizer) keep their own runtime
    ldd "$PACK/test_cuda_e2e" "$PACK/bench_cuda" | awk '/=> \// {print $3}' | sort -u |
        grep -v -e '/libc\.so' -e '/libm\.so' -e '/libdl\.so' -e '/libpthread\.so' -e '/librt\.so' \
                -e '/ld-linux' -e '/libstdc++' -e '/libgcc_s' -e '/libgomp' -e '/libz\.so' -e '/libudev' \
                -e '/usr/local/cuda/' |
        while read -r lib; do cp -L "$lib" "$PACK/lib/"; done
    du -sh "$PACK"
    ;;
run)
    OUT=${OUT:-/tmp/r1d-gpu-out}
    mkdir -p "$OUT"
    LD_LIBRARY_PATH="$PWD/$PACK/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # NCCL may live in the Python packages rather than the toolkit on the GPU image
    if [ ! -e /usr/local/cuda/lib64/libnccl.so.2 ]; then
        nccl=$(find / -name libnccl.so.2 -path '*nvidia*' 2>/dev/null | head -1)
        [ -n "$nccl" ] && LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$nccl")"
    fi
    export LD_LIBRARY_PATH
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
    status=0
    for t in $TESTS; do "$PACK/$t" 2>&1 | tee -a "$OUT/tests.log" || status=1; done
    cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    timeout 420 "$cs" --tool memcheck --leak-check no --error-exitcode 9 "$PACK/test_cuda_ops" \
        > "$OUT/memcheck.log" 2>&1 || status=1
    tail -3 "$OUT/memcheck.log"
    "$PACK/bench_cuda" --cuda-graphs 2>&1 | tee "$OUT/bench.md" || status=1
    exit $status
    ;;
*)
    echo "usage: bench/cuda_device.sh pack|run" >&2
    exit 2
    ;;
esac
