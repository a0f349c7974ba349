/* Host-side planning for the CUDA backend (kernels/cuda/): device arena offsets, the
 * attention step plan uploaded to the device (page tables, cache slots, prefill tiles,
 * decode rows), split-K sizing, shared-memory layouts and grid shapes. Pure C with no
 * CUDA dependency, so it is built and tested on every machine; the kernels read the
 * same structures. Prefix: cplan_. */
#ifndef R1D_KERNELS_CUDA_PLAN_H
#define R1D_KERNELS_CUDA_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"

/* Device allocations inside an arena start on this boundary: cuBLASLt and 16-byte
 * vector loads want at least 16, and 256 keeps every tensor on its own cache lines. */
#define CPLAN_ALIGN 256

/* Bump allocator over one device allocation: offsets only, no memory. */
typedef struct cplan_arena {
    size_t used;
} cplan_arena_t;

/* n rounded up to a multiple of a (a power of two). */
static inline size_t cplan_round_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
/* Offset of a new region of `bytes` (CPLAN_ALIGN-aligned); the arena grows past it. */
size_t cplan_arena_take(cplan_arena_t *a, size_t bytes);

/* ---- attention step plan ---- */

/* Sequences with at most this many new tokens take the decode kernel, one query row per
 * token (a prefill tile of CPLAN_TILE_Q rows would be mostly padding for them). */
#define CPLAN_DECODE_MAX_NEW 8
#define CPLAN_TILE_Q 64         /* query rows per prefill CTA */
#define CPLAN_TILE_K 64         /* keys per prefill inner step */
#define CPLAN_SPLIT_MIN 64      /* keys per decode split, a power of two in [MIN, MAX] */
#define CPLAN_SPLIT_MAX 512
#define CPLAN_GROUP_MAX 8       /* query heads of one kv head handled by one decode CTA */
#define CPLAN_HEAD_DIM_MAX 256

/* The plan of one kv_store/attention call, as word offsets into one int32 buffer:
 *   seq   [n_seq][4]  n_new, n_ctx, first token index t0, offset of its page table in `pages`
 *   pages [n_pages]   every sequence's page table (blocks covering its n_ctx), back to back
 *   slot  [T]         cache row (block * block_size + offset) of each new token
 *   tiles [n_tiles][2] prefill tiles: sequence, first query row within the sequence
 *   dec   [n_dec][2]  decode rows: token index, sequence
 * Split-K of the decode rows: keys [s*split_len, (s+1)*split_len) go to split s < n_splits. */
typedef struct cplan_attn {
    int32_t T, n_seq, n_pages, n_tiles, n_dec;
    int32_t max_dec_ctx;         /* largest context of a decode row (0 without decode rows) */
    int32_t split_len, n_splits; /* n_splits == 1: the decode kernel writes the output itself */
    int32_t off_seq, off_pages, off_slot, off_tiles, off_dec, words;
} cplan_attn_t;

/* Words the plan of seqs needs (an upper bound that cplan_attn_build never exceeds). */
size_t cplan_attn_words(const ops_attn_seq_t *seqs, int B, int32_t block_size);

/* Builds the plan into buf[cap words]. units_per_row = decode CTAs per row before splitting
 * (Hkv * head chunks); sm_count sizes the split; ctx_hint > 0 plans the split for contexts up
 * to ctx_hint at least (so a captured graph stays valid while contexts grow).
 * Returns 0, or -1 when cap is too small or a cache row index would not fit an int32. */
int cplan_attn_build(const ops_attn_seq_t *seqs, int B, int32_t block_size, int32_t n_blocks, int units_per_row,
                     int sm_count, int32_t ctx_hint, int32_t *buf, size_t cap, cplan_attn_t *p);

/* Keys per split and split count for decode rows of up to max_ctx keys, when each row
 * already gives `units` CTAs: long contexts split until the grid has about two CTAs per SM. */
void cplan_split(int32_t max_ctx, int64_t units, int sm_count, int32_t *split_len, int32_t *n_splits);

/* Query-head chunks per kv head in the decode kernel. */
static inline int cplan_head_chunks(int group) { return (group + CPLAN_GROUP_MAX - 1) / CPLAN_GROUP_MAX; }

/* Shared-memory layout of the prefill kernel for head dim D (byte offsets, 32-byte aligned
 * as WMMA wants; leading dimensions in elements, padded against bank conflicts). Head dims
 * that are not multiples of 16 are zero-padded to D16. */
typedef struct cplan_prefill {
    int32_t D16;
    int32_t ld_h;      /* Q, K, V tiles: bf16 [64][ld_h] */
    int32_t ld_s;      /* scores: f32 [64][ld_s] */
    int32_t ld_p;      /* probabilities: bf16 [64][ld_p] */
    int32_t ld_o;      /* output accumulator: f32 [64][ld_o] */
    int32_t off_q, off_k, off_v, off_s, off_p, off_o, off_m, off_l, off_a;
    int32_t bytes;
} cplan_prefill_t;

/* Returns 0, or -1 when D is outside [1, CPLAN_HEAD_DIM_MAX]. */
int cplan_prefill_layout(int D, cplan_prefill_t *L);

/* Floats of split-K partials for a plan with H query heads of dim D: [n_dec][H][n_splits]
 * accumulators of D values, then [n_dec][H][n_splits] (max, sum) pairs. */
size_t cplan_partial_floats(const cplan_attn_t *p, int H, int D);

/* ---- element-wise launches and sampling ---- */

/* Blocks for a grid-stride loop over n items with `threads` per block, capped at max_blocks. */
unsigned cplan_blocks(int64_t n, unsigned threads, unsigned max_blocks);

/* Sampling sorts each row's candidates (logits within SAMPLE_CUTOFF of the best) in a
 * per-CTA scratch of cplan_pow2(V) 64-bit keys; rows share CTAs round-robin. */
int64_t cplan_pow2(int64_t n);
int cplan_sample_ctas(int B);
size_t cplan_sample_scratch_bytes(int B, int64_t V);

/* Per-row sampling parameters as the GPU kernel reads them: the filters and the uniform
 * draw rng_uniform_f64(seed, stream, pos) of core/rng.h, the same draw generate.c makes
 * for (seed, request id, position), so both backends pick the same token from equal logits. */
typedef struct cplan_sample_row {
    double u;
    float temperature, top_p, min_p;
    int32_t top_k;
} cplan_sample_row_t;

void cplan_sample_row(cplan_sample_row_t *r, const ops_sampling_t *s, uint64_t seed, uint64_t stream, uint64_t pos);

#endif
