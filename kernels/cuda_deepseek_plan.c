/* The host half of kernels/cuda_deepseek.h: shape and scale-layout checks for the FP8
 * GEMM, the MoE permutation plan, the MLA decode split, MTP acceptance, and the host
 * references of the device kernels. Plain C, built with or without CUDA. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_deepseek.h"

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

r1d_status cds_fp8_plan(cds_fp8_plan_t *p, const char *name, const ops_weight_t *w, int64_t M, err_t *e) {
    memset(p, 0, sizeof *p);
    if (w->dtype != DT_F8_E4M3)
        return ERR(e, R1D_EINVAL, "%s: FP8 GEMM needs an F8_E4M3 weight, got %s", name, dt_name(w->dtype));
    if (w->rows <= 0 || w->cols <= 0)
        return ERR(e, R1D_EINVAL, "%s: weight shape [%lld, %lld]: expected positive sizes", name,
                   (long long)w->rows, (long long)w->cols);
    if (!w->scale || w->block_rows <= 0 || w->block_cols <= 0)
        return ERR(e, R1D_EINVAL, "%s: F8_E4M3 weight without block scales (weight_scale_inv)", name);
    if (M < 0) return ERR(e, R1D_EINVAL, "%s: %lld rows: expected M >= 0", name, (long long)M);
    p->M = M;
    p->N = w->rows;
    p->K = w->cols;
    p->Mpad = round_up(M > 0 ? M : 1, 4);
    p->nb = cdiv(p->N, CDS_BLOCK);
    p->kb = cdiv(p->K, CDS_BLOCK);
    p->wscale_ld = round_up(p->kb, 4);
    p->lt = 1;
    if (w->block_rows != CDS_BLOCK || w->block_cols != CDS_BLOCK)
        snprintf(p->why, sizeof p->why, "weight blocks %dx%d (cuBLASLt's block-scaled mode takes 128x128)",
                 w->block_rows, w->block_cols);
    else if (p->K % 16)
        snprintf(p->why, sizeof p->why, "K = %lld is not a multiple of 16", (long long)p->K);
    else if (p->N % 16)
        snprintf(p->why, sizeof p->why, "N = %lld is not a multiple of 16", (long long)p->N);
    if (p->why[0]) p->lt = 0;
    return R1D_OK;
}

size_t cds_fp8_act_scale_offset(int64_t M, int64_t K) {
    int64_t Mpad = round_up(M > 0 ? M : 1, 4);
    return (size_t)round_up(Mpad * K, 256);
}

size_t cds_fp8_act_bytes(int64_t M, int64_t K) {
    int64_t Mpad = round_up(M > 0 ? M : 1, 4);
    return cds_fp8_act_scale_offset(M, K) + (size_t)(cdiv(K, CDS_BLOCK) * Mpad) * sizeof(float);
}

void cds_wscale_pad(float *dst, const float *src, int64_t nb, int64_t kb, int64_t ld) {
    for (int64_t r = 0; r < nb; r++) {
        memcpy(dst + r * ld, src + r * kb, (size_t)kb * sizeof(float));
        for (int64_t c = kb; c < ld; c++) dst[r * ld + c] = 0.0f;
    }
}

void cds_act_quant_ref(uint8_t *q, float *s, const float *x, int64_t M, int64_t K, int64_t s_row, int64_t s_col) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t c0 = 0, kb = 0; c0 < K; c0 += CDS_BLOCK, kb++) {
            int64_t c1 = c0 + CDS_BLOCK < K ? c0 + CDS_BLOCK : K;
            float amax = 0.0f;
            for (int64_t c = c0; c < c1; c++) amax = fmaxf(amax, fabsf(x[m * K + c]));
            float sc = cds_act_scale(amax);
            s[m * s_row + kb * s_col] = sc;
            for (int64_t c = c0; c < c1; c++) q[m * K + c] = cds_e4m3_encode(x[m * K + c] / sc);
        }
}

r1d_status cds_route_cfg(cds_route_cfg_t *rc, const cfg_model_t *c, err_t *e) {
    *rc = (cds_route_cfg_t){c->n_routed_experts, c->n_group > 0 ? c->n_group : 1, c->topk_group,
                            c->n_experts_per_tok, c->norm_topk_prob, (float)c->routed_scaling_factor};
    if (rc->E < 1 || rc->E > CDS_MAX_EXPERTS)
        return ERR(e, R1D_EUNSUPPORTED, "n_routed_experts = %d: the GPU router takes 1..%d", rc->E, CDS_MAX_EXPERTS);
    if (rc->G > CDS_MAX_GROUPS || rc->E % rc->G)
        return ERR(e, R1D_EUNSUPPORTED, "n_group = %d: expected a divisor of n_routed_experts (%d), at most %d", rc->G,
                   rc->E, CDS_MAX_GROUPS);
    if (rc->topk_group < 1 || rc->topk_group > rc->G)
        return ERR(e, R1D_EINVAL, "topk_group = %d: expected 1..n_group (%d)", rc->topk_group, rc->G);
    if (rc->K < 1 || rc->K > CDS_MAX_TOPK || rc->K > rc->E)
        return ERR(e, R1D_EUNSUPPORTED, "num_experts_per_tok = %d: the GPU router takes 1..%d (and <= %d experts)",
                   rc->K, CDS_MAX_TOPK, rc->E);
    return R1D_OK;
}

void cds_route_ref(const cds_route_cfg_t *rc, const float *logits, const float *bias, int64_t T, int32_t *ids, float *w) {
    for (int64_t t = 0; t < T; t++) cds_route_one(rc, logits + t * rc->E, bias, ids + t * rc->K, w + t * rc->K);
}

int64_t cds_moe_max_tiles(int64_t TK, int E, int BM) {
    /* sum over experts of ceil(n_e / BM) <= TK / BM + (experts with a partial tile) */
    int64_t partial = TK < E ? TK : E;
    return TK / BM + partial + 1;
}

void cds_moe_plan_free(cds_moe_plan_t *p) {
    free(p->off), free(p->row_pair), free(p->pair_row), free(p->tile_expert), free(p->tile_row);
    memset(p, 0, sizeof *p);
}

r1d_status cds_moe_plan_ref(cds_moe_plan_t *p, const int32_t *ids, int64_t T, int K, int E, int x0, int x1, int BM,
                            err_t *e) {
    memset(p, 0, sizeof *p);
    int64_t TK = T * K;
    if (T < 0 || K < 1 || E < 1 || BM < 1 || x0 < 0 || x1 > E || x0 > x1)
        return ERR(e, R1D_EINVAL, "MoE plan: T=%lld K=%d E=%d experts [%d, %d) BM=%d: bad sizes", (long long)T, K, E,
                   x0, x1, BM);
    int64_t mt = cds_moe_max_tiles(TK, E, BM);
    p->off = calloc((size_t)E + 1, sizeof(int32_t));
    p->row_pair = malloc((size_t)(TK ? TK : 1) * sizeof(int32_t));
    p->pair_row = malloc((size_t)(TK ? TK : 1) * sizeof(int32_t));
    p->tile_expert = malloc((size_t)mt * sizeof(int32_t));
    p->tile_row = malloc((size_t)mt * sizeof(int32_t));
    if (!p->off || !p->row_pair || !p->pair_row || !p->tile_expert || !p->tile_row) {
        cds_moe_plan_free(p);
        return ERR(e, R1D_ENOMEM, "MoE plan: out of memory (%lld pairs)", (long long)TK);
    }
    for (int64_t i = 0; i < TK; i++) {
        if (ids[i] < 0 || ids[i] >= E) {
            int32_t bad = ids[i];
            cds_moe_plan_free(p);
            return ERR(e, R1D_EINVAL, "MoE plan: pair %lld (token %lld) routed to expert %d of %d", (long long)i,
                       (long long)(i / K), bad, E);
        }
        p->off[ids[i] + 1]++;
    }
    for (int x = 0; x < E; x++) p->off[x + 1] += p->off[x];
    /* the device computes each pair's row as off[e] + (earlier pairs with the same expert);
     * a counting sort in pair order gives the same rows */
    int32_t *fill = malloc((size_t)E * sizeof(int32_t));
    if (!fill) {
        cds_moe_plan_free(p);
        return ERR(e, R1D_ENOMEM, "MoE plan: out of memory");
    }
    memcpy(fill, p->off, (size_t)E * sizeof(int32_t));
    for (int64_t i = 0; i < TK; i++) {
        int32_t r = fill[ids[i]]++;
        p->row_pair[r] = (int32_t)i;
        p->pair_row[i] = r;
    }
    free(fill);
    for (int x = x0; x < x1; x++)
        for (int32_t r = p->off[x]; r < p->off[x + 1]; r += BM) {
            p->tile_expert[p->n_tiles] = x;
            p->tile_row[p->n_tiles++] = r;
        }
    return R1D_OK;
}

void cds_mla_plan_free(cds_mla_plan_t *p) {
    free(p->row_len), free(p->row_seq), free(p->row_part0), free(p->row_nsplit), free(p->work), free(p->block_table);
    memset(p, 0, sizeof *p);
}

r1d_status cds_mla_plan(cds_mla_plan_t *p, const ops_attn_seq_t *seqs, int B, int32_t block_size, int sm_count,
                        int head_groups, int32_t min_chunk, err_t *e) {
    memset(p, 0, sizeof *p);
    if (B < 1 || block_size < 1 || sm_count < 1 || head_groups < 1 || min_chunk < 1)
        return ERR(e, R1D_EINVAL, "MLA plan: B=%d block_size=%d sm_count=%d head_groups=%d min_chunk=%d: expected positive values",
                   B, block_size, sm_count, head_groups, min_chunk);
    int64_t T = 0, total = 0;
    int32_t max_blocks = 1;
    for (int b = 0; b < B; b++) {
        const ops_attn_seq_t *s = &seqs[b];
        if (s->n_new < 0 || s->n_ctx < 1 || s->n_new > s->n_ctx)
            return ERR(e, R1D_EINVAL, "MLA plan: sequence %d: n_new = %d, n_ctx = %d: expected 0 <= n_new <= n_ctx, n_ctx >= 1",
                       b, s->n_new, s->n_ctx);
        if (!s->blocks) return ERR(e, R1D_EINVAL, "MLA plan: sequence %d has no page table", b);
        int32_t nbk = (int32_t)cdiv(s->n_ctx, block_size);
        if (nbk > max_blocks) max_blocks = nbk;
        T += s->n_new;
        for (int32_t i = 0; i < s->n_new; i++) total += s->n_ctx - s->n_new + i + 1;
    }
    if (T > INT32_MAX / 2) return ERR(e, R1D_EINVAL, "MLA plan: %lld query rows: too many", (long long)T);
    /* chunk: enough splits for ~2 waves of CTAs, never below min_chunk */
    int64_t target = 2 * (int64_t)sm_count;
    int64_t chunk = cdiv(total * head_groups, target);
    if (chunk < min_chunk) chunk = min_chunk;
    chunk = round_up(chunk, CDS_MLA_CHUNK_ALIGN);
    p->T = (int32_t)T;
    p->max_blocks = max_blocks;
    p->row_len = malloc((size_t)(T ? T : 1) * sizeof(int32_t));
    p->row_seq = malloc((size_t)(T ? T : 1) * sizeof(int32_t));
    p->row_part0 = malloc((size_t)(T ? T : 1) * sizeof(int32_t));
    p->row_nsplit = malloc((size_t)(T ? T : 1) * sizeof(int32_t));
    p->block_table = malloc((size_t)B * (size_t)max_blocks * sizeof(int32_t));
    int64_t n_work = 0;
    for (int b = 0; b < B; b++)
        for (int32_t i = 0; i < seqs[b].n_new; i++) {
            int64_t len = seqs[b].n_ctx - seqs[b].n_new + i + 1, ns = cdiv(len, chunk);
            n_work += ns < CDS_MLA_MAX_SPLITS ? ns : CDS_MLA_MAX_SPLITS;
        }
    p->work = malloc((size_t)(n_work ? n_work : 1) * sizeof(cds_mla_work_t));
    if (!p->row_len || !p->row_seq || !p->row_part0 || !p->row_nsplit || !p->block_table || !p->work) {
        cds_mla_plan_free(p);
        return ERR(e, R1D_ENOMEM, "MLA plan: out of memory (%lld rows)", (long long)T);
    }
    for (int b = 0; b < B; b++) {
        int32_t nbk = (int32_t)cdiv(seqs[b].n_ctx, block_size);
        for (int32_t j = 0; j < max_blocks; j++)
            p->block_table[(size_t)b * max_blocks + j] = j < nbk ? seqs[b].blocks[j] : -1;
    }
    int32_t row = 0;
    for (int b = 0; b < B; b++)
        for (int32_t i = 0; i < seqs[b].n_new; i++, row++) {
            int32_t len = seqs[b].n_ctx - seqs[b].n_new + i + 1;
            int64_t ns = cdiv(len, chunk), per = chunk;
            if (ns > CDS_MLA_MAX_SPLITS) { /* very long rows: wider pieces, still aligned */
                ns = CDS_MLA_MAX_SPLITS;
                per = round_up(cdiv(len, ns), CDS_MLA_CHUNK_ALIGN);
                ns = cdiv(len, per);
            }
            p->row_len[row] = len;
            p->row_seq[row] = b;
            p->row_nsplit[row] = (int32_t)ns;
            p->row_part0[row] = ns > 1 ? p->n_parts : -1;
            for (int64_t s = 0; s < ns; s++) {
                int32_t a = (int32_t)(s * per), z = (int32_t)((s + 1) * per < len ? (s + 1) * per : len);
                p->work[p->n_work++] = (cds_mla_work_t){row, b, a, z, ns > 1 ? p->n_parts + (int32_t)s : -1};
            }
            if (ns > 1) p->n_parts += (int32_t)ns;
        }
    p->chunk = (int32_t)chunk;
    return R1D_OK;
}

void cds_mtp_accept_ref(const int32_t *drafts, const int32_t *main, int B, int nd, int32_t *accepted, int32_t *next,
                        int32_t *n_ctx) {
    for (int b = 0; b < B; b++) {
        int a = 0;
        while (a < nd && drafts[b * nd + a] == main[b * (nd + 1) + a]) a++;
        accepted[b] = a;
        next[b] = main[b * (nd + 1) + a];
        n_ctx[b] -= nd - a;
    }
}
