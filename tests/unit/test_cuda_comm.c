/* The NCCL backend of core/comm.h as one rank without mpirun (one GPU): every collective on
 * device buffers gives the single-process result, bf16 means round once, chunked calls equal
 * whole ones, and the front end's argument checks still apply. Without a GPU, opening it is
 * one clear error. (Several ranks need several GPUs: mpirun -np 2 on such a machine runs the
 * same calls through the MPI id exchange.) */
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "kernels/cuda.h"
#include "test.h"

#ifdef R1D_CUDA

static int have_device(void) {
    err_t e;
    int n = 0;
    return cuda_device_count(&n, &e) == R1D_OK && n > 0;
}

static void test_no_device(void) {
    if (have_device()) SKIP("a CUDA device is present: the no-device error cannot be seen here");
    comm_t *c = NULL;
    err_t e;
    CHECK_ERR(comm_nccl_init(&c, -1, NULL, &e), &e, "comm backend nccl: this machine has no CUDA device");
    CHECK(c == NULL);
}

static void *dev(const void *host, size_t bytes) {
    err_t e;
    void *d = NULL;
    CHECK_OK(cuda_alloc(&d, bytes, &e), &e);
    if (d && host) CHECK_OK(cuda_upload(d, host, bytes, &e), &e);
    return d;
}

static void get(void *host, const void *d, size_t bytes) {
    err_t e;
    CHECK_OK(cuda_download(host, d, bytes, &e), &e);
}

static void test_single_rank(void) {
    if (!have_device()) SKIP("no CUDA device");
    comm_t *c = NULL;
    err_t e;
    CHECK_OK(comm_nccl_init(&c, -1, NULL, &e), &e);
    if (!c) return;
    CHECK_STR(comm_backend(c), "nccl");
    CHECK_EQ_INT(comm_rank(c), 0);
    CHECK_EQ_INT(comm_size(c), 1);
    enum { N = 1003 };
    float f[N], back[N];
    uint16_t h[N], hb[N];
    int64_t l[N], lb[N];
    for (int i = 0; i < N; i++) {
        f[i] = (float)i * 0.37f - 100.0f;
        h[i] = dt_f32_to_bf16(f[i] * 1.001f);
        l[i] = (int64_t)i * 1000003 - 7;
    }
    void *df = dev(f, sizeof f), *dh = dev(h, sizeof h), *dl = dev(l, sizeof l), *dr = dev(NULL, sizeof f);
    CHECK_OK(cuda_sync(&e), &e); /* the uploads ran on the default stream, NCCL runs on its own */
    /* one rank: sum, mean and max are the identity; chunked calls too */
    for (int chunk = 0; chunk < 2; chunk++) {
        comm_set_max_chunk(c, chunk ? 7 : 0);
        CHECK_OK(comm_allreduce(c, df, N, DT_F32, COMM_MEAN, &e), &e);
        CHECK_OK(comm_allreduce(c, dh, N, DT_BF16, COMM_SUM, &e), &e);
        CHECK_OK(comm_allreduce(c, dh, N, DT_BF16, COMM_MEAN, &e), &e);
        CHECK_OK(comm_allreduce(c, dh, N, DT_BF16, COMM_MAX, &e), &e);
        CHECK_OK(comm_allreduce(c, dl, N, DT_I64, COMM_SUM, &e), &e);
        CHECK_OK(comm_broadcast(c, df, N, DT_F32, 0, &e), &e);
        /* in place: this rank's shard is the whole buffer */
        CHECK_OK(comm_allgather(c, dh, dh, N, DT_BF16, &e), &e);
        CHECK_OK(comm_reduce_scatter(c, df, dr, N, DT_F32, COMM_SUM, &e), &e);
        CHECK_OK(comm_barrier(c, &e), &e);
        get(back, df, sizeof back);
        CHECK(memcmp(back, f, sizeof f) == 0);
        get(back, dr, sizeof back);
        CHECK(memcmp(back, f, sizeof f) == 0);
        get(hb, dh, sizeof hb);
        CHECK(memcmp(hb, h, sizeof h) == 0);
        get(lb, dl, sizeof lb);
        CHECK(memcmp(lb, l, sizeof l) == 0);
    }
    /* bf16 reduce-scatter goes through f32 staging and comes back bit-exact for one rank */
    CHECK_OK(comm_reduce_scatter(c, dh, dr, N, DT_BF16, COMM_MEAN, &e), &e);
    get(hb, dr, sizeof hb);
    CHECK(memcmp(hb, h, sizeof h) == 0);
    /* the front end's checks hold for this backend */
    CHECK_ERR(comm_allreduce(c, dl, N, DT_I64, COMM_MEAN, &e), &e, "mean of I64");
    CHECK_ERR(comm_broadcast(c, df, N, DT_F32, 1, &e), &e, "root 1 out of range");
    cuda_free(df), cuda_free(dh), cuda_free(dl), cuda_free(dr);
    comm_free(c);
}

int main(void) {
    RUN(test_no_device);
    RUN(test_single_rank);
    return test_summary("test_cuda_comm");
}

#else

static void test_cuda_comm(void) { SKIP("no CUDA device (built without CUDA)"); }

int main(void) {
    RUN(test_cuda_comm);
    return test_summary("test_cuda_comm");
}

#endif
