/* Pre-norm decoder: x += o(attn(rope(q,k), v)) of rmsnorm(x); x += down(swiglu) of
 * rmsnorm(x); final norm; head. Every op goes through the backend's table, so the same
 * code runs on the CPU and on CUDA. */
#include "teacher/forward.h"

#include <stdlib.h>
#include <string.h>

#include "teacher/deepseek.h"

void tch_ws_init(tch_ws_t *ws, ops_t *o) { *ws = (tch_ws_t){.ops = o}; }

static void ws_release(tch_ws_t *ws) {
    ops_t *o = ws->ops;
    void **bufs[] = {&ws->x, &ws->h, &ws->q, &ws->k, &ws->v, &ws->att, &ws->g, &ws->u, &ws->last,
                     (void **)&ws->ids, (void **)&ws->pos};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        o->vt->dealloc(o, *bufs[i]);
        *bufs[i] = NULL;
    }
    free(ws->pos_host);
    ws->pos_host = NULL;
    ws->cap = 0;
}

void tch_ws_free(tch_ws_t *ws) {
    ws_release(ws);
    ws->ops->vt->dealloc(ws->ops, ws->logits_dev);
    ws->logits_dev = NULL;
    ws->logits_cap = 0;
}

static r1d_status ws_reserve(tch_ws_t *ws, const cfg_model_t *c, int64_t T, int64_t rows, err_t *e) {
    ops_t *o = ws->ops;
    size_t a = dt_size(o->act);
    if (T > ws->cap) {
        ws_release(ws);
        int64_t C = c->hidden_size, F = c->intermediate_size;
        int64_t qd = (int64_t)c->n_heads * c->head_dim, kd = (int64_t)c->n_kv_heads * c->head_dim;
        ws->x = o->vt->alloc(o, (size_t)(T * C) * a);     /* [T, C] residual stream */
        ws->h = o->vt->alloc(o, (size_t)(T * C) * a);     /* [T, C] normed / projected */
        ws->q = o->vt->alloc(o, (size_t)(T * qd) * a);    /* [T, H, D] */
        ws->k = o->vt->alloc(o, (size_t)(T * kd) * a);    /* [T, Hkv, D] */
        ws->v = o->vt->alloc(o, (size_t)(T * kd) * a);    /* [T, Hkv, D] */
        ws->att = o->vt->alloc(o, (size_t)(T * qd) * a);  /* [T, H, D] */
        ws->g = o->vt->alloc(o, (size_t)(T * F) * a);     /* [T, F] */
        ws->u = o->vt->alloc(o, (size_t)(T * F) * a);     /* [T, F] */
        ws->last = o->vt->alloc(o, (size_t)(T * C) * a);  /* [rows, C] rows that get logits */
        ws->ids = o->vt->alloc(o, (size_t)T * sizeof(int32_t));
        ws->pos = o->vt->alloc(o, (size_t)T * sizeof(int32_t));
        ws->pos_host = malloc((size_t)T * sizeof(int32_t));
        if (!ws->pos_host) {
            ws_release(ws);
            return ERR(e, R1D_ENOMEM, "out of memory for %lld token positions", (long long)T);
        }
        ws->cap = T;
    }
    if (rows > ws->logits_cap) {
        o->vt->dealloc(o, ws->logits_dev);
        /* f32 logits, then (bf16 backends) the head's own output behind them, 256-byte aligned */
        size_t f32_bytes = ((size_t)(rows * c->vocab_size) * sizeof(float) + 255) & ~(size_t)255;
        ws->logits_dev = o->vt->alloc(o, f32_bytes + (o->act == DT_F32 ? 0 : (size_t)(rows * c->vocab_size) * a));
        ws->logits_cap = rows;
    }
    return ops_status(o, e);
}

static void layer_forward(const tch_model_t *m, tch_ws_t *ws, const tch_layer_t *L, ops_kv_t *kv,
                          const ops_attn_seq_t *seqs, int B, int64_t T) {
    ops_t *o = ws->ops;
    const ops_vtable_t *vt = o->vt;
    const cfg_model_t *c = &m->cfg;
    int64_t C = c->hidden_size;
    vt->rmsnorm(o, ws->h, ws->x, &L->attn_norm, (float)c->rms_norm_eps, T, C);
    vt->matmul(o, ws->q, ws->h, &L->q, L->q_bias, T);
    vt->matmul(o, ws->k, ws->h, &L->k, L->k_bias, T);
    vt->matmul(o, ws->v, ws->h, &L->v, L->v_bias, T);
    vt->rope(o, ws->q, ws->pos, m->inv_freq, T, c->n_heads, c->head_dim);
    vt->rope(o, ws->k, ws->pos, m->inv_freq, T, c->n_kv_heads, c->head_dim);
    vt->kv_store(o, kv, ws->k, ws->v, seqs, B);
    vt->attention(o, ws->att, ws->q, kv, seqs, B, c->n_heads, m->attn_scale);
    vt->matmul(o, ws->h, ws->att, &L->o, L->o_bias, T);
    vt->add(o, ws->x, ws->x, ws->h, T * C);
    vt->rmsnorm(o, ws->h, ws->x, &L->mlp_norm, (float)c->rms_norm_eps, T, C);
    vt->matmul(o, ws->g, ws->h, &L->gate, L->gate_bias, T);
    vt->matmul(o, ws->u, ws->h, &L->up, L->up_bias, T);
    vt->swiglu(o, ws->g, ws->g, ws->u, T * c->intermediate_size);
    vt->matmul(o, ws->h, ws->g, &L->down, L->down_bias, T);
    vt->add(o, ws->x, ws->x, ws->h, T * C);
}

r1d_status tch_kv_init_model(tch_kv_t *kv, ops_t *o, const tch_model_t *m, int32_t block_size, size_t budget_bytes,
                             err_t *e) {
    if (m->ds) return tch_ds_kv_init(m, kv, o, block_size, budget_bytes, e);
    const cfg_model_t *c = &m->cfg;
    return tch_kv_init(kv, o, c->n_layers, c->n_kv_heads, c->head_dim, block_size, budget_bytes, e);
}

size_t tch_kv_bytes_per_token(const tch_model_t *m, const ops_t *o) {
    if (m->ds) return tch_ds_kv_bytes_per_token(m, o);
    const cfg_model_t *c = &m->cfg;
    return (size_t)c->n_layers * 2 * (size_t)c->n_kv_heads * (size_t)c->head_dim * dt_size(o->act);
}

r1d_status tch_forward(const tch_model_t *m, tch_ws_t *ws, tch_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                       const int32_t *tokens, int all_rows, float *logits, err_t *e) {
    if (m->ds) return tch_ds_forward(m, ws, kv, seqs, B, tokens, all_rows, logits, e);
    const cfg_model_t *c = &m->cfg;
    ops_t *o = ws->ops;
    int64_t T = 0, C = c->hidden_size, V = c->vocab_size;
    for (int b = 0; b < B; b++) T += seqs[b].n_new;
    int64_t rows = all_rows ? T : B;
    for (int64_t t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= V)
            return ERR(e, R1D_EINVAL, "token id %d is outside the vocabulary [0, %lld)", tokens[t], (long long)V);
    TRY(ws_reserve(ws, c, T, rows, e));
    int32_t *pos = ws->pos_host;
    for (int b = 0, t = 0; b < B; b++)
        for (int32_t i = 0; i < seqs[b].n_new; i++) pos[t++] = seqs[b].n_ctx - seqs[b].n_new + i;
    o->vt->upload(o, ws->ids, tokens, (size_t)T * sizeof(int32_t));
    o->vt->upload(o, ws->pos, pos, (size_t)T * sizeof(int32_t));

    o->vt->embedding(o, ws->x, ws->ids, &m->embed, T);
    for (int l = 0; l < c->n_layers; l++) layer_forward(m, ws, &m->layers[l], &kv->layers[l], seqs, B, T);

    /* only the rows that need logits go through the final norm and the head */
    size_t row_bytes = (size_t)C * dt_size(o->act);
    if (all_rows) {
        o->vt->rmsnorm(o, ws->last, ws->x, &m->norm, (float)c->rms_norm_eps, T, C);
    } else {
        int64_t t = 0;
        for (int b = 0; b < B; b++) {
            t += seqs[b].n_new;
            /* device-to-device copy through the table: a 1-row add of zeros would cost more */
            o->vt->rmsnorm(o, (char *)ws->last + (size_t)b * row_bytes, (char *)ws->x + (size_t)(t - 1) * row_bytes,
                           &m->norm, (float)c->rms_norm_eps, 1, C);
        }
    }
    if (o->act == DT_F32) {
        o->vt->matmul(o, ws->logits_dev, ws->last, &m->head, NULL, rows);
    } else { /* the head in the activation dtype (as transformers computes it), widened to f32 */
        void *head_out = (char *)ws->logits_dev + (((size_t)(ws->logits_cap * V) * sizeof(float) + 255) & ~(size_t)255);
        o->vt->matmul(o, head_out, ws->last, &m->head, NULL, rows);
        o->vt->to_f32(o, ws->logits_dev, head_out, rows * V);
    }
    o->vt->download(o, logits, ws->logits_dev, (size_t)(rows * V) * sizeof(float));
    return ops_status(o, e);
}
