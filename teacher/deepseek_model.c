/* Loading a deepseek_v3 checkpoint: weights stay in the mapping (FP8 ones with f32
 * copies of their block scales, which are small and may be unaligned in the file), YaRN
 * frequencies and the softmax-scale correction, the MTP layer when present. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "teacher/deepseek.h"

static void *ds_keep(tch_ds_t *ds, size_t bytes) {
    if (ds->n_allocs == ds->cap_allocs) {
        int cap = ds->cap_allocs ? ds->cap_allocs * 2 : 64;
        void **a = realloc(ds->allocs, (size_t)cap * sizeof *a);
        if (!a) return NULL;
        ds->allocs = a;
        ds->cap_allocs = cap;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (p) ds->allocs[ds->n_allocs++] = p;
    return p;
}

/* A weight by name; F8_E4M3 ones take name + "_scale_inv" as their block scales. */
static r1d_status get(tch_model_t *m, const char *name, ops_weight_t *w, err_t *e) {
    tch_ds_t *ds = m->ds;
    const st_tensor_t *t = st_model_find(m->st, name);
    if (!t) return ERR(e, R1D_ENOTFOUND, "%s: tensor '%s' is missing", m->dir, name);
    if (t->ndim != 1 && t->ndim != 2)
        return ERR(e, R1D_EFORMAT, "%s: tensor '%s' has %d dimensions, expected 1 or 2", m->dir, name, t->ndim);
    *w = (ops_weight_t){t->data, t->dtype, t->ndim == 2 ? t->shape[0] : 1, t->shape[t->ndim - 1]};
    if (t->dtype == DT_F32 || t->dtype == DT_BF16 || t->dtype == DT_F16) return R1D_OK;
    if (t->dtype != DT_F8_E4M3 || t->ndim != 2)
        return ERR(e, R1D_EUNSUPPORTED, "%s: tensor '%s' has dtype %s; expected F32, BF16, F16 or a 2-D F8_E4M3", m->dir,
                   name, dt_name(t->dtype));
    const cfg_quant_t *q = &m->cfg.quant;
    if (q->method != CFG_QUANT_FP8)
        return ERR(e, R1D_EFORMAT, "%s: tensor '%s' is F8_E4M3 but config.json has no fp8 quantization_config", m->dir,
                   name);
    char sn[300];
    snprintf(sn, sizeof sn, "%s_scale_inv", name);
    const st_tensor_t *s = st_model_find(m->st, sn);
    int64_t nr = (w->rows + q->block[0] - 1) / q->block[0], nc = (w->cols + q->block[1] - 1) / q->block[1];
    if (!s) return ERR(e, R1D_ENOTFOUND, "%s: tensor '%s' (the block scales of an F8_E4M3 weight) is missing", m->dir, sn);
    if (s->dtype != DT_F32 || s->ndim != 2 || s->shape[0] != nr || s->shape[1] != nc)
        return ERR(e, R1D_EFORMAT, "%s: tensor '%s': expected F32 [%lld, %lld] (blocks of %dx%d), got %s with %d dims", m->dir,
                   sn, (long long)nr, (long long)nc, q->block[0], q->block[1], dt_name(s->dtype), s->ndim);
    float *sc = ds_keep(ds, (size_t)(nr * nc) * sizeof(float));
    if (!sc) return ERR(e, R1D_ENOMEM, "out of memory for '%s'", sn);
    memcpy(sc, s->data, (size_t)(nr * nc) * sizeof(float));
    w->scale = sc;
    w->block_rows = q->block[0];
    w->block_cols = q->block[1];
    return R1D_OK;
}

static r1d_status mlp_get(tch_model_t *m, const char *p, ds_mlp_t *f, err_t *e) {
    char n[300];
    snprintf(n, sizeof n, "%s.gate_proj.weight", p);
    TRY(get(m, n, &f->gate, e));
    snprintf(n, sizeof n, "%s.up_proj.weight", p);
    TRY(get(m, n, &f->up, e));
    snprintf(n, sizeof n, "%s.down_proj.weight", p);
    return get(m, n, &f->down, e);
}

static r1d_status layer_get(tch_model_t *m, int i, ds_layer_t *L, err_t *e) {
    const cfg_model_t *c = &m->cfg;
    char n[300];
#define W(field, suffix) (snprintf(n, sizeof n, "model.layers.%d.%s", i, suffix), get(m, n, &L->field, e))
    TRY(W(attn_norm, "input_layernorm.weight"));
    if (c->q_lora_rank) {
        TRY(W(q_a, "self_attn.q_a_proj.weight"));
        TRY(W(q_a_norm, "self_attn.q_a_layernorm.weight"));
        TRY(W(q_b, "self_attn.q_b_proj.weight"));
    } else {
        TRY(W(q, "self_attn.q_proj.weight"));
    }
    TRY(W(kv_a, "self_attn.kv_a_proj_with_mqa.weight"));
    TRY(W(kv_a_norm, "self_attn.kv_a_layernorm.weight"));
    TRY(W(kv_b, "self_attn.kv_b_proj.weight"));
    TRY(W(o, "self_attn.o_proj.weight"));
    TRY(W(mlp_norm, "post_attention_layernorm.weight"));
    L->moe = cfg_layer_is_moe(c, i);
    if (!L->moe) {
        snprintf(n, sizeof n, "model.layers.%d.mlp", i);
        return mlp_get(m, n, &L->mlp, e);
    }
    TRY(W(router, "mlp.gate.weight"));
    ops_weight_t b;
    snprintf(n, sizeof n, "model.layers.%d.mlp.gate.e_score_correction_bias", i);
    TRY(get(m, n, &b, e)); /* copied to f32: unaligned in the file, and read per token */
    if (!(L->router_bias = ds_keep(m->ds, (size_t)b.cols * sizeof(float)))) return ERR(e, R1D_ENOMEM, "out of memory");
    dt_convert_to_f32(L->router_bias, b.data, b.dtype, (size_t)b.cols);
    if (!(L->experts = ds_keep(m->ds, (size_t)c->n_routed_experts * sizeof *L->experts)))
        return ERR(e, R1D_ENOMEM, "out of memory");
    for (int j = 0; j < c->n_routed_experts; j++) {
        snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%d", i, j);
        TRY(mlp_get(m, n, &L->experts[j], e));
    }
    if (c->n_shared_experts > 0) {
        snprintf(n, sizeof n, "model.layers.%d.mlp.shared_experts", i);
        TRY(mlp_get(m, n, &L->shared, e));
    }
    if (i >= c->n_layers) { /* the MTP module around its block */
        TRY(W(embed, "embed_tokens.weight"));
        TRY(W(enorm, "enorm.weight"));
        TRY(W(hnorm, "hnorm.weight"));
        TRY(W(eh_proj, "eh_proj.weight"));
        TRY(W(head_norm, "shared_head.norm.weight"));
        TRY(W(head, "shared_head.head.weight"));
    }
#undef W
    return R1D_OK;
}

/* YaRN as transformers computes it (f32 frequencies, the correction range floored and
 * ceiled when `truncate`); plain RoPE when rope_scaling is absent. */
static r1d_status rope_init(tch_model_t *m, err_t *e) {
    tch_ds_t *ds = m->ds;
    const cfg_rope_t *r = &m->cfg.rope;
    int dim = m->cfg.qk_rope_head_dim, half = dim / 2;
    if (dim % 2) return ERR(e, R1D_EFORMAT, "%s/config.json: qk_rope_head_dim %d is odd", m->dir, dim);
    if (r->type != CFG_ROPE_DEFAULT && r->type != CFG_ROPE_YARN)
        return ERR(e, R1D_EUNSUPPORTED, "%s/config.json: rope_scaling of deepseek_v3 must be yarn or absent", m->dir);
    if (!(ds->inv_freq = ds_keep(ds, (size_t)half * sizeof(float)))) return ERR(e, R1D_ENOMEM, "out of memory");
    double base = r->theta;
    ds->rope_mscale = 1.0f;
    ds->softmax_scale = 1.0f / sqrtf((float)m->cfg.head_dim);
    if (r->type == CFG_ROPE_DEFAULT) {
        for (int j = 0; j < half; j++) ds->inv_freq[j] = 1.0f / powf((float)base, (float)(2 * j) / (float)dim);
        return R1D_OK;
    }
    double factor = r->factor, orig = (double)r->original_max_position;
    double lo = dim * log(orig / (r->beta_fast * 2 * M_PI)) / (2 * log(base));
    double hi = dim * log(orig / (r->beta_slow * 2 * M_PI)) / (2 * log(base));
    if (r->truncate) lo = floor(lo), hi = ceil(hi);
    if (lo < 0) lo = 0;
    if (hi > dim - 1) hi = dim - 1;
    if (lo == hi) hi += 0.001;
    for (int j = 0; j < half; j++) {
        float pos_freq = powf((float)base, (float)(2 * j) / (float)dim);
        float extra = 1.0f / pos_freq, inter = 1.0f / ((float)factor * pos_freq);
        float ramp = ((float)j - (float)lo) / ((float)hi - (float)lo);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        float ef = 1.0f - ramp; /* share of the original (extrapolated) frequency */
        ds->inv_freq[j] = inter * (1.0f - ef) + extra * ef;
    }
    ds->rope_mscale = (float)r->attention_factor;
    /* transformers' yarn_apply_mscale: only mscale_all_dim corrects the softmax scale */
    if (r->mscale_all_dim != 0 && factor > 1) {
        double ms = 0.1 * r->mscale_all_dim * log(factor) + 1.0;
        ds->softmax_scale = (float)((double)ds->softmax_scale * ms * ms);
    }
    return R1D_OK;
}

r1d_status tch_ds_load(tch_model_t *m, int mtp_absent, err_t *e) {
    const cfg_model_t *c = &m->cfg;
    if (c->qkv_bias)
        return ERR(e, R1D_EUNSUPPORTED, "%s/config.json: attention_bias true is not supported for deepseek_v3", m->dir);
    if (c->n_kv_heads != c->n_heads)
        return ERR(e, R1D_EFORMAT, "%s/config.json: num_key_value_heads %d != num_attention_heads %d (MLA has one latent)",
                   m->dir, c->n_kv_heads, c->n_heads);
    if (!(m->ds = calloc(1, sizeof *m->ds))) return ERR(e, R1D_ENOMEM, "out of memory");
    tch_ds_t *ds = m->ds;
    ds->size = 1;
    ds->bytes_read = &ds->read_count;
    ds->has_mtp = c->n_mtp_layers > 0 && !mtp_absent;
    if (c->n_mtp_layers > 0 && mtp_absent)
        log_warn("%s: config.json has %d MTP layer(s) but the checkpoint has no 'model.layers.%d.*' tensors: "
                 "speculative decoding with MTP is unavailable", m->dir, c->n_mtp_layers, c->n_layers);
    if (c->n_mtp_layers > 1 && ds->has_mtp)
        log_warn("%s: %d MTP layers; r1d uses the first (as DeepSeek-V3/R1 ship one)", m->dir, c->n_mtp_layers);
    TRY(get(m, "model.embed_tokens.weight", &m->embed, e));
    TRY(get(m, "model.norm.weight", &m->norm, e));
    if (c->tie_word_embeddings) m->head = m->embed;
    else TRY(get(m, "lm_head.weight", &m->head, e));
    if (m->embed.dtype == DT_F8_E4M3 || m->head.dtype == DT_F8_E4M3)
        return ERR(e, R1D_EUNSUPPORTED, "%s: embed_tokens / lm_head must be F32, BF16 or F16", m->dir);
    int nl = c->n_layers + ds->has_mtp;
    if (!(ds->layers = calloc((size_t)nl, sizeof *ds->layers))) return ERR(e, R1D_ENOMEM, "out of memory");
    ds->layers_full = ds->layers;
    for (int i = 0; i < nl; i++) TRY(layer_get(m, i, &ds->layers[i], e));
    return rope_init(m, e);
}

void tch_ds_free(tch_ds_t *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n_allocs; i++) free(ds->allocs[i]);
    free(ds->allocs);
    ds_tp_drop(ds);
    free(ds->layers_full);
    free(ds);
}

void tch_ds_set_act_quant(tch_model_t *m, int on) {
    if (m->ds) m->ds->act_quant = on;
}

void tch_ds_set_mla(tch_model_t *m, tch_mla_mode_t mode) {
    if (m->ds) m->ds->mla = mode;
}

size_t tch_ds_kv_bytes_per_token(const tch_model_t *m, const ops_t *o) {
    const cfg_model_t *c = &m->cfg;
    return (size_t)(c->n_layers + m->ds->has_mtp) * (size_t)(c->kv_lora_rank + c->qk_rope_head_dim) * dt_size(o->act);
}

r1d_status tch_ds_kv_init(const tch_model_t *m, tch_kv_t *kv, ops_t *o, int32_t block_size, size_t budget_bytes,
                          err_t *e) {
    const cfg_model_t *c = &m->cfg;
    TRY(tch_kv_init_latent(kv, o, c->n_layers + m->ds->has_mtp, c->kv_lora_rank + c->qk_rope_head_dim, block_size,
                           budget_bytes, e));
    log_info("MLA latent cache: %zu bytes per token (%d layers x %d values), %lld tokens in %zu MiB",
             tch_ds_kv_bytes_per_token(m, o), c->n_layers + m->ds->has_mtp, c->kv_lora_rank + c->qk_rope_head_dim,
             (long long)kv->n_blocks * kv->block_size, kv->bytes >> 20);
    return R1D_OK;
}

void ds_weight_row(const ops_weight_t *w, int64_t r, float *dst) {
    if (w->dtype != DT_F8_E4M3) {
        const char *row = (const char *)w->data + (size_t)r * (size_t)w->cols * dt_size(w->dtype);
        dt_convert_to_f32(dst, row, w->dtype, (size_t)w->cols);
        return;
    }
    const uint8_t *src = (const uint8_t *)w->data + (size_t)r * (size_t)w->cols;
    int64_t bc = w->block_cols, ncb = (w->cols + bc - 1) / bc;
    const float *srow = w->scale + (r / w->block_rows) * ncb;
    dt_convert_to_f32(dst, src, DT_F8_E4M3, (size_t)w->cols); /* bulk: no call per byte */
    for (int64_t cb = 0; cb < ncb; cb++) {
        float s = srow[cb];
        for (int64_t c = cb * bc; c < (cb + 1) * bc && c < w->cols; c++) dst[c] *= s;
    }
}

int64_t tch_ds_take_bytes_read(const tch_model_t *m) {
    int64_t n = *m->ds->bytes_read;
    *m->ds->bytes_read = 0;
    return n;
}

void ds_count(const tch_ds_t *ds, const ops_weight_t *w) {
    int64_t n = w->rows * w->cols * (int64_t)dt_size(w->dtype);
    if (w->dtype == DT_F8_E4M3)
        n = w->rows * w->cols + (int64_t)sizeof(float) * ((w->rows + w->block_rows - 1) / w->block_rows) *
                                    ((w->cols + w->block_cols - 1) / w->block_cols);
    *ds->bytes_read += n;
}

void ds_linear(const tch_ds_t *ds, ops_t *o, float *out, const float *x, const ops_weight_t *w, int64_t T) {
    ds_count(ds, w);
    if (!ds->act_quant || w->dtype != DT_F8_E4M3) {
        o->vt->matmul(o, out, x, w, NULL, T);
        return;
    }
    float *xq = malloc((size_t)(T * w->cols) * sizeof(float));
    if (!xq) {
        o->status = ERR(&o->err, R1D_ENOMEM, "out of memory for activation quantisation");
        return;
    }
    memcpy(xq, x, (size_t)(T * w->cols) * sizeof(float));
    o->vt->act_quant_fp8(o, xq, T, w->cols, w->block_cols);
    o->vt->matmul(o, out, xq, w, NULL, T);
    free(xq);
}
