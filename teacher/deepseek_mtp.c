/* Multi-token prediction (DeepSeek-V3's MTP module, layer index n_layers): the pieces
 * that speculative decoding in the scheduler (teacher/generate.c) and `r1d logits --mtp`
 * are built from.
 *   h' = eh_proj([enorm(embed(t_{i+1})) ; hnorm(h_i)])   (embedding first, as vLLM and SGLang)
 *   h'' = decoder block (MLA + MoE, its own latent cache) at position i
 *   draft logits for t_{i+2} = shared_head.head(shared_head.norm(h''))
 * h_i is the main model's final-normed hidden state. Chained drafts feed the MTP's own
 * shared_head.norm output back as h (SGLang's choice; vLLM feeds the pre-norm state).
 * The MTP's latent cache is layer n_layers of the model's cache, under the same page
 * tables: entry i lives at position i. Rolling back needs no copies: a rejected draft's
 * slots lie beyond the accepted length and are overwritten when those positions are
 * computed again. */
#include <stdlib.h>
#include <string.h>

#include "teacher/deepseek.h"

r1d_status tch_ds_check_mtp(const tch_model_t *m, err_t *e) {
    if (!m->ds || !m->ds->has_mtp)
        return ERR(e, R1D_EUNSUPPORTED, "%s: the checkpoint has no MTP layer 'model.layers.%d.*' (needed by --spec mtp "
                   "and --mtp)", m->dir, m->cfg.n_layers);
    return R1D_OK;
}

r1d_status tch_ds_hidden(const tch_model_t *m, ops_t *o, tch_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                         const int32_t *tokens, float *hn, err_t *e) {
    int64_t T;
    int32_t *pos;
    TRY(ds_positions(m, seqs, B, tokens, &T, &pos, e));
    r1d_status st = T ? ds_trunk(m, o, kv, seqs, B, tokens, pos, hn, T, e) : R1D_OK;
    free(pos);
    return st;
}

r1d_status tch_ds_logits(const tch_model_t *m, ops_t *o, const float *hn, int64_t n, float *logits, err_t *e) {
    return n ? ds_head(m, o, hn, n, logits, e) : R1D_OK;
}

r1d_status tch_ds_mtp(const tch_model_t *m, ops_t *o, tch_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                      const int32_t *tok, const float *hid, float *hout, err_t *e) {
    TRY(tch_ds_check_mtp(m, e));
    const cfg_model_t *c = &m->cfg;
    const ds_layer_t *L = &m->ds->layers[c->n_layers];
    int64_t T, C = c->hidden_size;
    float eps = (float)c->rms_norm_eps;
    int32_t *pos;
    TRY(ds_positions(m, seqs, B, tok, &T, &pos, e));
    float *cat = malloc((size_t)(T ? T : 1) * 2 * (size_t)C * sizeof(float)); /* [T, 2C] */
    float *x = malloc((size_t)(T ? T : 1) * (size_t)C * sizeof(float));       /* [T, C] */
    r1d_status st = cat && x ? R1D_OK : ERR(e, R1D_ENOMEM, "out of memory for the MTP module (%lld rows)", (long long)T);
    if (st == R1D_OK && T) {
        /* cat = [enorm(embed(tok)) | hnorm(hid)]; hout serves as scratch (hid may alias nothing else) */
        o->vt->embedding(o, x, tok, &L->embed, T);
        o->vt->rmsnorm(o, hout, x, &L->enorm, eps, T, C);
        o->vt->rmsnorm(o, x, hid, &L->hnorm, eps, T, C);
        for (int64_t i = 0; i < T; i++) {
            memcpy(cat + (size_t)i * 2 * C, hout + (size_t)i * C, (size_t)C * sizeof(float));
            memcpy(cat + (size_t)i * 2 * C + C, x + (size_t)i * C, (size_t)C * sizeof(float));
        }
        ds_linear(m->ds, o, x, cat, &L->eh_proj, T);
        st = ds_block(m, o, L, &kv->layers[c->n_layers], seqs, B, pos, x, T, e);
        if (st == R1D_OK) o->vt->rmsnorm(o, hout, x, &L->head_norm, eps, T, C);
        if (st == R1D_OK) st = ops_status(o, e);
    }
    free(cat), free(x), free(pos);
    return st;
}

r1d_status tch_ds_mtp_head(const tch_model_t *m, ops_t *o, const float *hout, int64_t n, float *logits, err_t *e) {
    TRY(tch_ds_check_mtp(m, e));
    if (!n) return R1D_OK;
    const ds_layer_t *L = &m->ds->layers[m->cfg.n_layers];
    ds_count(m->ds, &L->head);
    o->vt->matmul(o, logits, hout, &L->head, NULL, n);
    return ops_status(o, e);
}

r1d_status tch_ds_mtp_logits(const tch_model_t *m, ops_t *o, const int32_t *ids, int n, float *out, err_t *e) {
    if (n < 2) return ERR(e, R1D_EINVAL, "--mtp needs at least 2 ids (row i drafts token i+2), got %d", n);
    TRY(tch_ds_check_mtp(m, e));
    if (strcmp(o->name, "cpu"))
        return ERR(e, R1D_EUNSUPPORTED, "%s: deepseek_v3 runs on the cpu backend (got '%s')", m->dir, o->name);
    int64_t C = m->cfg.hidden_size;
    tch_kv_t kv;
    tch_pages_t pg = {0};
    TRY(tch_ds_kv_init(m, &kv, o, 16, tch_ds_kv_bytes_per_token(m, o) * (size_t)(n + 16), e));
    float *hn = malloc((size_t)n * (size_t)C * sizeof(float)), *hout = malloc((size_t)n * (size_t)C * sizeof(float));
    r1d_status st = R1D_OK;
    if (!hn || !hout) st = ERR(e, R1D_ENOMEM, "out of memory for %d ids", n);
    else if (!tch_kv_reserve(&kv, &pg, n)) st = ERR(e, R1D_ENOMEM, "latent cache too small for %d tokens", n);
    ops_attn_seq_t s = {n, n, pg.ids}, sm = {n - 1, n - 1, pg.ids};
    if (st == R1D_OK) st = tch_ds_hidden(m, o, &kv, &s, 1, ids, hn, e);
    if (st == R1D_OK) st = tch_ds_mtp(m, o, &kv, &sm, 1, ids + 1, hn, hout, e);
    if (st == R1D_OK) st = tch_ds_mtp_head(m, o, hout, n - 1, out, e);
    tch_kv_release(&kv, &pg);
    tch_kv_free(&kv);
    free(pg.ids), free(hn), free(hout);
    return st;
}
