/* Multi-head latent attention (DeepSeek-V2/V3).
 *   q      = q_b(rmsnorm(q_a(h)))  or q_proj(h)       [T, H, Dn + P]
 *   kv_a(h) = [c (R) | k_pe (P)];  latent = [rmsnorm(c) | rope(k_pe)]   -> the cache, R + P per token
 * Naive path (prefill): expand every cached latent with kv_b into per-head keys
 * [k_nope | k_pe] and values, then ordinary attention. Absorbed path (decode): fold W_UK
 * into the query (q_abs = q_nope W_UK, R values per head), attend over the latents
 * themselves (keys [latent | k_pe] against [q_abs | q_pe]), and apply W_UV to the
 * R-wide result. Both give the same numbers up to f32 rounding.
 * RoPE on the P-wide part pairs adjacent dims (2i, 2i+1) when rope_interleave (the
 * layout of DeepSeek's checkpoints and of its reference model.py; transformers
 * de-interleaves q and k alike, which leaves every q.k product unchanged), and
 * (j, j + P/2) otherwise.
 * Tensor parallel (tch_ds_set_comm): a rank holds the q_b (or q_proj) and kv_b rows of its
 * own heads, so q is [T, Hl, Dqk] and kv_b expands Hl heads, and the o_proj columns of those
 * heads: the partial outputs are all-reduced; the latent cache is replicated. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "teacher/deepseek.h"

/* Rotates x[t*tok_stride + h*head_stride + 0..P) for every token and head in place. */
static void ds_rope(const tch_ds_t *ds, int interleave, float *x, int64_t T, int nh, int64_t tok_stride,
                    int64_t head_stride, const int32_t *pos, int P) {
    int half = P / 2;
    #pragma omp parallel for if (T > 4)
    for (int64_t t = 0; t < T; t++)
        for (int j = 0; j < half; j++) {
            float ang = (float)pos[t] * ds->inv_freq[j];
            float c = cosf(ang) * ds->rope_mscale, s = sinf(ang) * ds->rope_mscale;
            int ia = interleave ? 2 * j : j, ib = interleave ? 2 * j + 1 : j + half;
            for (int h = 0; h < nh; h++) {
                float *v = x + t * tok_stride + h * head_stride;
                float a = v[ia], b = v[ib];
                v[ia] = a * c - b * s;
                v[ib] = b * c + a * s;
            }
        }
}

typedef struct dims {
    int Dn, P, Dqk, Dv, R, W;    /* W = R + P, the latent row */
    int Hl;                      /* this rank's heads (q and kv_b hold only those) */
} dims_t;

/* Absorbed: att[T, Hl, Dv] of the local heads from q[T, Hl, Dqk] over the latent cache. */
static r1d_status mla_absorbed(const tch_model_t *m, ops_t *o, const ds_layer_t *L, const ops_kv_t *kv,
                               const ops_attn_seq_t *seqs, int B, const dims_t *d, const float *q, float *att,
                               int64_t T, err_t *e) {
    size_t qa_n = (size_t)(T * d->Hl * d->W);
    float *qa = calloc(qa_n, sizeof(float)), *ol = malloc(qa_n * sizeof(float));
    float *rows = malloc((size_t)d->Hl * (size_t)d->R * sizeof(float));
    if (!qa || !ol || !rows) {
        free(qa), free(ol), free(rows);
        return ERR(e, R1D_ENOMEM, "out of memory in MLA");
    }
    int stride = d->Dn + d->Dv;
    /* q_abs[t,h,:R] = sum_i q_nope[t,h,i] * kv_b[h*stride + i, :]; q_abs[t,h,R:] = q_pe[t,h] */
    #pragma omp parallel for schedule(static)
    for (int hl = 0; hl < d->Hl; hl++) {
        float *row = rows + (size_t)hl * d->R;
        for (int i = 0; i < d->Dn; i++) {
            ds_weight_row(&L->kv_b, (int64_t)hl * stride + i, row);
            for (int64_t t = 0; t < T; t++) {
                float qv = q[(t * d->Hl + hl) * d->Dqk + i];
                float *dst = qa + (t * d->Hl + hl) * d->W;
                for (int j = 0; j < d->R; j++) dst[j] += qv * row[j];
            }
        }
        for (int64_t t = 0; t < T; t++)
            memcpy(qa + (t * d->Hl + hl) * d->W + d->R, q + (t * d->Hl + hl) * d->Dqk + d->Dn, (size_t)d->P * sizeof(float));
    }
    o->vt->attention(o, ol, qa, kv, seqs, B, d->Hl, m->ds->softmax_scale); /* [T, Hl, W]; the first R are V */
    /* att[t,h,v] = ol[t,h,:R] . kv_b[h*stride + Dn + v, :] */
    #pragma omp parallel for schedule(static)
    for (int hl = 0; hl < d->Hl; hl++) {
        float *row = rows + (size_t)hl * d->R;
        for (int v = 0; v < d->Dv; v++) {
            ds_weight_row(&L->kv_b, (int64_t)hl * stride + d->Dn + v, row);
            for (int64_t t = 0; t < T; t++) {
                const float *src = ol + (t * d->Hl + hl) * d->W;
                float s = 0;
                for (int j = 0; j < d->R; j++) s += src[j] * row[j];
                att[(t * d->Hl + hl) * d->Dv + v] = s;
            }
        }
    }
    free(qa), free(ol), free(rows);
    return R1D_OK;
}

/* Naive: per sequence, expand its whole context into keys/values of the local heads and
 * attend; att[T, Hl, Dv]. */
static r1d_status mla_naive(const tch_model_t *m, ops_t *o, const ds_layer_t *L, const ops_kv_t *kv,
                            const ops_attn_seq_t *seqs, int B, const dims_t *d, const float *q, float *att, err_t *e) {
    const float *cache = kv->k;
    int D = d->Dqk > d->Dv ? d->Dqk : d->Dv, stride = d->Dn + d->Dv;
    int64_t t0 = 0;
    for (int b = 0; b < B; b++) {
        int32_t n_ctx = seqs[b].n_ctx, n_new = seqs[b].n_new;
        float *lat = malloc((size_t)n_ctx * (size_t)d->R * sizeof(float));
        float *kvb = malloc((size_t)n_ctx * (size_t)d->Hl * (size_t)stride * sizeof(float));
        float *K = calloc((size_t)n_ctx * (size_t)d->Hl * (size_t)D, sizeof(float));
        float *V = calloc((size_t)n_ctx * (size_t)d->Hl * (size_t)D, sizeof(float));
        float *Q = calloc((size_t)n_new * (size_t)d->Hl * (size_t)D, sizeof(float));
        float *O = malloc((size_t)n_new * (size_t)d->Hl * (size_t)D * sizeof(float));
        r1d_status st = R1D_OK;
        if (!lat || !kvb || !K || !V || !Q || !O) {
            st = ERR(e, R1D_ENOMEM, "out of memory in MLA (context of %d tokens)", n_ctx);
            goto next;
        }
        for (int32_t p = 0; p < n_ctx; p++) {
            const float *row = cache + ((size_t)seqs[b].blocks[p / kv->block_size] * kv->block_size +
                                        (size_t)(p % kv->block_size)) * (size_t)d->W;
            memcpy(lat + (size_t)p * d->R, row, (size_t)d->R * sizeof(float));
            for (int h = 0; h < d->Hl; h++)
                memcpy(K + ((size_t)p * d->Hl + h) * D + d->Dn, row + d->R, (size_t)d->P * sizeof(float));
        }
        ds_linear(m->ds, o, kvb, lat, &L->kv_b, n_ctx); /* [n_ctx, Hl, Dn + Dv] */
        for (int32_t p = 0; p < n_ctx; p++)
            for (int h = 0; h < d->Hl; h++) {
                const float *src = kvb + ((size_t)p * d->Hl + h) * stride;
                memcpy(K + ((size_t)p * d->Hl + h) * D, src, (size_t)d->Dn * sizeof(float));
                memcpy(V + ((size_t)p * d->Hl + h) * D, src + d->Dn, (size_t)d->Dv * sizeof(float));
            }
        for (int32_t i = 0; i < n_new; i++)
            for (int h = 0; h < d->Hl; h++)
                memcpy(Q + ((size_t)i * d->Hl + h) * D, q + ((t0 + i) * d->Hl + h) * d->Dqk,
                       (size_t)d->Dqk * sizeof(float));
        int32_t block0 = 0;
        ops_kv_t tmp = {K, V, n_ctx, 1, d->Hl, D};
        ops_attn_seq_t s = {n_new, n_ctx, &block0};
        o->vt->attention(o, O, Q, &tmp, &s, 1, d->Hl, m->ds->softmax_scale);
        for (int32_t i = 0; i < n_new; i++)
            for (int h = 0; h < d->Hl; h++)
                memcpy(att + ((t0 + i) * d->Hl + h) * d->Dv, O + ((size_t)i * d->Hl + h) * D, (size_t)d->Dv * sizeof(float));
    next:
        free(lat), free(kvb), free(K), free(V), free(Q), free(O);
        if (st != R1D_OK) return st;
        t0 += n_new;
    }
    return R1D_OK;
}

/* AUTO picks, per sequence, the path with fewer multiply-adds: naive expands the whole
 * context through kv_b (n_ctx (Dn + Dv) R per head) and attends over Dqk + Dv values per
 * cached token; absorbed folds kv_b into each new row (n_new (Dn + Dv) R) and attends over
 * the latent rows twice (2 (R + P) per cached token). Whole prompts go naive, decode and
 * speculative verification rows absorbed. */
static int use_naive(const tch_ds_t *ds, const dims_t *d, const ops_attn_seq_t *s) {
    if (ds->mla != TCH_MLA_AUTO) return ds->mla == TCH_MLA_NAIVE;
    double expand = (double)(d->Dn + d->Dv) * d->R, ctx = s->n_ctx, n = s->n_new;
    return ctx * expand + n * ctx * (d->Dqk + d->Dv) < n * expand + n * ctx * 2 * d->W;
}

r1d_status ds_mla(const tch_model_t *m, ops_t *o, const ds_layer_t *L, ops_kv_t *kv, const ops_attn_seq_t *seqs,
                  int B, const int32_t *pos, const float *h, float *out, int64_t T, err_t *e) {
    const cfg_model_t *c = &m->cfg;
    const tch_ds_t *ds = m->ds;
    dims_t d = {c->qk_nope_head_dim, c->qk_rope_head_dim, c->head_dim, c->v_head_dim, c->kv_lora_rank, 0,
                c->n_heads / ds->size};
    d.W = d.R + d.P;
    float eps = (float)c->rms_norm_eps;
    int Rq = c->q_lora_rank;
    float *q = malloc((size_t)(T * d.Hl * d.Dqk) * sizeof(float)); /* [T, Hl, Dqk] */
    float *qa = Rq ? malloc((size_t)(T * 2 * Rq) * sizeof(float)) : NULL;
    float *kva = malloc((size_t)(T * d.W) * sizeof(float));
    float *cn = malloc((size_t)(T * 2 * d.R) * sizeof(float));
    float *att = malloc((size_t)(T * d.Hl * d.Dv) * sizeof(float)); /* [T, Hl, Dv] */
    r1d_status st = R1D_OK;
    if (!q || (Rq && !qa) || !kva || !cn || !att) {
        st = ERR(e, R1D_ENOMEM, "out of memory in MLA (%lld tokens)", (long long)T);
        goto out;
    }
    if (Rq) {
        ds_linear(ds, o, qa, h, &L->q_a, T);
        o->vt->rmsnorm(o, qa + T * Rq, qa, &L->q_a_norm, eps, T, Rq);
        ds_linear(ds, o, q, qa + T * Rq, &L->q_b, T);
    } else {
        ds_linear(ds, o, q, h, &L->q, T);
    }
    ds_linear(ds, o, kva, h, &L->kv_a, T);
    /* latent row = [rmsnorm(c) | rope(k_pe)], in place in kva */
    for (int64_t t = 0; t < T; t++) memcpy(cn + t * d.R, kva + t * d.W, (size_t)d.R * sizeof(float));
    o->vt->rmsnorm(o, cn + T * d.R, cn, &L->kv_a_norm, eps, T, d.R);
    for (int64_t t = 0; t < T; t++) memcpy(kva + t * d.W, cn + (T + t) * d.R, (size_t)d.R * sizeof(float));
    ds_rope(ds, c->rope_interleave, kva + d.R, T, 1, d.W, 0, pos, d.P);
    ds_rope(ds, c->rope_interleave, q + d.Dn, T, d.Hl, (int64_t)d.Hl * d.Dqk, d.Dqk, pos, d.P);
    o->vt->kv_store(o, kv, kva, kva, seqs, B);
    /* runs of consecutive sequences that take the same path */
    for (int b0 = 0, b1; b0 < B && st == R1D_OK; b0 = b1) {
        int naive = use_naive(ds, &d, &seqs[b0]);
        int64_t t0 = 0, rows = 0;
        for (int b = 0; b < b0; b++) t0 += seqs[b].n_new;
        for (b1 = b0; b1 < B && use_naive(ds, &d, &seqs[b1]) == naive; b1++) rows += seqs[b1].n_new;
        const float *qs = q + t0 * d.Hl * d.Dqk;
        float *as = att + t0 * d.Hl * d.Dv;
        if (!naive) ds_count(ds, &L->kv_b); /* naive reads it through ds_linear */
        st = naive ? mla_naive(m, o, L, kv, seqs + b0, b1 - b0, &d, qs, as, e)
                   : mla_absorbed(m, o, L, kv, seqs + b0, b1 - b0, &d, qs, as, rows, e);
    }
    if (st == R1D_OK) ds_linear(ds, o, out, att, &L->o, T); /* with a comm: this rank's heads' share of o_proj */
    if (st == R1D_OK && ds->comm) st = comm_allreduce(ds->comm, out, (size_t)(T * c->hidden_size), DT_F32, COMM_SUM, e);
out:
    free(q), free(qa), free(kva), free(cn), free(att);
    if (st != R1D_OK) return st;
    return ops_status(o, e);
}
