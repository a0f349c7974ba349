/* The demo's task generator (dataset/synth.c, synth_tok.c) and model initialiser
 * (student/init.c): determinism, correct worked solutions (checked by an independent
 * reading of the problem text and by r1d's verifier), disjoint files, the
 * contamination share, the format filter, tokenizer round trips, and an initialised
 * folder that loads and gives finite logits of the expected spread. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/chat.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "core/tok.h"
#include "dataset/filter.h"
#include "dataset/synth.h"
#include "dataset/verify.h"
#include "student/init.h"
#include "teacher/forward.h"
#include "teacher/model.h"
#include "tests/unit/test.h"

static char g_root[256];

static const ds_synth_cfg_t CFG = {.seed = 7, .n_prompts = 300, .n_eval = 50, .n_sft = 300, .min_ops = 2, .max_ops = 4,
                                   .contaminate = 0.1};

static void path_of(char *out, size_t n, const char *dir, const char *name) { snprintf(out, n, "%s/%s/%s", g_root, dir, name); }

static char *read_file(const char *dir, const char *name, size_t *n) {
    char p[512];
    path_of(p, sizeof p, dir, name);
    char *buf = NULL;
    err_t e = {0};
    if (file_read_all(p, &buf, n, &e) != R1D_OK) fprintf(stderr, "%s\n", e.msg);
    return buf;
}

static int write_task(const char *dir, const ds_synth_cfg_t *c) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_root, dir);
    err_t e = {0};
    if (ds_synth_write(c, p, &e) == R1D_OK) return 0;
    fprintf(stderr, "ds_synth_write: %s\n", e.msg);
    return -1;
}

/* All records of a JSONL file, as a JSON array. */
static json_t *load_jsonl(const char *dir, const char *name) {
    char p[512];
    path_of(p, sizeof p, dir, name);
    jsonl_reader_t *r;
    err_t e = {0};
    json_t *arr = json_array(), *v;
    if (jsonl_open(&r, p, &e) != R1D_OK) return arr;
    while (jsonl_next(r, &v, &e) == R1D_OK && v) json_array_append_new(arr, v);
    jsonl_close(r);
    return arr;
}

static const char *str_at(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* The problem part of a prompt ("... now?\nPlease reason ..." -> "... now?"), malloc'd. */
static char *problem_of_prompt(const char *prompt) {
    const char *nl = strchr(prompt, '\n');
    size_t n = nl ? (size_t)(nl - prompt) : strlen(prompt);
    char *s = malloc(n + 1);
    memcpy(s, prompt, n);
    s[n] = 0;
    return s;
}

/* An independent reading of a problem: the sentences' numbers and operations.
 * Sentences with " more" add, "doubles" doubles, the others subtract. Returns the
 * number of operations; start, b[i], op[i] describe them. */
static int read_problem(const char *text, long *start, long *b, char *op, int max) {
    int n = -1;
    const char *s = text;
    while (*s) {
        const char *end = strpbrk(s, ".?");
        if (!end) break;
        char sent[256];
        size_t len = (size_t)(end - s) < sizeof sent - 1 ? (size_t)(end - s) : sizeof sent - 1;
        memcpy(sent, s, len);
        sent[len] = 0;
        s = end + 1;
        while (*s == ' ') s++;
        if (strstr(sent, "How many")) break;
        const char *d = sent;
        while (*d && !isdigit((unsigned char)*d)) d++;
        long v = *d ? strtol(d, NULL, 10) : -1;
        if (n < 0) {
            *start = v;
        } else if (n < max) {
            if (strstr(sent, "doubles")) op[n] = '*', b[n] = 2;
            else op[n] = strstr(sent, " more") ? '+' : '-', b[n] = v;
        }
        n++;
    }
    return n;
}

static long solve(const char *text) {
    long start, b[16];
    char op[16];
    int n = read_problem(text, &start, b, op, 16);
    long cur = start;
    for (int i = 0; i < n && i < 16; i++) cur = op[i] == '+' ? cur + b[i] : op[i] == '-' ? cur - b[i] : cur * b[i];
    return cur;
}

static void test_determinism(void) {
    ds_synth_cfg_t other = CFG;
    other.seed = 8;
    CHECK(write_task("a", &CFG) == 0);
    CHECK(write_task("b", &CFG) == 0);
    CHECK(write_task("c", &other) == 0);
    static const char *const files[] = {"prompts.jsonl", "eval.jsonl", "sft.jsonl", "tokenizer/tokenizer.json",
                                        "tokenizer/tokenizer_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t na = 0, nb = 0, nc = 0;
        char *a = read_file("a", files[i], &na), *b = read_file("b", files[i], &nb), *c = read_file("c", files[i], &nc);
        CHECK_MSG(a && b && na == nb && !memcmp(a, b, na), "%s differs between two runs with the same seed", files[i]);
        if (i < 3) CHECK_MSG(c && (na != nc || memcmp(a, c, na)), "%s is the same for seeds 7 and 8", files[i]);
        free(a);
        free(b);
        free(c);
    }
}

static void test_counts_and_fields(void) {
    json_t *pr = load_jsonl("a", "prompts.jsonl"), *ev = load_jsonl("a", "eval.jsonl"), *sft = load_jsonl("a", "sft.jsonl");
    CHECK_EQ_INT(json_array_size(pr), CFG.n_prompts);
    CHECK_EQ_INT(json_array_size(ev), CFG.n_eval);
    CHECK_EQ_INT(json_array_size(sft), CFG.n_sft);
    size_t i;
    json_t *r;
    json_array_foreach(pr, i, r) {
        CHECK(str_at(r, "id") && str_at(r, "prompt") && str_at(r, "answer"));
        CHECK(str_at(r, "source") && !strcmp(str_at(r, "source"), "synth-arith"));
        CHECK(str_at(r, "domain") && !strcmp(str_at(r, "domain"), "math"));
        CHECK(strstr(str_at(r, "prompt"), "\\boxed{}") != NULL);
    }
    json_array_foreach(ev, i, r) CHECK(str_at(r, "unique_id") && str_at(r, "problem") && str_at(r, "answer"));
    json_decref(pr);
    json_decref(ev);
    json_decref(sft);
}

/* Every gold answer equals an independent solution of its problem text. */
static void test_answers_solve(void) {
    json_t *pr = load_jsonl("a", "prompts.jsonl"), *ev = load_jsonl("a", "eval.jsonl");
    size_t i;
    json_t *r;
    int bad = 0;
    json_array_foreach(ev, i, r) bad += solve(str_at(r, "problem")) != strtol(str_at(r, "answer"), NULL, 10);
    json_array_foreach(pr, i, r) {
        char *p = problem_of_prompt(str_at(r, "prompt"));
        bad += solve(p) != strtol(str_at(r, "answer"), NULL, 10);
        free(p);
    }
    CHECK_EQ_INT(bad, 0);
    json_decref(pr);
    json_decref(ev);
}

/* Worked solutions: one correct operation per line, chained, taken from the problem
 * in order; the boxed answer verifies with r1d's math verifier; the format filter
 * keeps them. */
static void test_solutions(void) {
    json_t *sft = load_jsonl("a", "sft.jsonl");
    const ds_verifier_t *v = ds_verifier_math();
    ds_filter_cfg_t fc;
    ds_filter_cfg_default(&fc);
    size_t i;
    json_t *r;
    int bad_steps = 0, bad_verdict = 0, bad_filter = 0, wrong_gold_ok = 0, min_ops = 99, max_ops = 0;
    json_array_foreach(sft, i, r) {
        json_t *msgs = json_object_get(r, "messages");
        const char *user = str_at(json_array_get(msgs, 0), "content"), *sol = str_at(json_array_get(msgs, 1), "content");
        CHECK(user && sol && !strcmp(str_at(json_array_get(msgs, 0), "role"), "user") &&
              !strcmp(str_at(json_array_get(msgs, 1), "role"), "assistant"));
        if (!user || !sol) continue;
        char *prob = problem_of_prompt(user);
        long start, b[16];
        char op[16];
        int n = read_problem(prob, &start, b, op, 16);
        min_ops = n < min_ops ? n : min_ops;
        max_ops = n > max_ops ? n : max_ops;
        CHECK(!strncmp(sol, "<think>\n", 8));
        /* line 1 restates the first sentence; each next line restates the sentence of
         * its operation (found in the problem) and then does it */
        const char *p = sol + 8, *nl = strchr(p, '\n'), *dot = strchr(prob, '.');
        bad_steps += !nl || !dot || (size_t)(nl - p) != (size_t)(dot + 1 - prob) || strncmp(p, prob, (size_t)(nl - p));
        p = nl ? nl + 1 : p;
        long cur = start;
        for (int k = 0; k < n; k++) {
            nl = strchr(p, '\n');
            if (!nl) {
                bad_steps++;
                break;
            }
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
            char *expr = NULL;
            for (char *q = strstr(line, ". "); q; q = strstr(q + 1, ". ")) expr = q;
            long x, y, z;
            char o;
            if (!expr || sscanf(expr + 2, "%ld %c %ld = %ld", &x, &o, &y, &z) != 4) {
                bad_steps++;
                break;
            }
            expr[1] = 0; /* the restated sentence, with its period */
            long want = o == '+' ? x + y : o == '-' ? x - y : x * y;
            bad_steps += x != cur || o != op[k] || y != b[k] || z != want || z < 0 || !strstr(prob, line);
            cur = z;
            p = nl + 1;
        }
        CHECK(!strncmp(p, "</think>\n\n", 10));
        char gold[32], wrong[32];
        snprintf(gold, sizeof gold, "%ld", cur);
        snprintf(wrong, sizeof wrong, "%ld", cur + 1);
        char *ex = NULL;
        bad_verdict += v->check(v, gold, sol, &ex) != DS_V_CORRECT;
        free(ex);
        ex = NULL;
        wrong_gold_ok += v->check(v, wrong, sol, &ex) == DS_V_CORRECT;
        free(ex);
        json_t *s = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:i}", "id", "p#0", "prompt_id", "p", "sample", 0, "prompt",
                              user, "completion", sol, "finish_reason", "stop", "n_tokens", 40);
        bad_filter += ds_filter_apply(&fc, s, NULL, NULL) != 0;
        json_decref(s);
        free(prob);
    }
    CHECK_EQ_INT(bad_steps, 0);
    CHECK_EQ_INT(bad_verdict, 0);
    CHECK_EQ_INT(wrong_gold_ok, 0);
    CHECK_EQ_INT(bad_filter, 0);
    CHECK_EQ_INT(min_ops, CFG.min_ops);
    CHECK_EQ_INT(max_ops, CFG.max_ops);
    json_decref(sft);
}

static int in_array(char **v, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return 1;
    return 0;
}

static void test_disjoint_and_contamination(void) {
    json_t *pr = load_jsonl("a", "prompts.jsonl"), *ev = load_jsonl("a", "eval.jsonl"), *sft = load_jsonl("a", "sft.jsonl");
    size_t ne = json_array_size(ev), ns = json_array_size(sft), np = json_array_size(pr);
    char **e = calloc(ne, sizeof *e), **s = calloc(ns, sizeof *s), **p = calloc(np, sizeof *p);
    for (size_t i = 0; i < ne; i++) e[i] = strdup(str_at(json_array_get(ev, i), "problem"));
    for (size_t i = 0; i < ns; i++)
        s[i] = problem_of_prompt(str_at(json_array_get(json_object_get(json_array_get(sft, i), "messages"), 0), "content"));
    for (size_t i = 0; i < np; i++) p[i] = problem_of_prompt(str_at(json_array_get(pr, i), "prompt"));
    int sft_in_eval = 0, sft_dup = 0, eval_dup = 0, contam = 0, prompt_in_sft = 0, prompt_dup = 0;
    for (size_t i = 0; i < ne; i++) eval_dup += in_array(e, i, e[i]);
    for (size_t i = 0; i < ns; i++) sft_in_eval += in_array(e, ne, s[i]), sft_dup += in_array(s, i, s[i]);
    for (size_t i = 0; i < np; i++) {
        int c = in_array(e, ne, p[i]);
        contam += c;
        if (!c) prompt_in_sft += in_array(s, ns, p[i]), prompt_dup += in_array(p, i, p[i]);
    }
    CHECK_EQ_INT(eval_dup, 0);
    CHECK_EQ_INT(sft_dup, 0);
    CHECK_EQ_INT(sft_in_eval, 0);
    CHECK_EQ_INT(prompt_in_sft, 0);
    CHECK_EQ_INT(prompt_dup, 0);
    CHECK_EQ_INT(contam, (long long)(CFG.n_prompts * CFG.contaminate));
    for (size_t i = 0; i < ne; i++) free(e[i]);
    for (size_t i = 0; i < ns; i++) free(s[i]);
    for (size_t i = 0; i < np; i++) free(p[i]);
    free(e);
    free(s);
    free(p);
    json_decref(pr);
    json_decref(ev);
    json_decref(sft);
}

static int roundtrips(const tok_t *t, const char *text) {
    tok_ids_t ids = {0};
    char *back = NULL;
    err_t e = {0};
    int ok = tok_encode(t, text, strlen(text), 0, &ids, &e) == R1D_OK &&
             tok_decode(t, ids.ids, ids.n, 0, &back, &e) == R1D_OK && !strcmp(back, text);
    if (!ok) fprintf(stderr, "round trip failed for '%.80s': %s\n", text, e.msg);
    free(back);
    tok_ids_free(&ids);
    return ok;
}

static void test_tokenizer(void) {
    char p[512];
    path_of(p, sizeof p, "a", "tokenizer");
    err_t e = {0};
    tok_t *t = NULL;
    CHECK_OK(tok_load(&t, p, &e), &e);
    if (!t) return;
    const chat_template_t *tpl = NULL;
    CHECK_OK(chat_template_from_model_dir(p, &tpl, &e), &e);
    CHECK(tpl && !strcmp(chat_template_name(tpl), "deepseek-r1"));
    CHECK_EQ_INT(tok_vocab_size(t), 512);
    CHECK(tok_bos_id(t) >= 256 && tok_eos_id(t) >= 256 && tok_bos_id(t) != tok_eos_id(t));
    CHECK(tok_token_id(t, "<think>") >= 0 && tok_token_id(t, "</think>") >= 0);
    CHECK(tok_token_id(t, "<｜User｜>") >= 0 && tok_token_id(t, "<｜Assistant｜>") >= 0);
    CHECK(tok_is_special(t, tok_eos_id(t)) && !tok_is_special(t, tok_token_id(t, "</think>")));
    /* the task's numbers are single tokens after a space, as in "12 + 7 = 19" */
    int multi = 0;
    for (int v = 0; v <= 20; v++) {
        char num[16];
        tok_ids_t ids = {0};
        snprintf(num, sizeof num, " %d", v);
        if (tok_encode(t, num, strlen(num), 0, &ids, &e) != R1D_OK || ids.n != 1) multi++;
        tok_ids_free(&ids);
    }
    CHECK_EQ_INT(multi, 0);
    static const char *const files[] = {"prompts.jsonl", "eval.jsonl", "sft.jsonl"};
    int bad = 0;
    size_t total_tokens = 0, total_bytes = 0;
    for (size_t f = 0; f < 3; f++) {
        json_t *arr = load_jsonl("a", files[f]), *r;
        size_t i;
        json_array_foreach(arr, i, r) {
            if (f == 0) bad += !roundtrips(t, str_at(r, "prompt"));
            if (f == 1) bad += !roundtrips(t, str_at(r, "problem"));
            if (f == 2) {
                json_t *msgs = json_object_get(r, "messages");
                chat_msg_t m[2] = {{"user", str_at(json_array_get(msgs, 0), "content")},
                                   {"assistant", str_at(json_array_get(msgs, 1), "content")}};
                bad += !roundtrips(t, m[0].content) + !roundtrips(t, m[1].content);
                char *full = NULL;
                chat_opts_t o = {0};
                if (tpl && chat_render(tpl, m, 2, &o, &full, &e) == R1D_OK) {
                    bad += !roundtrips(t, full);
                    tok_ids_t ids = {0};
                    if (tok_encode(t, full, strlen(full), 0, &ids, &e) == R1D_OK) total_tokens += ids.n;
                    total_bytes += strlen(full);
                    tok_ids_free(&ids);
                }
                free(full);
            }
        }
        json_decref(arr);
    }
    CHECK_EQ_INT(bad, 0);
    /* the merges must pay: a conversation is far fewer tokens than bytes */
    CHECK_MSG(total_tokens * 3 < total_bytes, "%zu tokens for %zu bytes", total_tokens, total_bytes);
    tok_free(t);
}

static const stu_init_cfg_t INIT = {.arch = "qwen2", .hidden = 32, .layers = 2, .heads = 4, .kv_heads = 2,
                                    .intermediate = 64, .max_pos = 256, .tie_embeddings = 1, .seed = 3};

static int init_to(const char *name, const stu_init_cfg_t *c) {
    char tdir[512], out[512];
    path_of(tdir, sizeof tdir, "a", "tokenizer");
    snprintf(out, sizeof out, "%s/%s", g_root, name);
    err_t e = {0};
    if (stu_init_write(c, tdir, out, &e) == R1D_OK) return 0;
    fprintf(stderr, "stu_init_write: %s\n", e.msg);
    return -1;
}

static void stats(const st_tensor_t *t, double *mean, double *std) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        float x;
        memcpy(&x, (const char *)t->data + 4 * i, 4);
        s += x;
        s2 += (double)x * x;
    }
    *mean = s / (double)t->numel;
    *std = sqrt(s2 / (double)t->numel - *mean * *mean);
}

static void test_init_folder(void) {
    stu_init_cfg_t other = INIT, llama = INIT;
    other.seed = 4;
    llama.arch = "llama";
    llama.tie_embeddings = 0;
    CHECK(init_to("m1", &INIT) == 0);
    CHECK(init_to("m2", &INIT) == 0);
    CHECK(init_to("m3", &other) == 0);
    CHECK(init_to("m4", &llama) == 0);
    size_t n1 = 0, n2 = 0, n3 = 0;
    char *a = read_file("m1", "model.safetensors", &n1), *b = read_file("m2", "model.safetensors", &n2),
         *c = read_file("m3", "model.safetensors", &n3);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, n1));
    CHECK(c && n1 == n3 && memcmp(a, c, n1));
    free(a);
    free(b);
    free(c);
    char p[512];
    path_of(p, sizeof p, "m1", "model.safetensors");
    err_t e = {0};
    st_file_t *f = NULL;
    CHECK_OK(st_open(&f, p, &e), &e);
    if (!f) return;
    const st_tensor_t *emb = st_find(f, "model.embed_tokens.weight"), *norm = st_find(f, "model.layers.1.input_layernorm.weight"),
                      *qb = st_find(f, "model.layers.0.self_attn.q_proj.bias"), *up = st_find(f, "model.layers.0.mlp.up_proj.weight");
    CHECK(emb && norm && qb && up && !st_find(f, "lm_head.weight"));
    if (emb && norm && qb && up) {
        CHECK_EQ_INT(emb->shape[0], 512);
        CHECK_EQ_INT(emb->shape[1], 32);
        CHECK(emb->dtype == DT_F32);
        double m, s;
        stats(emb, &m, &s);
        CHECK_NEAR(m, 0, 0.002);
        CHECK_NEAR(s, 0.02, 0.001);
        stats(up, &m, &s);
        CHECK_NEAR(s, 0.02, 0.002);
        stats(norm, &m, &s);
        CHECK_NEAR(m, 1, 0);
        CHECK_NEAR(s, 0, 0);
        stats(qb, &m, &s);
        CHECK_NEAR(m, 0, 0);
        CHECK_NEAR(s, 0, 0);
    }
    st_close(f);
    path_of(p, sizeof p, "m4", "model.safetensors");
    CHECK_OK(st_open(&f, p, &e), &e);
    if (f) {
        CHECK(st_find(f, "lm_head.weight") && !st_find(f, "model.layers.0.self_attn.q_proj.bias"));
        st_close(f);
    }
}

/* The folder loads in the inference engine; logits of a prompt are finite and spread
 * as a tied N(0, 0.02) head over a unit-RMS hidden state predicts: std ~ 0.02 sqrt(C). */
static void test_init_logits(void) {
    char dir[512], tj[512];
    snprintf(dir, sizeof dir, "%s/m1", g_root);
    path_of(tj, sizeof tj, "m1", "tokenizer.json");
    err_t e = {0};
    tch_model_t *m = NULL;
    ops_t *o = NULL;
    tok_t *t = NULL;
    CHECK_OK(tch_model_load(&m, dir, &e), &e);
    CHECK_OK(ops_cpu_init(&o, &e), &e);
    CHECK_OK(tok_load(&t, tj, &e), &e);
    if (!m || !o || !t) goto done;
    CHECK_EQ_INT(m->cfg.vocab_size, tok_vocab_size(t));
    CHECK_EQ_INT(m->cfg.eos.n, 1);
    CHECK_EQ_INT(m->cfg.eos.ids[0], tok_eos_id(t));
    tok_ids_t ids = {0};
    const char *text = "Mia has 12 shells. She finds 7 more shells.";
    CHECK_OK(tok_encode(t, text, strlen(text), 0, &ids, &e), &e);
    int n = (int)ids.n;
    tch_kv_t kv = {0};
    tch_ws_t ws = {0};
    CHECK_OK(tch_kv_init_model(&kv, o, m, 16, tch_kv_bytes_per_token(m, o) * (size_t)(n + 16), &e), &e);
    if (kv.layers) {
        tch_ws_init(&ws, o);
        int64_t V = m->cfg.vocab_size;
        float *logits = malloc((size_t)n * (size_t)V * sizeof *logits);
        tch_pages_t pg = {0};
        CHECK(logits && tch_kv_reserve(&kv, &pg, n));
        ops_attn_seq_t s = {n, n, pg.ids};
        CHECK_OK(tch_forward(m, &ws, &kv, &s, 1, ids.ids, 1, logits, &e), &e);
        double s1 = 0, s2 = 0;
        int finite = 1;
        for (int64_t i = 0; i < (int64_t)n * V; i++) finite &= isfinite(logits[i]), s1 += logits[i], s2 += (double)logits[i] * logits[i];
        double mean = s1 / ((double)n * V), sd = sqrt(s2 / ((double)n * V) - mean * mean);
        CHECK(finite);
        CHECK_MSG(sd > 0.02 * sqrt(32.0) * 0.6 && sd < 0.02 * sqrt(32.0) * 1.6, "logit std %g, expected ~%g", sd,
                  0.02 * sqrt(32.0));
        free(pg.ids);
        free(logits);
        tch_ws_free(&ws);
        tch_kv_free(&kv);
    }
    tok_ids_free(&ids);
done:
    tok_free(t);
    ops_free(o);
    tch_model_free(m);
}

static void test_bad_configs(void) {
    err_t e = {0};
    char out[512];
    snprintf(out, sizeof out, "%s/bad", g_root);
    ds_synth_cfg_t c = CFG;
    c.min_ops = 4, c.max_ops = 2;
    CHECK_ERR(ds_synth_write(&c, out, &e), &e, "min_ops <= max_ops");
    c = CFG;
    c.max_ops = 40;
    CHECK_ERR(ds_synth_write(&c, out, &e), &e, "max_ops <= 12");
    c = CFG;
    c.n_eval = 0;
    CHECK_ERR(ds_synth_write(&c, out, &e), &e, "n_eval");
    c = CFG;
    c.contaminate = 1.5;
    CHECK_ERR(ds_synth_write(&c, out, &e), &e, "contaminate");
    c = CFG;
    c.n_sft = 0;
    CHECK_ERR(ds_synth_write(&c, out, &e), &e, "n_sft");
    CHECK(!file_exists(out));
    char tdir[512];
    path_of(tdir, sizeof tdir, "a", "tokenizer");
    stu_init_cfg_t i = INIT;
    i.arch = "gpt2";
    CHECK_ERR(stu_init_write(&i, tdir, out, &e), &e, "architecture 'gpt2': expected qwen2 or llama");
    i = INIT;
    i.hidden = 30;
    CHECK_ERR(stu_init_write(&i, tdir, out, &e), &e, "not a multiple of heads");
    i = INIT;
    i.kv_heads = 3;
    CHECK_ERR(stu_init_write(&i, tdir, out, &e), &e, "not a multiple of kv_heads");
    i = INIT;
    i.layers = 0;
    CHECK_ERR(stu_init_write(&i, tdir, out, &e), &e, "layers: expected a positive size");
    i = INIT;
    snprintf(tdir, sizeof tdir, "%s/no-such-tokenizer", g_root);
    CHECK_ERR(stu_init_write(&i, tdir, out, &e), &e, "no-such-tokenizer");
    CHECK(!file_exists(out));
}

int main(void) {
    log_set_level(LOG_WARN);
    snprintf(g_root, sizeof g_root, "/tmp/r1d-test-synth-XXXXXX");
    if (!mkdtemp(g_root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_determinism);
    RUN(test_counts_and_fields);
    RUN(test_answers_solve);
    RUN(test_solutions);
    RUN(test_disjoint_and_contamination);
    RUN(test_tokenizer);
    RUN(test_init_folder);
    RUN(test_init_logits);
    RUN(test_bad_configs);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_root);
    return test_summary("test_synth");
}
