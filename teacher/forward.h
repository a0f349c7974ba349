/* One forward pass of a dense model over a batch of sequences, each contributing
 * its new tokens (a whole prompt, a prompt chunk, or one decode token) at once. */
#ifndef R1D_TCH_FORWARD_H
#define R1D_TCH_FORWARD_H

#include "teacher/kv.h"
#include "teacher/model.h"

/* Activation workspace in backend memory, grown to the largest T seen. */
typedef struct tch_ws {
    ops_t *ops;
    int64_t cap;            /* tokens */
    void *x, *h, *q, *k, *v, *att, *g, *u, *last; /* see tch_forward */
    int32_t *ids, *pos;     /* [T] in backend memory */
    int32_t *pos_host;      /* [cap] host staging of pos */
    float *logits_dev;      /* [rows, V] */
    int64_t logits_cap;
} tch_ws_t;

void tch_ws_init(tch_ws_t *ws, ops_t *o);
void tch_ws_free(tch_ws_t *ws);

/* The KV cache layout the model needs: paged K/V (dense) or the MLA latent cache (deepseek_v3). */
r1d_status tch_kv_init_model(tch_kv_t *kv, ops_t *o, const tch_model_t *m, int32_t block_size, size_t budget_bytes,
                             err_t *e);
/* Cache bytes one token takes in that layout (all layers). */
size_t tch_kv_bytes_per_token(const tch_model_t *m, const ops_t *o);

/* tokens[T]: the new tokens of seqs[0..B) concatenated (T = sum of n_new), already
 * covered by the sequences' page tables. logits (host, f32): [T, V] when all_rows,
 * else [B, V] for each sequence's last token. */
r1d_status tch_forward(const tch_model_t *m, tch_ws_t *ws, tch_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                       const int32_t *tokens, int all_rows, float *logits, err_t *e);

#endif
