/* DeepSeek-V3/R1 (model_type deepseek_v3) in the teacher engine: MLA attention with a
 * latent KV cache, DeepSeekMoE with the noaux_tc router, FP8 block-scaled weights, and the
 * MTP module for speculative decoding. tch_model_load / tch_forward dispatch here when
 * the config says deepseek_v3. Runs on the CPU backend (f32 activations in host memory).
 * Prefix: tch_ds_ (public), ds_ (between the deepseek_*.c files). */
#ifndef R1D_TCH_DEEPSEEK_H
#define R1D_TCH_DEEPSEEK_H

#include "core/comm.h"
#include "teacher/forward.h"

typedef struct ds_mlp {
    ops_weight_t gate, up, down;   /* gate/up [F, C], down [C, F] */
} ds_mlp_t;

typedef struct ds_layer {
    ops_weight_t attn_norm;        /* [C] */
    ops_weight_t q_a, q_a_norm, q_b; /* [Rq, C], [Rq], [H*Dqk, Rq]  (q_lora_rank set) */
    ops_weight_t q;                /* [H*Dqk, C]                   (q_lora_rank null) */
    ops_weight_t kv_a, kv_a_norm;  /* [R+P, C], [R] */
    ops_weight_t kv_b;             /* [H*(Dn+Dv), R]: per head Dn rows of W_UK then Dv rows of W_UV */
    ops_weight_t o;                /* [C, H*Dv] */
    ops_weight_t mlp_norm;         /* [C] */
    int moe;
    ds_mlp_t mlp;                  /* dense layers */
    ops_weight_t router;           /* [E, C] */
    float *router_bias;            /* [E] e_score_correction_bias, f32 */
    ds_mlp_t *experts;             /* [E] */
    ds_mlp_t shared;               /* n_shared_experts > 0 */
    /* MTP layer only */
    ops_weight_t embed, enorm, hnorm, eh_proj, head_norm, head; /* [V, C], [C], [C], [C, 2C], [C], [V, C] */
} ds_layer_t;

typedef enum { TCH_MLA_AUTO = 0, TCH_MLA_NAIVE, TCH_MLA_ABSORB } tch_mla_mode_t;

typedef struct tch_ds {
    ds_layer_t *layers;            /* [n_layers + has_mtp]; the MTP layer last: layers_full, or this rank's slices */
    ds_layer_t *layers_full;       /* as loaded (views into the mapping) */
    int has_mtp;
    float *inv_freq;               /* [P/2] YaRN-scaled */
    float rope_mscale;             /* YaRN attention_factor on cos/sin */
    float softmax_scale;           /* Dqk^-0.5 * mscale(factor, mscale_all_dim)^2 */
    int act_quant;                 /* emulate the GPU's 1x128 FP8 activation quantisation */
    tch_mla_mode_t mla;            /* AUTO: per sequence, the cheaper (prompts naive, decode absorbed) */
    comm_t *comm;                  /* tensor + expert parallel group, or NULL (one process) */
    int rank, size;                /* in comm; 0 and 1 without */
    ops_weight_t embed_l, head_l;  /* vocab-parallel: rows [v0, v0 + embed_l.rows) of embed and head */
    int64_t v0;
    void **tp_allocs;              /* rank-local copies of column slices, [4 * layers] */
    int64_t *bytes_read;           /* weight bytes the forward passes read (-> read_count; the benchmark's figure) */
    int64_t read_count;
    int n_tp_allocs;
    void **allocs;                 /* f32 copies of scales and biases */
    int n_allocs, cap_allocs;
} tch_ds_t;

/* Called by tch_model_load after the config and checkpoint are checked. */
r1d_status tch_ds_load(tch_model_t *m, int mtp_absent, err_t *e);
void tch_ds_free(tch_ds_t *ds);
r1d_status tch_ds_forward(const tch_model_t *m, tch_ws_t *ws, tch_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                          const int32_t *tokens, int all_rows, float *logits, err_t *e);
/* Latent cache: per token per layer kv_lora_rank + qk_rope_head_dim values (plus the MTP
 * layer when it is loaded, at layer index n_layers). */
r1d_status tch_ds_kv_init(const tch_model_t *m, tch_kv_t *kv, ops_t *o, int32_t block_size, size_t budget_bytes,
                          err_t *e);
size_t tch_ds_kv_bytes_per_token(const tch_model_t *m, const ops_t *o);

/* Tensor + expert parallel over comm (every rank runs the same calls on the same tokens).
 * Rank r of n owns: heads [r*H/n, (r+1)*H/n) (its rows of q_b / q_proj and kv_b, its
 * columns of o_proj; the partial outputs all-reduced); a 1/n column-then-row slice of
 * every dense MLP and shared expert (rows of gate/up, the matching input columns of down);
 * the routed experts [r*E/n, (r+1)*E/n); vocab rows [r*V/n, (r+1)*V/n) of the embedding
 * (looked up where a token falls in the range, zero elsewhere, all-reduced) and of the head
 * (logits all-gathered). MLP, shared and routed outputs are summed in one all-reduce per
 * layer. The router, q_a / kv_a, the norms, the latent cache and the MTP module's own
 * embedding, eh_proj and head are replicated. Row slices are views into the mapping; column slices are rank-local
 * copies. Errors when n does not divide the heads, experts, vocabulary or an MLP width, or
 * when an FP8 tensor's slice would not start on a weight_block_size boundary.
 * NULL: back to one process. */
r1d_status tch_ds_set_comm(tch_model_t *m, comm_t *c, err_t *e);

/* Weight bytes (FP8 data + block scales, 16/32-bit weights) read by every forward since the
 * last call, then reset: linears, router, head and embedding rows, counted per call (a
 * weight used by two calls counts twice; routed experts only when a token chose them). */
int64_t tch_ds_take_bytes_read(const tch_model_t *m);

/* Options: --act-quant fp8, and the MLA path (tests compare naive with absorbed). */
void tch_ds_set_act_quant(tch_model_t *m, int on);
void tch_ds_set_mla(tch_model_t *m, tch_mla_mode_t mode);

/* The MTP module, for speculative decoding in the scheduler (teacher/generate.c, --spec
 * mtp) and r1d logits --mtp. An error naming the missing layer when the checkpoint has none. */
r1d_status tch_ds_check_mtp(const tch_model_t *m, err_t *e);
/* Main model over a batch (as tch_forward): hn[T, C], the final-normed hidden state of every
 * new row (T = sum of n_new), the head's input and the MTP's. */
r1d_status tch_ds_hidden(const tch_model_t *m, ops_t *o, tch_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                         const int32_t *tokens, float *hn, err_t *e);
/* logits[n, V] of the main head on n rows of hn. */
r1d_status tch_ds_logits(const tch_model_t *m, ops_t *o, const float *hn, int64_t n, float *logits, err_t *e);
/* MTP entries over a batch: sequence b's n_new entries are positions n_ctx - n_new .. n_ctx - 1
 * of the MTP layer's cache (layer n_layers of kv, the sequences' page tables); entry i pairs
 * hid's row (the main model's hn at i, or the previous MTP output when chaining drafts) with
 * tok = t_{i+1}. hout[T, C] (not aliasing hid) = the shared_head.norm output: the next chained
 * entry's hid, and the input of tch_ds_mtp_head. */
r1d_status tch_ds_mtp(const tch_model_t *m, ops_t *o, tch_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                      const int32_t *tok, const float *hid, float *hout, err_t *e);
/* Draft logits[n, V] (of token i+2 for entry i) from n rows of hout. */
r1d_status tch_ds_mtp_head(const tch_model_t *m, ops_t *o, const float *hout, int64_t n, float *logits, err_t *e);

/* Draft logits of the MTP module for a sequence (r1d logits --mtp): row i [V] drafts token
 * i+2 from the main model's final-normed hidden state at i and the embedding of token i+1;
 * out is [n-1, V]. */
r1d_status tch_ds_mtp_logits(const tch_model_t *m, ops_t *o, const int32_t *ids, int n, float *out, err_t *e);

/* ---- between deepseek_*.c ---- */

/* x[T, W.cols] -> out[T, W.rows], with the activation quantisation when enabled */
void ds_linear(const tch_ds_t *ds, ops_t *o, float *out, const float *x, const ops_weight_t *w, int64_t T);
/* Frees this rank's slices; layers back to layers_full. */
void ds_tp_drop(tch_ds_t *ds);
/* Logits rows [rows, V] from hn[rows, C] (vocab-parallel with a comm). */
r1d_status ds_head(const tch_model_t *m, ops_t *o, const float *hn, int64_t rows, float *logits, err_t *e);
/* Adds w's bytes to the read counter. */
void ds_count(const tch_ds_t *ds, const ops_weight_t *w);
/* Row r of any weight (F32/BF16/F16/F8 with scales) as f32. */
void ds_weight_row(const ops_weight_t *w, int64_t r, float *dst);
/* MLA of one layer: h[T, C] (normed input) -> out[T, C]; writes the new tokens' latents
 * into kv and reads positions pos[T]. */
r1d_status ds_mla(const tch_model_t *m, ops_t *o, const ds_layer_t *L, ops_kv_t *kv, const ops_attn_seq_t *seqs,
                  int B, const int32_t *pos, const float *h, float *out, int64_t T, err_t *e);
/* MLP of one layer (dense, or MoE: router + experts grouped by token + shared). */
r1d_status ds_ffn(const tch_model_t *m, ops_t *o, const ds_layer_t *L, const float *h, float *out, int64_t T,
                  err_t *e);
/* The noaux_tc router for one token: ids[k] and weights[k] of its experts. */
void ds_route(const cfg_model_t *c, const float *logits, const float *bias, int32_t *ids, float *w);
/* Positions pos[T] of the new tokens (T = sum of n_new), tokens checked against the vocabulary. */
r1d_status ds_positions(const tch_model_t *m, const ops_attn_seq_t *seqs, int B, const int32_t *tokens, int64_t *T,
                        int32_t **pos, err_t *e);
/* Embedding, every main layer, final norm: hn[T, C] (the head's input, also the MTP's). */
r1d_status ds_trunk(const tch_model_t *m, ops_t *o, tch_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                    const int32_t *tokens, const int32_t *pos, float *hn, int64_t T, err_t *e);
/* One decoder block in place on x[T, C]. */
r1d_status ds_block(const tch_model_t *m, ops_t *o, const ds_layer_t *L, ops_kv_t *kv, const ops_attn_seq_t *seqs,
                    int B, const int32_t *pos, float *x, int64_t T, err_t *e);

#endif
