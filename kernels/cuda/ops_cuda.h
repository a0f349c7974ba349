/* Internal to the CUDA op table (ops_cuda.cu, attention.cu): the backend state and the
 * attention entry points. Activations are bf16; weights bf16 in device memory; biases,
 * RoPE inv_freq and ids/positions are device pointers as well (teacher/backend.c
 * uploads a model so). */
#ifndef R1D_OPS_CUDA_INTERNAL_H
#define R1D_OPS_CUDA_INTERNAL_H

#include <cublasLt.h>

#include "kernels/cuda/cuda_check.h" /* first: it defines R1D_CUDA */
#include "kernels/cuda.h"

extern "C" {
#include "kernels/cuda_plan.h"
#include "kernels/ops.h"
}

/* A cuBLASLt GEMM shape with its descriptors and chosen algorithm, reused across calls
 * (creating them and asking the heuristic costs tens of microseconds per call). */
struct gemm_entry {
    int64_t T, OC, C;
    int bias;                   /* 1: bias epilogue in f32 */
    int bias_fused;             /* 0: the heuristic refused the bias epilogue, bias added by a kernel */
    uint32_t align;             /* smallest operand alignment (bytes, <= 256) the algorithm may assume */
    int lt_ok;                  /* 0: cuBLASLt offered no algorithm, cublasGemmEx runs it */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, d;
    cublasLtMatmulAlgo_t algo;
};

#define GEMM_CACHE 48
#define PLAN_HEADER_WORDS 16   /* cplan_attn_t copied to the front of the device plan */

struct cuda_ops {
    int device, sm_count, smem_optin;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    cublasHandle_t blas;        /* cublasGemmEx for shapes cuBLASLt has no algorithm for */
    void *lt_ws;
    size_t lt_ws_bytes;
    gemm_entry gemm[GEMM_CACHE];
    int n_gemm, gemm_next;
    /* attention plan: host build, last uploaded copy, device copy (header + words) */
    int32_t *plan_h, *plan_prev;
    size_t plan_cap, prev_words;
    int32_t *plan_d;
    size_t plan_d_cap;
    cplan_attn_t plan;
    int32_t ctx_hint;
    int capturing;
    uint64_t scratch_gen;       /* bumped when a scratch buffer moves: captured graphs hold the old address */
    float *part;                /* split-K partials */
    size_t part_cap;            /* floats */
    void *sample_buf;           /* sort scratch, row parameters, chosen ids */
    size_t sample_cap;
};

static inline cuda_ops *cuda_state(ops_t *o) { return (cuda_ops *)o->impl; }

/* Grow-only device buffer (synchronises first: earlier kernels may still read the old one). */
r1d_status cuda_ops_grow(cuda_ops *s, void **buf, size_t *cap, size_t bytes, err_t *e);

/* Plans and uploads the attention step of seqs unless the same plan is already on the device. */
r1d_status cuda_attn_plan(ops_t *o, const ops_kv_t *kv, const ops_attn_seq_t *seqs, int B, err_t *e);
r1d_status cuda_kv_store(ops_t *o, ops_kv_t *kv, const void *k, const void *v, const ops_attn_seq_t *seqs, int B,
                         err_t *e);
r1d_status cuda_attention(ops_t *o, void *out, const void *q, const ops_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                          int H, float scale, err_t *e);

/* Checks the launch that was just made. */
#define LAUNCH_CHECK(e, what)                                                                        \
    do {                                                                                             \
        cudaError_t r1d_lrc_ = cudaGetLastError();                                                   \
        if (r1d_lrc_ != cudaSuccess)                                                                 \
            return ERR((e), R1D_EDEVICE, "CUDA kernel %s: %s: %s", (what), cudaGetErrorName(r1d_lrc_), \
                       cudaGetErrorString(r1d_lrc_));                                                \
    } while (0)

#endif
