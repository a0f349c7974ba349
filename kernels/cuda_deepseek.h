/* DeepSeek-V3/R1 on the GPU: FP8 block-scaled GEMMs, activation quantisation, MLA decode
 * over the paged latent cache, MoE routing and grouped experts, MTP verification.
 * Prefix cds_.
 *
 * Two halves. The host planning half (first) is plain C, built everywhere and tested
 * without a GPU: FP8 GEMM shape and scale-layout checks, the MoE routing plan (the
 * device algorithm's host mirror), the split of MLA decode over the sequence, MTP
 * acceptance. The device half (under R1D_CUDA) runs them on the GPU; each device op
 * has one host function here as its reference.
 *
 * Layouts (all row-major; [a][b] means b contiguous):
 *   FP8 weight   data [N][K] E4M3, scales [ceil(N/128)][ceil(K/128)] f32 = the checkpoint's
 *                weight_scale_inv as-is (DeepSeek's dequant: fp8 * scale).
 *   activations  bf16 [M][K]; quantised: q [Mpad][K] E4M3 + scales. cuBLASLt reads the
 *                scales M-major, [ceil(K/128)][Mpad] (VEC128_32F on the B operand), the
 *                grouped expert kernel K-major [rows][ceil(K/128)]: every quantiser
 *                takes the scale strides (s_row, s_col): scale of (m, kb) at s[m*s_row + kb*s_col].
 *   latent cache [n_blocks][block_size][R + P] bf16 per layer (teacher/kv.h's latent pool). */
#ifndef R1D_KERNELS_CUDA_DEEPSEEK_H
#define R1D_KERNELS_CUDA_DEEPSEEK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/err.h"
#include "core/hf_config.h"
#include "kernels/ops.h"

#ifdef __cplusplus
}
#endif

#include "kernels/cuda_deepseek_inl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CDS_BLOCK 128        /* FP8 scale block (weights 128 x 128, activations 1 x 128) */

/* ================= host planning (no GPU needed) ================= */

/* ---- FP8 GEMM y[M,N] = x[M,K] W[N,K]^T ---- */
typedef struct cds_fp8_plan {
    int64_t M, N, K;
    int64_t Mpad;           /* M rounded up to 4: rows of the quantised activations and of the GEMM */
    int64_t nb, kb;         /* weight scale blocks: ceil(N/128), ceil(K/128) */
    int64_t wscale_ld;      /* row stride (floats) of the weight scales cuBLASLt reads: kb rounded up to 4 */
    int lt;                 /* 1: cuBLASLt block-scaled FP8; 0: dequantise to bf16 + bf16 GEMM */
    char why[160];          /* lt == 0: the cuBLASLt requirement this weight misses */
} cds_fp8_plan_t;

/* Checks an FP8 weight (errors name `name`: not F8_E4M3, no scales, bad blocks or sizes)
 * and decides the path for M rows. cuBLASLt's block-scaled mode (Hopper, cuBLAS >= 12.9)
 * needs 128 x 128 weight blocks, K % 16 == 0 and N % 16 == 0; anything else takes the
 * fallback, with `why` saying which. */
r1d_status cds_fp8_plan(cds_fp8_plan_t *p, const char *name, const ops_weight_t *w, int64_t M, err_t *e);
/* Bytes of the quantised activations for M x K: q [Mpad][K] then the scales at a 256-byte
 * offset (cuBLASLt's heuristics assume 256-byte aligned operands). */
size_t cds_fp8_act_bytes(int64_t M, int64_t K);
/* Offset of the scales inside such a buffer. */
size_t cds_fp8_act_scale_offset(int64_t M, int64_t K);
/* The weight scales in the layout cuBLASLt reads: src [nb][kb] -> dst [nb][ld] (ld >= kb,
 * padding columns 0). With ld == kb (every DeepSeek-V3 weight) it is a plain copy and
 * cds_fp8_weight_upload passes the checkpoint's array unchanged. */
void cds_wscale_pad(float *dst, const float *src, int64_t nb, int64_t kb, int64_t ld);

/* Host reference of the activation quantisation (bit-exact with the device kernels and
 * with the CPU backend's act_quant_fp8 emulation): x[M][K] f32 -> q[M][K], scales at
 * s[m*s_row + kb*s_col]. dec(q) * s equals the CPU emulation's value bit for bit. */
void cds_act_quant_ref(uint8_t *q, float *s, const float *x, int64_t M, int64_t K, int64_t s_row, int64_t s_col);

/* ---- MoE ---- */
/* The router parameters of a config; error when the device router's fixed bounds
 * (CDS_MAX_EXPERTS, CDS_MAX_GROUPS, CDS_MAX_TOPK) or the group layout do not fit. */
r1d_status cds_route_cfg(cds_route_cfg_t *rc, const cfg_model_t *c, err_t *e);
/* Host mirror of the device router: ids[T][K], w[T][K] from logits[T][E] (f32). */
void cds_route_ref(const cds_route_cfg_t *rc, const float *logits, const float *bias, int64_t T, int32_t *ids, float *w);

/* The permutation of (token, k) pairs by expert, as the device builds it: pairs sorted
 * by expert, tokens in order within an expert (stable, so results do not depend on
 * thread timing). off[e] = number of pairs routed to experts below e (off[E] = T*K);
 * row_pair[r] = the pair (t*K + k) at permuted row r; pair_row[t*K + k] = its row.
 * Tiles of BM rows over this rank's experts [x0, x1) for the grouped GEMM: tile i is
 * (tile_expert[i], tile_row[i]) covering rows [tile_row, min(tile_row + BM, off[e+1])). */
typedef struct cds_moe_plan {
    int32_t *off;           /* [E + 1] */
    int32_t *row_pair;      /* [T*K] */
    int32_t *pair_row;      /* [T*K] */
    int32_t *tile_expert, *tile_row; /* [max_tiles] */
    int32_t n_tiles;
} cds_moe_plan_t;
/* Upper bound of the tiles for T*K pairs over E experts with BM-row tiles. */
int64_t cds_moe_max_tiles(int64_t TK, int E, int BM);
r1d_status cds_moe_plan_ref(cds_moe_plan_t *p, const int32_t *ids, int64_t T, int K, int E, int x0, int x1, int BM,
                            err_t *e);
void cds_moe_plan_free(cds_moe_plan_t *p);

/* ---- MLA decode split over the sequence ---- */
/* One piece of work: query row `row` (of sequence `seq`) attends to cache positions
 * [start, end); part >= 0 is its slot in the partial buffers (the row has several
 * splits, merged by the combine kernel), -1 when the row is whole in one piece. */
typedef struct cds_mla_work {
    int32_t row, seq, start, end, part;
} cds_mla_work_t;
typedef struct cds_mla_plan {
    int32_t T;              /* query rows = sum of n_new */
    int32_t *row_len;       /* [T] causal length: positions [0, row_len) are visible (row_len - 1 = its position) */
    int32_t *row_seq;       /* [T] its sequence */
    int32_t *row_part0, *row_nsplit; /* [T] first partial slot, number of splits (1: none) */
    cds_mla_work_t *work;
    int32_t n_work, n_parts;
    int32_t chunk;          /* positions per split (a multiple of CDS_MLA_CHUNK_ALIGN) */
    int32_t max_blocks;     /* columns of block_table */
    int32_t *block_table;   /* [B][max_blocks] cache blocks, -1 past the end */
} cds_mla_plan_t;
#define CDS_MLA_CHUNK_ALIGN 64
/* Heads per CTA of cds_mla_decode: the plan's head_groups = ceil(H / CDS_MLA_HEADS_PER_CTA). */
#define CDS_MLA_HEADS_PER_CTA 16
/* Splits each row's context so that n_work * head_groups fills about 2 waves of
 * sm_count multiprocessors, at least min_chunk positions per split (rounded to
 * CDS_MLA_CHUNK_ALIGN), at most CDS_MLA_MAX_SPLITS per row. Errors name the sequence:
 * n_new > n_ctx, no page table, non-positive sizes. */
#define CDS_MLA_MAX_SPLITS 64
r1d_status cds_mla_plan(cds_mla_plan_t *p, const ops_attn_seq_t *seqs, int B, int32_t block_size, int sm_count,
                        int head_groups, int32_t min_chunk, err_t *e);
void cds_mla_plan_free(cds_mla_plan_t *p);

/* ---- MTP verification (greedy) ---- */
/* Sequence b verified [last, drafts[b][0..nd)] and got main[b][0..nd] (the main model's
 * argmax after each): accepted[b] = the longest prefix of drafts equal to main,
 * next[b] = main[b][accepted] (the bonus token), and n_ctx[b] rolls back over the
 * rejected drafts (n_ctx -= nd - accepted): their cache slots lie past the new length
 * and are overwritten later, so nothing is copied. */
void cds_mtp_accept_ref(const int32_t *drafts, const int32_t *main, int B, int nd, int32_t *accepted, int32_t *next,
                        int32_t *n_ctx);

/* ================= device (CUDA builds) ================= */
#ifdef R1D_CUDA

#include "kernels/cuda.h"

/* Context: cuBLASLt + cuBLAS handles on one stream, a 32 MiB cuBLASLt workspace, a
 * device scratch arena (grown on demand; cds_reserve at load time avoids growth
 * during decode), the cache of cuBLASLt algorithms per shape, and the device's SM count. */
typedef struct cds cds_t;
r1d_status cds_init(cds_t **out, cuda_stream_t stream, err_t *e);
void cds_free(cds_t *c);
r1d_status cds_reserve(cds_t *c, size_t scratch_bytes, err_t *e);
int cds_sm_count(const cds_t *c);
/* Number of GEMMs that took the dequantise + bf16 fallback since cds_init. */
int64_t cds_fallback_count(const cds_t *c);

/* ---- activation quantisation (bit-exact with cds_act_quant_ref) ---- */
/* x[M][K] (F32 or BF16) -> q[Mpad][K], scales as above; rows M..Mpad-1 of q are zero and
 * their scales 0 (Mpad = ceil4(M) when the buffer feeds cuBLASLt; pass Mpad = M otherwise). */
r1d_status cds_act_quant(cds_t *c, uint8_t *d_q, float *d_s, int64_t s_row, int64_t s_col, const void *d_x,
                         dtype_t xt, int64_t M, int64_t Mpad, int64_t K, err_t *e);
/* RMSNorm fused: y = bf16(w * bf16(x / rms(x))) per row (normalised in f32 and cast, as
 * ops' rmsnorm), written to d_y when non-NULL (the bf16 input of a router or a residual
 * branch), and quantised. x, w bf16. */
r1d_status cds_rmsnorm_quant(cds_t *c, uint8_t *d_q, float *d_s, int64_t s_row, int64_t s_col, void *d_y,
                             const void *d_x, const void *d_w, float eps, int64_t M, int64_t Mpad, int64_t K,
                             err_t *e);
/* SwiGLU fused: silu(gate) * up in f32, quantised without an intermediate bf16 rounding.
 * gate and up are bf16 rows of stride ld: two buffers [M][F] (ld = F), or one [M][2F]
 * GEMM output with up = gate + F (ld = 2F). */
r1d_status cds_swiglu_quant(cds_t *c, uint8_t *d_q, float *d_s, int64_t s_row, int64_t s_col, const void *d_gate,
                            const void *d_up, int64_t ld, int64_t M, int64_t Mpad, int64_t F, err_t *e);

/* ---- FP8 GEMM ---- */
typedef struct cds_fp8_weight {
    const uint8_t *d_w;     /* [N][K] E4M3 */
    const float *d_scale;   /* [nb][scale_ld] */
    int64_t N, K, scale_ld;
    void *owned;            /* device memory this struct allocated (cds_fp8_weight_free) */
} cds_fp8_weight_t;
/* Uploads an FP8 ops_weight_t (host) to the device; the scales as-is when kb % 4 == 0. */
r1d_status cds_fp8_weight_upload(cds_fp8_weight_t *dw, const char *name, const ops_weight_t *w, err_t *e);
void cds_fp8_weight_free(cds_fp8_weight_t *dw);
/* y[M][N] bf16 = (q, s) W^T with q [Mpad][K] and M-major scales [kb][Mpad] (the layout
 * cds_fp8_act_bytes describes). cuBLASLt block-scaled when the plan allows it and the
 * library accepts the shape; otherwise (logged once per shape) W and x are dequantised
 * to bf16 and multiplied by a bf16 cuBLASLt GEMM with f32 accumulation. Operands
 * 256-byte aligned (as cudaMalloc gives): cuBLASLt's cached algorithms assume it; q and
 * s must not live in the context's scratch, which the GEMM may regrow. */
r1d_status cds_fp8_gemm(cds_t *c, void *d_y, const uint8_t *d_q, const float *d_s, const cds_fp8_weight_t *w,
                        int64_t M, err_t *e);
/* Quantise x[M][K] bf16 (scratch) and GEMM: the whole linear layer. */
r1d_status cds_fp8_linear(cds_t *c, void *d_y, const void *d_x, const cds_fp8_weight_t *w, int64_t M, err_t *e);
/* bf16 GEMM on cuBLASLt: y[M][N] (F32 or BF16) = x[M][K] W[N][K]^T, bf16 inputs, f32
 * accumulation (router logits, eh_proj, the fallback). */
r1d_status cds_bf16_gemm(cds_t *c, void *d_y, dtype_t yt, const void *d_x, const void *d_w, int64_t M, int64_t N,
                         int64_t K, err_t *e);
/* W[N][K] FP8 with scales -> bf16 [N][K] (weight_dequant). */
r1d_status cds_fp8_dequant(cds_t *c, void *d_out, const cds_fp8_weight_t *w, err_t *e);

/* ---- MLA (absorbed decode) ---- */
typedef struct cds_mla_dims {
    int H, Dn, P, Dv, R;    /* local heads, qk_nope, qk_rope, v_head, kv_lora_rank */
    float softmax_scale;
} cds_mla_dims_t;
/* kv_b (FP8 [H*(Dn+Dv)][R]) -> bf16 [H][Dn+Dv][R], once at load: W_UK = rows 0..Dn, W_UV the rest. */
r1d_status cds_mla_wkvb(cds_t *c, void *d_wkvb, const cds_fp8_weight_t *kv_b, err_t *e);
/* Device copy of a plan (reused between steps: reallocated only when it grows). */
typedef struct cds_mla_dev {
    cds_mla_work_t *d_work;
    int32_t *d_row_len, *d_row_seq, *d_row_part0, *d_row_nsplit, *d_block_table;
    float *d_part;          /* [n_parts][H][R + 2]: o (unnormalised), max, sum */
    int32_t n_work, n_parts, max_blocks, T;
    size_t cap;
    void *mem;
} cds_mla_dev_t;
r1d_status cds_mla_dev_upload(cds_t *c, cds_mla_dev_t *dv, const cds_mla_plan_t *p, int H, int R, err_t *e);
void cds_mla_dev_free(cds_mla_dev_t *dv);
/* The new tokens' latent rows: kva[T][R+P] bf16 (kv_a output) -> [rmsnorm(c) | rope(k_pe)]
 * stored at each row's position (row_len - 1) of its sequence in the paged cache.
 * inv_freq[P/2] f32 (device), rope pairs (2i, 2i+1) when interleave else (i, i+P/2),
 * cos/sin times mscale (teacher/deepseek_mla.c's ds_rope). */
r1d_status cds_mla_store(cds_t *c, void *d_cache, int32_t block_size, const void *d_kva, const void *d_norm_w,
                         float eps, const float *d_inv_freq, float mscale, int interleave, const cds_mla_dev_t *dv,
                         int R, int P, err_t *e);
/* q[T][H][Dn+P] bf16 -> q_abs[T][H][R+P] bf16: q_nope W_UK per head (batched bf16 GEMM,
 * f32 accumulation) and rope(q_pe) behind it. */
r1d_status cds_mla_absorb_q(cds_t *c, void *d_qabs, const void *d_q, const void *d_wkvb, const cds_mla_dims_t *d,
                            const float *d_inv_freq, float mscale, int interleave, const cds_mla_dev_t *dv, err_t *e);
/* o_lat[T][H][R] bf16 = softmax(scale * q_abs . [latent | k_pe]) . latent over each row's
 * visible positions; rows split over the sequence write partials (f32 o, max, sum)
 * that a combine kernel merges. Any H (CTAs of CDS_MLA_HEADS_PER_CTA heads); R <= 512,
 * R + P <= 576 and even. */
r1d_status cds_mla_decode(cds_t *c, void *d_olat, const void *d_qabs, const void *d_cache, int32_t block_size,
                          const cds_mla_dev_t *dv, const cds_mla_dims_t *d, err_t *e);
/* att[T][H][Dv] bf16 = o_lat[t][h] W_UV[h]^T (batched bf16 GEMM). */
r1d_status cds_mla_out(cds_t *c, void *d_att, const void *d_olat, const void *d_wkvb, const cds_mla_dims_t *d,
                       int64_t T, err_t *e);
/* ---- MoE ---- */
/* ids/w [T][K] from router logits [T][E] f32 and the selection bias [E] f32 (one thread per token). */
r1d_status cds_moe_route(cds_t *c, int32_t *d_ids, float *d_w, const float *d_logits, const float *d_bias,
                         const cds_route_cfg_t *rc, int64_t T, err_t *e);
/* Device routing plan (cds_moe_plan_ref's arrays, all device memory, d_tiles = expert,
 * row pairs [max_tiles][2], d_n_tiles one int) with no host synchronisation. */
typedef struct cds_moe_dev_plan {
    int32_t *d_off, *d_row_pair, *d_pair_row, *d_tiles, *d_n_tiles;
    int64_t max_tiles;
} cds_moe_dev_plan_t;
#define CDS_MOE_BM 32          /* rows per grouped-GEMM tile */
r1d_status cds_moe_plan(cds_t *c, const cds_moe_dev_plan_t *p, const int32_t *d_ids, int64_t T, int K, int E, int x0,
                        int x1, err_t *e);
/* Gathers quantised rows: xp[r] = xq[row_pair[r] / K] with its K-major scales. */
r1d_status cds_moe_gather(cds_t *c, uint8_t *d_xp, float *d_sp, const uint8_t *d_xq, const float *d_sq,
                          const cds_moe_dev_plan_t *p, int64_t TK, int K, int64_t C, err_t *e);
/* Grouped FP8 GEMM over the plan's tiles: y[r][N] bf16 = xp[r] W_e^T for each row r of
 * expert e's range; experts' weights through device pointer arrays d_w[E] ([N][Kd]
 * E4M3, 16-byte aligned) and d_ws[E] (scales [nb][ld], ld = ceil(Kd/128) rounded up to
 * 4 as cds_fp8_weight_upload stores them: the checkpoint's own layout for DeepSeek-V3),
 * activation scales K-major [rows][ceil(Kd/128)]. Rows outside this rank's experts are
 * not written. Device-side tile list, so no host synchronisation: grid = max_tiles
 * CTAs per 128 columns, those past n_tiles exit at once. */
r1d_status cds_moe_gemm(cds_t *c, void *d_y, const uint8_t *d_xp, const float *d_sp, const uint8_t *const *d_w,
                        const float *const *d_ws, const cds_moe_dev_plan_t *p, int64_t TK, int64_t N, int64_t Kd,
                        err_t *e);
/* out[t] (F32 or BF16) = sum_k w[t][k] y[pair_row[t*K+k]] over this rank's experts
 * [x0, x1), plus shared[t] (bf16, may be NULL); fixed order, no atomics. */
r1d_status cds_moe_combine(cds_t *c, void *d_out, dtype_t ot, const void *d_y, const int32_t *d_ids,
                           const float *d_w, const cds_moe_dev_plan_t *p, const void *d_shared, int64_t T, int K,
                           int64_t C, int x0, int x1, err_t *e);

/* ---- MTP ---- */
/* ids[rows] = argmax of logits[rows][V] f32, lowest index on ties (ops_argmax). */
r1d_status cds_argmax(cds_t *c, int32_t *d_ids, const float *d_logits, int64_t rows, int64_t V, err_t *e);
/* cds_mtp_accept_ref on the device (one thread per sequence). */
r1d_status cds_mtp_accept(cds_t *c, const int32_t *d_drafts, const int32_t *d_main, int B, int nd,
                          int32_t *d_accepted, int32_t *d_next, int32_t *d_n_ctx, err_t *e);

#endif /* R1D_CUDA */

#ifdef __cplusplus
}
#endif

#endif
