/* The op table: every numeric op of the inference engine, behind one table with a
 * CPU implementation (kernels/cpu, OpenBLAS + OpenMP) and a CUDA one (kernels/cuda).
 *
 * Dimension legend (used in every shape comment of kernels/, teacher/, student/):
 *   B sequences in a batch, T tokens (all sequences' tokens concatenated), C model width,
 *   H query heads, Hkv key/value heads, D head dim, F MLP width, V vocab, OC output features.
 * Activations are contiguous row-major buffers of the backend's `act` dtype (f32 on the CPU,
 * bf16 on CUDA) living in the backend's memory. Ops never fail on bad shapes at run time:
 * callers validate at load time. A backend error (CUDA) is sticky: ops_status() reports it. */
#ifndef R1D_OPS_H
#define R1D_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/err.h"

/* A linear layer's weight [OC, C], as stored in the checkpoint (y = x W^T). */
typedef struct ops_weight {
    const void *data;
    dtype_t dtype;          /* F32, BF16, F16; F8_E4M3 with `scale` */
    int64_t rows, cols;     /* OC, C */
    /* F8_E4M3 only: weight_scale_inv [ceil(OC/block_rows), ceil(C/block_cols)] f32, row-major,
     * 4-byte aligned; W[r,c] = fp8[r,c] * scale[r/block_rows, c/block_cols] (DeepSeek's format) */
    const float *scale;
    int32_t block_rows, block_cols;
} ops_weight_t;

/* One sequence of an attention call. Its new tokens sit at positions
 * n_ctx - n_new .. n_ctx - 1 and are already stored in the cache. */
typedef struct ops_attn_seq {
    int32_t n_new;          /* query tokens of this sequence in q/out */
    int32_t n_ctx;          /* tokens in the cache, new ones included */
    const int32_t *blocks;  /* page table: cache block of positions [i*block_size, (i+1)*block_size) */
} ops_attn_seq_t;

/* Paged KV cache of one layer: k and v are [n_blocks, block_size, Hkv, D]. */
typedef struct ops_kv {
    void *k, *v;
    int32_t block_size, n_blocks, Hkv, D;
} ops_kv_t;

typedef struct ops ops_t;

typedef struct ops_vtable {
    /* backend memory (device memory on CUDA); alloc returns NULL and sets the sticky error */
    void *(*alloc)(ops_t *o, size_t bytes);
    void (*dealloc)(ops_t *o, void *p);
    void (*upload)(ops_t *o, void *dst, const void *host_src, size_t bytes);
    void (*download)(ops_t *o, void *host_dst, const void *src, size_t bytes);
    /* out[T,OC] = x[T,C] W^T (+ bias[OC] when non-NULL, bias f32) */
    void (*matmul)(ops_t *o, void *out, const void *x, const ops_weight_t *w, const float *bias, int64_t T);
    /* out[T,C] = table[ids[t], :]; table is a weight [V, C] */
    void (*embedding)(ops_t *o, void *out, const int32_t *ids, const ops_weight_t *table, int64_t T);
    /* out[T,C] = w[C] * to_act(x / rms(x)) (normalised in f32 and cast first, as transformers does) */
    void (*rmsnorm)(ops_t *o, void *out, const void *x, const ops_weight_t *w, float eps, int64_t T, int64_t C);
    /* rotate_half RoPE in place on x[T, nh, D]: pairs (j, j + D/2), angle pos[t] * inv_freq[j] (f32) */
    void (*rope)(ops_t *o, void *x, const int32_t *pos, const float *inv_freq, int64_t T, int nh, int D);
    /* out[T,F] = silu(gate[T,F]) * up[T,F] */
    void (*swiglu)(ops_t *o, void *out, const void *gate, const void *up, int64_t n);
    /* out[n] = a[n] + b[n] (out may alias a) */
    void (*add)(ops_t *o, void *out, const void *a, const void *b, int64_t n);
    /* writes k,v [T, Hkv, D] of each sequence's new tokens into its cache blocks */
    void (*kv_store)(ops_t *o, ops_kv_t *kv, const void *k, const void *v, const ops_attn_seq_t *seqs, int B);
    /* causal GQA attention of q[T,H,D] over the cache -> out[T,H,D]; query head h reads
     * kv head h / (H/Hkv); softmax in f32 with `scale`; no [T x T] matrix is formed */
    void (*attention)(ops_t *o, void *out, const void *q, const ops_kv_t *kv, const ops_attn_seq_t *seqs,
                      int B, int H, float scale);
    /* act[n] <-> f32[n], for logits and tests */
    void (*to_f32)(ops_t *o, float *dst, const void *src, int64_t n);
    void (*from_f32)(ops_t *o, void *dst, const float *src, int64_t n);
    /* Emulates the GPU's FP8 activation quantisation in place on x[T, C]: per row, per tile of
     * `block` columns (the last one partial), s = max(amax, 1e-4) / 448, x = f32(e4m3(x / s)) * s */
    void (*act_quant_fp8)(ops_t *o, void *x, int64_t T, int64_t C, int block);
} ops_vtable_t;

struct ops {
    const char *name;
    dtype_t act;            /* activation dtype */
    const ops_vtable_t *vt;
    void *impl;             /* backend state (scratch buffers, handles) */
    r1d_status status;      /* sticky */
    err_t err;
};

r1d_status ops_cpu_init(ops_t **o, err_t *e);
void ops_free(ops_t *o);
static inline r1d_status ops_status(const ops_t *o, err_t *e) {
    if (o->status != R1D_OK && e) *e = o->err;
    return o->status;
}

/* Backend-independent host math shared by every backend. */

/* inv_freq[D/2] for RoPE with rope_theta and optional Llama-3 scaling (factor <= 0: none),
 * computed in f32 as transformers does. */
typedef struct ops_rope_cfg {
    double theta;
    int type;               /* OPS_ROPE_DEFAULT, OPS_ROPE_LINEAR, OPS_ROPE_LLAMA3 */
    double factor, low_freq_factor, high_freq_factor;
    int64_t original_max_pos;
} ops_rope_cfg_t;
enum { OPS_ROPE_DEFAULT = 0, OPS_ROPE_LINEAR, OPS_ROPE_LLAMA3 };
void ops_rope_inv_freq(float *inv_freq, int D, const ops_rope_cfg_t *cfg);

/* Sampling over f32 logits[V] (host memory). temperature <= 0 means greedy (argmax,
 * lowest index on ties). top_k <= 0, top_p >= 1 and min_p <= 0 disable those filters.
 * u is a uniform draw in [0,1) from the counter-based RNG, so the choice depends only
 * on (seed, stream, pos). scratch: ops_sample_scratch_size(V) bytes. */
typedef struct ops_sampling {
    float temperature, top_p, min_p;
    int top_k;
} ops_sampling_t;
size_t ops_sample_scratch_size(int64_t V);
int32_t ops_sample(const float *logits, int64_t V, const ops_sampling_t *s, double u, void *scratch);
/* The distribution ops_sample draws from, normalised into probs[V] (0 outside the kept
 * tokens; greedy: one-hot at the argmax). Speculative sampling compares these. */
void ops_sample_probs(const float *logits, int64_t V, const ops_sampling_t *s, float *probs, void *scratch);
int32_t ops_argmax(const float *x, int64_t n);

#endif
