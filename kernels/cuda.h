/* The CUDA backend's C interface (implemented in the .cu files of kernels/cuda/). It exists only
 * in builds with the CUDA backend, where the Makefile defines R1D_CUDA (nvcc found,
 * CUDA=0 not given); callers guard their use with #ifdef R1D_CUDA as well.
 * Such a build still runs on machines without a GPU or driver: cuda_device_count
 * then reports 0 devices and callers fall back to the CPU backend.
 * Pointers named d_* are device memory. Calls act on the current device
 * (cuda_set_device); errors are R1D_EDEVICE with the CUDA library's message. */
#ifndef R1D_KERNELS_CUDA_H
#define R1D_KERNELS_CUDA_H
#ifdef R1D_CUDA

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/comm.h"
#include "core/dtype.h"
#include "core/err.h"
#include "kernels/cuda_plan.h"
#include "kernels/ops.h"

/* cudaStream_t, without pulling the CUDA headers into every C file; NULL is the
 * default stream. */
typedef struct CUstream_st *cuda_stream_t;

typedef struct cuda_device_info {
    int index;
    char name[256];
    int cc_major, cc_minor;     /* compute capability; the .cu files are built for 9.0 (sm_90) */
    int sm_count;
    size_t total_mem;           /* bytes */
    int runtime_version;        /* 13000 = CUDA 13.0 */
    int driver_version;         /* highest CUDA version the driver supports, same encoding */
} cuda_device_info_t;

/* Number of usable GPUs: 0 with R1D_OK when there is no GPU or no driver. */
r1d_status cuda_device_count(int *count, err_t *e);
r1d_status cuda_device_info(int device, cuda_device_info_t *info, err_t *e);
r1d_status cuda_set_device(int device, err_t *e);

r1d_status cuda_alloc(void **d_ptr, size_t bytes, err_t *e);
void cuda_free(void *d_ptr); /* NULL is fine */
r1d_status cuda_upload(void *d_dst, const void *src, size_t bytes, err_t *e);
r1d_status cuda_download(void *dst, const void *d_src, size_t bytes, err_t *e);
/* Waits for all work on the current device; reports errors of earlier kernels. */
r1d_status cuda_sync(err_t *e);

/* A cuBLAS handle bound to the current device. */
typedef struct cuda_blas cuda_blas_t;
r1d_status cuda_blas_init(cuda_blas_t **out, err_t *e);
void cuda_blas_free(cuda_blas_t *b); /* NULL is fine */
/* cuBLAS library version through the handle, e.g. 130000 for 13.0.0. */
r1d_status cuda_blas_version(cuda_blas_t *b, int *version, err_t *e);

/* NCCL library version as NCCL_VERSION_CODE: 22809 = 2.28.9. Needs no GPU. */
r1d_status cuda_nccl_version(int *version, err_t *e);

/* Bulk conversions on the device, asynchronous on `stream`; bit-exact with
 * dt_convert_to_f32 / dt_convert_from_f32 (NaN rules included).
 * to_f32 takes BF16, F8_E4M3 and F8_E5M2; from_f32 takes BF16; any other dtype
 * is R1D_EUNSUPPORTED. d_src and d_dst must not overlap. */
r1d_status cuda_convert_to_f32(float *d_dst, const void *d_src, dtype_t src_type, size_t n,
                               cuda_stream_t stream, err_t *e);
r1d_status cuda_convert_from_f32(void *d_dst, dtype_t dst_type, const float *d_src, size_t n,
                                 cuda_stream_t stream, err_t *e);

/* ---- the CUDA op table (kernels/cuda/ops_cuda.cu): kernels/ops.h with bf16 activations ----
 * Every pointer an op takes is device memory: activations, weights (BF16 only), biases (f32),
 * RoPE inv_freq (f32), ids and positions. teacher/backend.c uploads a model that way. The
 * table owns one stream; ops queue work on it and only download waits. */
r1d_status ops_cuda_init(ops_t **o, int device, err_t *e);
void ops_cuda_free(ops_t *o); /* NULL is fine */
int ops_cuda_is(const ops_t *o);
cuda_stream_t ops_cuda_stream(ops_t *o);
int ops_cuda_sm_count(ops_t *o);
/* Waits for the table's stream; reports a sticky error. */
r1d_status ops_cuda_sync(ops_t *o, err_t *e);

/* Plans decode split-K for contexts of at least ctx tokens (0: each step's own), so that a
 * captured graph's grid stays valid while contexts grow up to ctx. */
void ops_cuda_set_ctx_hint(ops_t *o, int32_t ctx);
/* Uploads the attention plan of one step (and sizes its scratch) ahead of kv_store and
 * attention: before a graph capture, and before each replay with that step's sequences. */
r1d_status ops_cuda_attn_prepare(ops_t *o, const ops_kv_t *kv, const ops_attn_seq_t *seqs, int B, int H,
                                 cplan_attn_t *plan, err_t *e);

/* Samples one token per row of d_logits [B, V] (f32, device) on the GPU with
 * kernels/sample.c's rules and each row's draw (cplan_sample_row); ids: host [B]. */
r1d_status ops_cuda_sample(ops_t *o, int32_t *ids, const float *d_logits, int64_t V, int B,
                           const cplan_sample_row_t *rows, err_t *e);

/* CUDA graphs of the table's stream: ops issued between begin and end are captured (they
 * must not allocate or change the attention plan), then replayed by launch, which refuses a
 * graph whose scratch buffers have since been reallocated (a larger plan: capture again). */
typedef struct cuda_graph cuda_graph_t;
r1d_status ops_cuda_capture_begin(ops_t *o, err_t *e);
r1d_status ops_cuda_capture_end(ops_t *o, cuda_graph_t **g, err_t *e);
r1d_status ops_cuda_graph_launch(ops_t *o, cuda_graph_t *g, err_t *e);
void cuda_graph_free(cuda_graph_t *g); /* NULL is fine */

/* NCCL backend of core/comm.h (kernels/comm_nccl.c): collectives on device buffers of
 * `device` (-1: rank % device count), queued on `stream` (NULL: its own) and finished before
 * each call returns. Under mpirun/srun the unique id goes out over MPI; otherwise it is a
 * single rank without MPI. comm_backend() names it "nccl"; comm_free releases it. */
r1d_status comm_nccl_init(comm_t **c, int device, cuda_stream_t stream, err_t *e);

/* y[n] (f32, device) = y / div, asynchronous on `stream` (the NCCL backend's mean, rounded
 * as the MPI backend's). */
r1d_status cuda_div_f32(float *d_y, size_t n, float div, cuda_stream_t stream, err_t *e);

#ifdef __cplusplus
}
#endif

#endif /* R1D_CUDA */
#endif
