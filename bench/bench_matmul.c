/* CPU matmul with bf16 weights (the batch-invariant kernel of kernels/cpu/matmul.c)
 * against the two physical limits measured in the same run: OpenBLAS sgemm GFLOP/s on
 * f32 weights of the same shape (compute bound, prefill) and the read bandwidth of all
 * cores (bandwidth bound: batch-1 decode reads each weight byte once). The weight is
 * larger than the last-level cache, as a model's are. Usage: bench_matmul [C OC] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/log.h"
#include "kernels/cpu/cpu.h"

/* Read bandwidth: all cores sum a buffer far larger than the caches. */
static double read_gbs(void) {
    size_t n = (size_t)128 << 20; /* floats: 512 MiB */
    float *a = malloc(n * sizeof(float));
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 1e9, sink = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = time_now(), s = 0;
        #pragma omp parallel for simd reduction(+ : s)
        for (size_t i = 0; i < n; i++) s += a[i];
        double dt = time_now() - t0;
        sink += s;
        if (dt < best) best = dt;
    }
    free(a);
    return sink < 0 ? 0 : n * sizeof(float) / best / 1e9;
}

int main(int argc, char **argv) {
    int64_t C = argc > 2 ? atoll(argv[1]) : 896, OC = argc > 2 ? atoll(argv[2]) : 4864;
    err_t e;
    ops_t *o;
    if (ops_cpu_init(&o, &e) != R1D_OK) return fprintf(stderr, "%s\n", e.msg), 1;
    /* copies of the weight, cycled, so that decode reads from memory, not from cache */
    int ncopy = (int)(256e6 / (double)(OC * C * 2)) + 1;
    float *wf = malloc((size_t)(OC * C) * sizeof(float));
    uint16_t *wb = malloc((size_t)(OC * C) * 2 * (size_t)ncopy);
    for (int64_t i = 0; i < OC * C; i++) wf[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (int k = 0; k < ncopy; k++) dt_convert_from_f32(wb + (size_t)k * OC * C, DT_BF16, wf, (size_t)(OC * C));
    int64_t Tmax = 512;
    float *x = malloc((size_t)(Tmax * C) * sizeof(float)), *y = malloc((size_t)(Tmax * OC) * sizeof(float));
    for (int64_t i = 0; i < Tmax * C; i++) x[i] = (float)(i % 17) / 17.0f;
    double gbs = read_gbs();
    printf("weights [%lld x %lld] bf16 (%.1f MB, %d copies cycled); read bandwidth %.2f GB/s\n", (long long)OC,
           (long long)C, OC * C * 2 / 1e6, ncopy, gbs);
    const int64_t Ts[] = {1, 2, 4, 8, 16, 32, 64, 512};
    for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++) {
        int64_t T = Ts[k];
        double best[2] = {1e9, 1e9};
        for (int r = 0; r < 3 * ncopy; r++) {
            ops_weight_t w = {wb + (size_t)(r % ncopy) * OC * C, DT_BF16, OC, C};
            double t0 = time_now();
            o->vt->matmul(o, y, x, &w, NULL, T);
            double t1 = time_now();
            /* sgemm is the compute peer: its f32 weight stays in cache at small T, so it is not the decode one */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)OC, (int)C, 1.0f, x, (int)C, wf,
                            (int)C, 0.0f, y, (int)OC);
            double t2 = time_now();
            if (t1 - t0 < best[0]) best[0] = t1 - t0;
            if (t2 - t1 < best[1]) best[1] = t2 - t1;
        }
        double flop = 2.0 * T * OC * C, bytes = 2.0 * OC * C;
        printf("T=%-4lld bf16 kernel %7.2f GFLOP/s = %5.1f%% of sgemm f32 %7.2f GFLOP/s; weight reads %6.2f GB/s = "
               "%5.1f%% of bandwidth\n",
               (long long)T, flop / best[0] / 1e9, 100.0 * best[1] / best[0], flop / best[1] / 1e9,
               bytes / best[0] / 1e9, 100.0 * bytes / best[0] / 1e9 / gbs);
    }
    ops_free(o);
    free(wf), free(wb), free(x), free(y);
    return 0;
}
