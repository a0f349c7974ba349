/* NCCL backend of core/comm.h: the same collectives as the MPI backend on device buffers.
 * Under mpirun/srun the ranks agree on NCCL's unique id through the MPI backend (rank 0
 * creates it and broadcasts it); a plain run is a single rank and never touches MPI.
 * As with MPI, every call returns once the collective is done on this rank.
 * bf16 sums and means go over the wire as f32 (converted on the device) and round once at
 * the end, and a mean divides the f32 sum by the rank count, so results equal the MPI
 * backend's. Built only with the CUDA backend. */
#ifdef R1D_CUDA

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm_impl.h"
#include "core/comm_mpi.h"
#include "kernels/cuda.h"
#include "kernels/cuda/cuda_check.h"

/* f32 staging bound per round (elements): 64 MiB of device memory per buffer. */
#define NCCL_STAGE_ELEMS ((size_t)1 << 24)

typedef struct nccl_impl {
    ncclComm_t comm;
    cudaStream_t stream, own_stream; /* own_stream: created here (stream was NULL) */
    comm_t *mpi;                     /* the bootstrap comm under mpirun, else NULL */
    float *stage, *stage2;           /* grow-only device scratch */
    size_t stage_cap, stage2_cap;    /* elements */
} nccl_impl_t;

static ncclDataType_t raw_type(dtype_t dt) {
    return dt == DT_F32 ? ncclFloat32 : dt == DT_BF16 ? ncclBfloat16 : ncclInt64;
}

static ncclRedOp_t red_op(comm_op_t op) { return op == COMM_MAX ? ncclMax : ncclSum; }

static r1d_status grow(float **p, size_t *cap, size_t n, err_t *e) {
    if (n <= *cap) return R1D_OK;
    cuda_free(*p);
    *p = NULL;
    *cap = 0;
    TRY(cuda_alloc((void **)p, n * sizeof(float), e));
    *cap = n;
    return R1D_OK;
}

static r1d_status finish(nccl_impl_t *m, err_t *e) {
    CUDA_CHECK(e, cudaStreamSynchronize(m->stream));
    return R1D_OK;
}

/* Elements per staged round: the call limit, and the staging bound for bf16. */
static size_t round_elems(const comm_t *c, int staged) {
    size_t r = c->max_chunk;
    if (staged && r > NCCL_STAGE_ELEMS) r = NCCL_STAGE_ELEMS;
    return r ? r : 1;
}

static r1d_status nccl_allreduce(comm_t *c, void *buf, size_t count, dtype_t dt, comm_op_t op, err_t *e) {
    nccl_impl_t *m = c->impl;
    int staged = dt == DT_BF16 && op != COMM_MAX; /* max is exact in bf16 */
    size_t es = dt_size(dt), chunk = round_elems(c, staged);
    if (staged) TRY(grow(&m->stage, &m->stage_cap, count < chunk ? count : chunk, e));
    for (size_t off = 0; off < count; off += chunk) {
        size_t n = count - off < chunk ? count - off : chunk;
        char *p = (char *)buf + off * es;
        if (staged) {
            TRY(cuda_convert_to_f32(m->stage, p, DT_BF16, n, (cuda_stream_t)m->stream, e));
            NCCL_CHECK(e, ncclAllReduce(m->stage, m->stage, n, ncclFloat32, ncclSum, m->comm, m->stream));
            if (op == COMM_MEAN) TRY(cuda_div_f32(m->stage, n, (float)c->size, (cuda_stream_t)m->stream, e));
            TRY(cuda_convert_from_f32(p, DT_BF16, m->stage, n, (cuda_stream_t)m->stream, e));
        } else {
            NCCL_CHECK(e, ncclAllReduce(p, p, n, raw_type(dt), red_op(op), m->comm, m->stream));
            if (op == COMM_MEAN) TRY(cuda_div_f32((float *)p, n, (float)c->size, (cuda_stream_t)m->stream, e));
        }
    }
    return finish(m, e);
}

static r1d_status nccl_broadcast(comm_t *c, void *buf, size_t count, dtype_t dt, int root, err_t *e) {
    nccl_impl_t *m = c->impl;
    size_t es = dt_size(dt);
    for (size_t off = 0; off < count; off += c->max_chunk) {
        size_t n = count - off < c->max_chunk ? count - off : c->max_chunk;
        char *p = (char *)buf + off * es;
        NCCL_CHECK(e, ncclBroadcast(p, p, n, raw_type(dt), root, m->comm, m->stream));
    }
    return finish(m, e);
}

/* Shards differ in size by one, which ncclAllGather cannot express: each rank broadcasts its
 * shard, all in one group, round by round. */
static r1d_status nccl_allgather(comm_t *c, const void *send, void *recv, size_t count, dtype_t dt, err_t *e) {
    nccl_impl_t *m = c->impl;
    size_t es = dt_size(dt), r = round_elems(c, 0), off0, n0;
    comm_shard(count, c->size, 0, &off0, &n0);
    for (size_t lo = 0; lo < n0; lo += r) {
        NCCL_CHECK(e, ncclGroupStart());
        for (int k = 0; k < c->size; k++) {
            size_t off, n;
            comm_shard(count, c->size, k, &off, &n);
            if (n <= lo) continue;
            size_t cnt = n - lo < r ? n - lo : r;
            char *dst = (char *)recv + (off + lo) * es;
            const char *src = k == c->rank ? (const char *)send + lo * es : dst;
            ncclResult_t rc = ncclBroadcast(src, dst, cnt, raw_type(dt), k, m->comm, m->stream);
            if (rc != ncclSuccess) {
                (void)ncclGroupEnd();
                return ERR(e, R1D_EDEVICE, "ncclBroadcast (allgather shard of rank %d): %s (%s)", k,
                           ncclGetErrorString(rc), ncclGetLastError(NULL));
            }
        }
        NCCL_CHECK(e, ncclGroupEnd());
    }
    return finish(m, e);
}

/* Each shard is an ncclReduce to its owner, grouped; bf16 sums travel as f32. */
static r1d_status nccl_reduce_scatter(comm_t *c, const void *send, void *recv, size_t count, dtype_t dt, comm_op_t op,
                                      err_t *e) {
    nccl_impl_t *m = c->impl;
    int staged = dt == DT_BF16 && op != COMM_MAX;
    size_t es = dt_size(dt), r = round_elems(c, staged), off0, n0, my_off, my_n;
    comm_shard(count, c->size, 0, &off0, &n0);
    comm_shard(count, c->size, c->rank, &my_off, &my_n);
    if (staged) {
        TRY(grow(&m->stage, &m->stage_cap, r * (size_t)c->size, e));
        TRY(grow(&m->stage2, &m->stage2_cap, r, e));
    }
    for (size_t lo = 0; lo < n0; lo += r) {
        if (staged) /* this round's piece of every shard, back to back in f32 */
            for (int k = 0; k < c->size; k++) {
                size_t off, n;
                comm_shard(count, c->size, k, &off, &n);
                if (n > lo)
                    TRY(cuda_convert_to_f32(m->stage + (size_t)k * r, (const char *)send + (off + lo) * es, DT_BF16,
                                            n - lo < r ? n - lo : r, (cuda_stream_t)m->stream, e));
            }
        NCCL_CHECK(e, ncclGroupStart());
        for (int k = 0; k < c->size; k++) {
            size_t off, n;
            comm_shard(count, c->size, k, &off, &n);
            if (n <= lo) continue;
            size_t cnt = n - lo < r ? n - lo : r;
            const void *src = staged ? (const void *)(m->stage + (size_t)k * r) : (const char *)send + (off + lo) * es;
            void *dst = staged ? (void *)m->stage2 : (void *)((char *)recv + lo * es);
            ncclResult_t rc = ncclReduce(src, dst, cnt, staged ? ncclFloat32 : raw_type(dt), red_op(op), k, m->comm,
                                         m->stream);
            if (rc != ncclSuccess) {
                (void)ncclGroupEnd();
                return ERR(e, R1D_EDEVICE, "ncclReduce (reduce-scatter shard of rank %d): %s (%s)", k,
                           ncclGetErrorString(rc), ncclGetLastError(NULL));
            }
        }
        NCCL_CHECK(e, ncclGroupEnd());
        if (my_n > lo) {
            size_t cnt = my_n - lo < r ? my_n - lo : r;
            float *acc = staged ? m->stage2 : (float *)((char *)recv + lo * es);
            if (op == COMM_MEAN) TRY(cuda_div_f32(acc, cnt, (float)c->size, (cuda_stream_t)m->stream, e));
            if (staged) TRY(cuda_convert_from_f32((char *)recv + lo * es, DT_BF16, acc, cnt, (cuda_stream_t)m->stream, e));
        }
    }
    return finish(m, e);
}

static r1d_status nccl_barrier(comm_t *c, err_t *e) {
    nccl_impl_t *m = c->impl;
    TRY(grow(&m->stage, &m->stage_cap, 1, e));
    NCCL_CHECK(e, ncclAllReduce(m->stage, m->stage, 1, ncclFloat32, ncclSum, m->comm, m->stream));
    return finish(m, e);
}

static void nccl_free(comm_t *c) {
    nccl_impl_t *m = c->impl;
    if (!m) return;
    if (m->comm) ncclCommDestroy(m->comm);
    cuda_free(m->stage);
    cuda_free(m->stage2);
    if (m->own_stream) cudaStreamDestroy(m->own_stream);
    comm_free(m->mpi);
    free(m);
    c->impl = NULL;
}

static const comm_backend_t nccl_backend = {
    "nccl", nccl_allreduce, nccl_allgather, nccl_reduce_scatter, nccl_broadcast, nccl_barrier, nccl_free,
};

static r1d_status nccl_open(comm_t *c, nccl_impl_t *m, int device, cuda_stream_t stream, err_t *e) {
    int n_dev = 0;
    if (comm_mpi_launched()) {
        TRY(comm_init(&m->mpi, "mpi", e));
        c->rank = comm_rank(m->mpi);
        c->size = comm_size(m->mpi);
    } else {
        c->rank = 0;
        c->size = 1;
    }
    TRY(cuda_device_count(&n_dev, e));
    if (n_dev == 0) return ERR(e, R1D_EDEVICE, "comm backend nccl: this machine has no CUDA device");
    if (device < 0) device = c->rank % n_dev; /* one GPU per rank, ranks of a node in order */
    TRY(cuda_set_device(device, e));
    if (stream) {
        m->stream = (cudaStream_t)stream;
    } else {
        CUDA_CHECK(e, cudaStreamCreateWithFlags(&m->own_stream, cudaStreamNonBlocking));
        m->stream = m->own_stream;
    }
    _Static_assert(sizeof(ncclUniqueId) % sizeof(int64_t) == 0, "the id travels as I64 words");
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (c->rank == 0) NCCL_CHECK(e, ncclGetUniqueId(&id));
    if (m->mpi) TRY(comm_broadcast(m->mpi, &id, sizeof id / sizeof(int64_t), DT_I64, 0, e));
    NCCL_CHECK(e, ncclCommInitRank(&m->comm, c->size, id, c->rank));
    return R1D_OK;
}

r1d_status comm_nccl_init(comm_t **out, int device, cuda_stream_t stream, err_t *e) {
    *out = NULL;
    comm_t *c = calloc(1, sizeof *c);
    nccl_impl_t *m = calloc(1, sizeof *m);
    if (!c || !m) {
        free(c);
        free(m);
        return ERR(e, R1D_ENOMEM, "comm_init: out of memory");
    }
    c->be = &nccl_backend;
    c->impl = m;
    r1d_status st = nccl_open(c, m, device, stream, e);
    if (st != R1D_OK) {
        nccl_free(c);
        free(c);
        return st;
    }
    c->backend_max_chunk = c->max_chunk = SIZE_MAX;
    *out = c;
    return R1D_OK;
}

#endif
