/* A randomly initialised dense model folder. The config is written as JSON, then
 * parsed back with core/hf_config.h, whose tensor list (the one the loaders check
 * checkpoints against) decides which tensors exist and their shapes: what is
 * written is exactly what r1d and transformers expect. Weights follow
 * transformers' _init_weights: linear and embedding weights ~ normal(0,
 * initializer_range = 0.02), biases 0, RMSNorm weights 1. Tensor k draws from the
 * Philox stream XXH3-64(name), so a tensor's values do not depend on the others. */
#include "student/init.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/chat.h"
#include "core/file.h"
#include "core/hf_config.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "core/tok.h"

#define INIT_STD 0.02
#define INIT_EPS 1e-6

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static r1d_status cfg_check(const stu_init_cfg_t *c, err_t *e) {
    if (!c->arch || (strcmp(c->arch, "qwen2") && strcmp(c->arch, "llama")))
        return ERR(e, R1D_EUNSUPPORTED, "architecture '%s': expected qwen2 or llama", c->arch ? c->arch : "(none)");
    const struct {
        const char *name;
        int64_t v;
    } pos[] = {{"hidden", c->hidden}, {"layers", c->layers}, {"heads", c->heads}, {"kv_heads", c->kv_heads},
               {"intermediate", c->intermediate}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v < 1 || pos[i].v > (1 << 20))
            return ERR(e, R1D_EINVAL, "%s: expected a positive size, got %lld", pos[i].name, (long long)pos[i].v);
    if (c->hidden % c->heads)
        return ERR(e, R1D_EINVAL, "hidden %lld is not a multiple of heads %lld", (long long)c->hidden,
                   (long long)c->heads);
    if (c->heads % c->kv_heads)
        return ERR(e, R1D_EINVAL, "heads %lld is not a multiple of kv_heads %lld", (long long)c->heads,
                   (long long)c->kv_heads);
    if ((c->hidden / c->heads) % 2)
        return ERR(e, R1D_EINVAL, "head size %lld (hidden / heads) must be even for RoPE",
                   (long long)(c->hidden / c->heads));
    return R1D_OK;
}

/* eos ids: the tokenizer's, plus the chat template's end of turn when it is another token. */
static json_t *eos_ids(const tok_t *tok, const char *tokenizer_dir) {
    json_t *a = json_array();
    int32_t eos = tok_eos_id(tok);
    if (eos >= 0) json_array_append_new(a, json_integer(eos));
    const chat_template_t *t;
    err_t e2 = {0};
    if (chat_template_from_model_dir(tokenizer_dir, &t, &e2) == R1D_OK) {
        int32_t eot = tok_token_id(tok, chat_template_eot(t));
        if (eot >= 0 && eot != eos) json_array_append_new(a, json_integer(eot));
    }
    return a;
}

static json_t *config_json(const stu_init_cfg_t *c, const tok_t *tok, json_t *eos) {
    int qwen = !strcmp(c->arch, "qwen2");
    int32_t bos = tok_bos_id(tok);
    json_t *j = json_pack("{s:[s], s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:b, s:s, s:f, s:f, s:b}",
                          "architectures", qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM", "model_type", c->arch,
                          "vocab_size", (json_int_t)tok_vocab_size(tok), "hidden_size", (json_int_t)c->hidden,
                          "intermediate_size", (json_int_t)c->intermediate, "num_hidden_layers", (json_int_t)c->layers,
                          "num_attention_heads", (json_int_t)c->heads, "num_key_value_heads", (json_int_t)c->kv_heads,
                          "head_dim", (json_int_t)(c->hidden / c->heads), "max_position_embeddings",
                          (json_int_t)(c->max_pos > 0 ? c->max_pos : 2048), "rope_theta",
                          c->rope_theta > 0 ? c->rope_theta : 10000.0, "rms_norm_eps", INIT_EPS, "tie_word_embeddings",
                          c->tie_embeddings, "hidden_act", "silu", "initializer_range", INIT_STD, "attention_dropout",
                          0.0, "use_cache", 1);
    if (!j) return NULL;
    json_object_set_new(j, "bos_token_id", bos >= 0 ? json_integer(bos) : json_null());
    json_object_set(j, "eos_token_id", json_array_size(eos) == 1 ? json_array_get(eos, 0) : eos);
    if (qwen) {
        json_object_set_new(j, "use_sliding_window", json_false());
        json_object_set_new(j, "sliding_window", json_null());
        json_object_set_new(j, "max_window_layers", json_integer(c->layers));
    } else {
        json_object_set_new(j, "attention_bias", json_false());
        json_object_set_new(j, "mlp_bias", json_false());
        json_object_set_new(j, "pretraining_tp", json_integer(1));
    }
    json_object_set_new(j, "torch_dtype", json_string("float32"));
    return j;
}

static r1d_status dump(const json_t *j, const char *dir, const char *name, err_t *e) {
    char path[4096];
    TRY(file_join(path, sizeof path, dir, name, e));
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) : NULL;
    if (!s) return ERR(e, R1D_ENOMEM, "%s: out of memory", path);
    size_t n = strlen(s);
    s[n] = '\n'; /* the terminator becomes the final newline (written as n + 1 bytes) */
    r1d_status st = file_write_atomic(path, s, n + 1, e);
    free(s);
    return st;
}

static r1d_status copy_file(const char *from_dir, const char *to_dir, const char *name, int required, err_t *e) {
    char src[4096], dst[4096];
    TRY(file_join(src, sizeof src, from_dir, name, e));
    TRY(file_join(dst, sizeof dst, to_dir, name, e));
    if (!file_exists(src)) return required ? ERR(e, R1D_ENOTFOUND, "%s: not found (the tokenizer folder needs it)", src) : R1D_OK;
    char *buf;
    size_t n;
    TRY(file_read_all(src, &buf, &n, e));
    r1d_status st = file_write_atomic(dst, buf, n, e);
    free(buf);
    return st;
}

/* The weights of every tensor the config implies, f32, into out_dir/model.safetensors. */
static r1d_status weights_write(const cfg_model_t *m, uint64_t seed, const char *out_dir, err_t *e) {
    cfg_tensors_t l;
    TRY(cfg_tensors_build(m, &l, e));
    float **data = calloc((size_t)l.n, sizeof *data);
    st_writer_t *w = st_writer_init();
    r1d_status st = data && w ? R1D_OK : ERR(e, R1D_ENOMEM, "init: out of memory");
    for (int i = 0; i < l.n && st == R1D_OK; i++) {
        const cfg_tensor_t *t = &l.t[i];
        size_t n = (size_t)cfg_tensor_numel(t);
        data[i] = malloc(n * sizeof *data[i]);
        if (!data[i]) {
            st = ERR(e, R1D_ENOMEM, "init: out of memory for %s", t->name);
            break;
        }
        if (ends_with(t->name, "norm.weight"))
            for (size_t k = 0; k < n; k++) data[i][k] = 1.0f;
        else if (ends_with(t->name, ".bias"))
            memset(data[i], 0, n * sizeof *data[i]);
        else
            rng_fill_normal(seed, XXH3_64bits(t->name, strlen(t->name)), 0, 0.0f, (float)INIT_STD, data[i], n);
        st = st_writer_add(w, t->name, DT_F32, t->ndim, t->shape, data[i], e);
    }
    char path[4096];
    if (st == R1D_OK) st = st_writer_set_metadata(w, "format", "pt", e);
    if (st == R1D_OK) st = file_join(path, sizeof path, out_dir, "model.safetensors", e);
    if (st == R1D_OK) st = st_writer_write(w, path, e);
    st_writer_free(w);
    for (int i = 0; data && i < l.n; i++) free(data[i]);
    free(data);
    cfg_tensors_free(&l);
    return st;
}

r1d_status stu_init_write(const stu_init_cfg_t *c, const char *tokenizer_dir, const char *out_dir, err_t *e) {
    TRY(cfg_check(c, e));
    char tj[4096];
    TRY(file_join(tj, sizeof tj, tokenizer_dir, "tokenizer.json", e));
    tok_t *tok;
    TRY(tok_load(&tok, tj, e));
    json_t *eos = eos_ids(tok, tokenizer_dir);
    json_t *cj = eos ? config_json(c, tok, eos) : NULL;
    json_t *gj = cj ? json_pack("{s:o, s:O, s:b}", "bos_token_id",
                                tok_bos_id(tok) >= 0 ? json_integer(tok_bos_id(tok)) : json_null(), "eos_token_id", eos,
                                "do_sample", 1)
                    : NULL;
    tok_free(tok);
    r1d_status st = gj ? R1D_OK : ERR(e, R1D_ENOMEM, "init: out of memory");
    cfg_model_t m;
    memset(&m, 0, sizeof m);
    int parsed = 0;
    if (st == R1D_OK) st = cfg_model_parse(&m, cj, "init: config.json", e), parsed = st == R1D_OK;
    if (st == R1D_OK) st = file_mkdirs(out_dir, e);
    if (st == R1D_OK) st = weights_write(&m, c->seed, out_dir, e);
    if (st == R1D_OK) st = copy_file(tokenizer_dir, out_dir, "tokenizer.json", 1, e);
    if (st == R1D_OK) st = copy_file(tokenizer_dir, out_dir, "tokenizer_config.json", 0, e);
    if (st == R1D_OK) st = copy_file(tokenizer_dir, out_dir, "special_tokens_map.json", 0, e);
    if (st == R1D_OK) st = copy_file(tokenizer_dir, out_dir, "chat_template.jinja", 0, e);
    if (st == R1D_OK) st = dump(gj, out_dir, "generation_config.json", e);
    /* config.json last: a folder without it is plainly unfinished */
    if (st == R1D_OK) st = dump(cj, out_dir, "config.json", e);
    if (parsed) cfg_model_free(&m);
    json_decref(gj);
    json_decref(cj);
    json_decref(eos);
    return st;
}
