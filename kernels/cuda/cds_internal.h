/* Shared by the DeepSeek .cu files (kernels/cuda_deepseek.h's device half): the context,
 * bf16 helpers, cuBLASLt checks, the launch check. */
#ifndef R1D_CDS_INTERNAL_H
#define R1D_CDS_INTERNAL_H

#include <cublasLt.h>
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.h" /* first: it defines R1D_CUDA */
#include "kernels/cuda_deepseek.h"

#define CDS_LT_CACHE 64
#define CDS_WORKSPACE (32u << 20)

/* cuBLASLt's answer for one (kind, M, N, K): kind 0 block-scaled FP8, 1 bf16 -> bf16, 2 bf16 -> f32. */
typedef struct cds_lt_entry {
    int kind;
    int64_t M, N, K;
    int ok;                 /* 0: cuBLASLt refused (FP8: fallback taken) */
    int logged;             /* the refusal was logged */
    cublasLtMatmulAlgo_t algo;
} cds_lt_entry_t;

struct cds {
    cudaStream_t stream;
    cublasLtHandle_t lt;
    cublasHandle_t blas;
    void *workspace;        /* CDS_WORKSPACE bytes */
    void *scratch;
    size_t scratch_bytes;
    cds_lt_entry_t cache[CDS_LT_CACHE];
    int n_cache, next_evict;
    int sm_count;
    int64_t fallbacks;
};

#define CUBLASLT_CHECK(e, call)                                                              \
    do {                                                                                     \
        cublasStatus_t r1d_rc_ = (call);                                                     \
        if (r1d_rc_ != CUBLAS_STATUS_SUCCESS)                                                \
            return ERR((e), R1D_EDEVICE, "%s: %s: %s", #call, cublasGetStatusName(r1d_rc_),  \
                       cublasGetStatusString(r1d_rc_));                                      \
    } while (0)

/* After a launch: the launch error, named by the kernel. */
#define CDS_LAUNCHED(e, what)                                                                \
    do {                                                                                     \
        cudaError_t r1d_rc_ = cudaGetLastError();                                            \
        if (r1d_rc_ != cudaSuccess)                                                          \
            return ERR((e), R1D_EDEVICE, "%s: %s: %s", (what), cudaGetErrorName(r1d_rc_),    \
                       cudaGetErrorString(r1d_rc_));                                         \
    } while (0)

/* Device scratch of at least `bytes` (contents undefined; grows by reallocating, which
 * synchronises the device, so engines reserve at load time). */
r1d_status cds_scratch(cds_t *c, size_t bytes, void **out, err_t *e);

__device__ __forceinline__ float cds_bf16_f32(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
/* Round to nearest even, NaN kept quiet (core/dtype.h's dt_f32_to_bf16). */
__device__ __forceinline__ uint16_t cds_f32_bf16(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((u >> 16) & 0x8000u) | 0x7fc0u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline unsigned cds_blocks(int64_t n, unsigned threads, int64_t cap = 65535) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    return (unsigned)(b < cap ? b : cap);
}

#endif
