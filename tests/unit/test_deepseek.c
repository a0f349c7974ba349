/* deepseek_v3 (MLA, DeepSeekMoE, FP8 block scales, YaRN) against transformers: tiny
 * random models written by tools/gen_deepseek_fixtures.py with transformers' float32
 * logits and greedy continuations; naive MLA against absorbed MLA; --act-quant fp8; bad
 * checkpoints; the MTP module's logits against a PyTorch MTP around transformers' decoder
 * layer (speculative decoding with it: test_spec.c); the capacity planner on R1's config;
 * the CLI flags end to end. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "teacher/deepseek.h"
#include "teacher/generate.h"
#include "teacher/plan.h"
#include "test.h"

#define FIX "tests/fixtures/deepseek"
static const char *MODELS[] = {"qlora_bf16", "mtp_bf16", "noq_f32", "fp8", "tp4_fp8"};
#define N_MODELS 5

typedef struct ref {
    int32_t prompt[64], greedy[64];
    int n_prompt, n_greedy;
    float *logits; /* [n_prompt + n_greedy, V] */
    float *aq;     /* [n_prompt, V] with the FP8 activation quantisation (fp8 model), or NULL */
    float *mtp;    /* [rows - 1, V] MTP draft logits (models with an MTP layer), or NULL */
    int64_t rows, V;
    double max_abs, margin;
} ref_t;

static int ref_load(ref_t *r, const char *name, err_t *e) {
    char path[512];
    snprintf(path, sizeof path, FIX "/%s/ref.json", name);
    json_t *j;
    memset(r, 0, sizeof *r);
    if (js_load_file(path, &j, e) != R1D_OK) return 0;
    json_t *p = json_object_get(j, "prompt"), *g = json_object_get(j, "greedy"), *l = json_object_get(j, "logits");
    json_t *sh = json_object_get(j, "logits_shape");
    r->n_prompt = (int)json_array_size(p);
    r->n_greedy = (int)json_array_size(g);
    for (int i = 0; i < r->n_prompt; i++) r->prompt[i] = (int32_t)json_integer_value(json_array_get(p, i));
    for (int i = 0; i < r->n_greedy; i++) r->greedy[i] = (int32_t)json_integer_value(json_array_get(g, i));
    r->rows = json_integer_value(json_array_get(sh, 0));
    r->V = json_integer_value(json_array_get(sh, 1));
    r->logits = malloc((size_t)(r->rows * r->V) * sizeof(float));
    for (size_t i = 0; i < json_array_size(l); i++) r->logits[i] = (float)json_real_value(json_array_get(l, i));
    json_t *aq = json_object_get(j, "logits_act_quant");
    if (aq && (r->aq = malloc(json_array_size(aq) * sizeof(float))))
        for (size_t i = 0; i < json_array_size(aq); i++) r->aq[i] = (float)json_real_value(json_array_get(aq, i));
    json_t *mt = json_object_get(j, "mtp_logits");
    if (mt && (r->mtp = malloc(json_array_size(mt) * sizeof(float))))
        for (size_t i = 0; i < json_array_size(mt); i++) r->mtp[i] = (float)json_real_value(json_array_get(mt, i));
    r->max_abs = json_real_value(json_object_get(j, "max_abs_logit"));
    r->margin = json_real_value(json_object_get(j, "min_top2_margin_greedy"));
    json_decref(j);
    return r->rows == r->n_prompt + r->n_greedy;
}

typedef struct {
    tch_model_t *m;
    ops_t *o;
    tch_kv_t kv;
    tch_ws_t ws;
} engine_t;

static int engine_open(engine_t *g, const char *dir, err_t *e) {
    memset(g, 0, sizeof *g);
    if (tch_model_load(&g->m, dir, e) != R1D_OK || ops_cpu_init(&g->o, e) != R1D_OK) return 0;
    if (tch_kv_init_model(&g->kv, g->o, g->m, 4, 1 << 20, e) != R1D_OK) return 0;
    tch_ws_init(&g->ws, g->o);
    return 1;
}

static void engine_close(engine_t *g) {
    if (g->o) tch_ws_free(&g->ws);
    if (g->kv.layers) tch_kv_free(&g->kv);
    ops_free(g->o);
    tch_model_free(g->m);
}

static double max_err(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Prefill ids[0..n) in chunks, then each of `decode` further ids one at a time; logits of every row. */
static r1d_status run_seq(engine_t *g, const int32_t *ids, int n, int chunk, float *logits, err_t *e) {
    tch_pages_t pg = {0};
    int64_t V = g->m->cfg.vocab_size;
    r1d_status st = R1D_OK;
    for (int done = 0; done < n && st == R1D_OK;) {
        int k = n - done < chunk ? n - done : chunk;
        if (!tch_kv_reserve(&g->kv, &pg, done + k)) {
            st = ERR(e, R1D_ENOMEM, "kv full");
            break;
        }
        ops_attn_seq_t s = {k, done + k, pg.ids};
        st = tch_forward(g->m, &g->ws, &g->kv, &s, 1, ids + done, 1, logits + (size_t)done * V, e);
        done += k;
    }
    tch_kv_release(&g->kv, &pg);
    free(pg.ids);
    return st;
}

/* transformers' logits within 1e-4 of max |logit|: prefill of the whole sequence (naive
 * MLA), prompt prefill + token-by-token decode (absorbed MLA), and chunks of 3. */
static void check_model(const char *name) {
    char dir[256];
    snprintf(dir, sizeof dir, FIX "/%s", name);
    err_t e;
    ref_t r;
    engine_t g;
    if (!ref_load(&r, name, &e) || !engine_open(&g, dir, &e)) {
        CHECK_MSG(0, "%s: %s", name, e.msg);
        free(r.logits), free(r.aq), free(r.mtp);
        return;
    }
    int32_t all[128];
    memcpy(all, r.prompt, (size_t)r.n_prompt * sizeof(int32_t));
    memcpy(all + r.n_prompt, r.greedy, (size_t)r.n_greedy * sizeof(int32_t));
    int n = (int)r.rows;
    size_t N = (size_t)(n * r.V);
    float *got = calloc(N, sizeof(float));
    double tol = 1e-4 * fmax(1.0, r.max_abs);
    int chunks[] = {n, 1, 3};
    for (int c = 0; c < 3; c++) {
        CHECK_OK(run_seq(&g, all, n, chunks[c], got, &e), &e);
        double err = max_err(got, r.logits, N);
        CHECK_MSG(err <= tol, "%s chunk %d: max |logit error| %g (max |logit| %g)", name, chunks[c], err, r.max_abs);
        for (int i = 0; i < r.n_greedy; i++) {
            int32_t tok = ops_argmax(got + (size_t)(r.n_prompt - 1 + i) * r.V, r.V);
            CHECK_MSG(tok == r.greedy[i], "%s chunk %d: greedy %d is %d, transformers %d", name, chunks[c], i, tok,
                      r.greedy[i]);
        }
        if (c == 0) fprintf(stderr, "%s: max |logit error| %.3g of max |logit| %.3g, greedy margin %.3g\n", name, err,
                            r.max_abs, r.margin);
    }
    free(got);
    free(r.logits), free(r.aq), free(r.mtp);
    engine_close(&g);
}

static void test_qlora_bf16(void) { check_model("qlora_bf16"); }
static void test_mtp_bf16(void) { check_model("mtp_bf16"); }
static void test_noq_f32(void) { check_model("noq_f32"); }
static void test_fp8(void) { check_model("fp8"); }
static void test_tp4_fp8(void) { check_model("tp4_fp8"); }

/* The two MLA paths give the same logits over the same cache contents. */
static void test_naive_equals_absorbed(void) {
    for (int k = 0; k < N_MODELS; k++) {
        char dir[256];
        snprintf(dir, sizeof dir, FIX "/%s", MODELS[k]);
        err_t e;
        ref_t r;
        engine_t g;
        if (!ref_load(&r, MODELS[k], &e) || !engine_open(&g, dir, &e)) {
            CHECK_MSG(0, "%s: %s", MODELS[k], e.msg);
            free(r.logits), free(r.aq), free(r.mtp);
            return;
        }
        int32_t all[128];
        memcpy(all, r.prompt, (size_t)r.n_prompt * sizeof(int32_t));
        memcpy(all + r.n_prompt, r.greedy, (size_t)r.n_greedy * sizeof(int32_t));
        size_t N = (size_t)(r.rows * r.V);
        float *a = calloc(N, sizeof(float)), *b = calloc(N, sizeof(float));
        tch_ds_set_mla(g.m, TCH_MLA_NAIVE);
        CHECK_OK(run_seq(&g, all, (int)r.rows, 4, a, &e), &e);
        tch_ds_set_mla(g.m, TCH_MLA_ABSORB);
        CHECK_OK(run_seq(&g, all, (int)r.rows, 4, b, &e), &e);
        double err = max_err(a, b, N);
        CHECK_MSG(err <= 1e-5 * fmax(1.0, r.max_abs), "%s: naive vs absorbed %g", MODELS[k], err);
        fprintf(stderr, "%s: naive vs absorbed max |diff| %.3g\n", MODELS[k], err);
        free(a), free(b), free(r.logits), free(r.aq), free(r.mtp);
        engine_close(&g);
    }
}

/* --act-quant fp8 against transformers with the same 1x128 activation quantisation hooked
 * into every FP8 linear (tools/gen_deepseek_fixtures.py act_quant_logits). Position 0
 * (whose attention sees only itself) must match like the unquantised logits: every
 * quantised linear, experts included, is on its path. Later positions amplify f32
 * rounding: an input a few ulps from an E4M3 rounding midpoint lands on the other side
 * (seen with an earlier fixture: layer 0's dense MLP of position 1 differed by 1e-3 after
 * agreeing to 1e-6 before it, 0.21 in the logits), so they are only held below half the
 * quantisation's own effect. The committed fixture agrees to 2e-6 everywhere. */
static void test_act_quant(void) {
    err_t e;
    ref_t r;
    engine_t g;
    if (!ref_load(&r, "fp8", &e) || !engine_open(&g, FIX "/fp8", &e)) {
        CHECK_MSG(0, "%s", e.msg);
        free(r.logits), free(r.aq), free(r.mtp);
        return;
    }
    size_t N = (size_t)(r.n_prompt * r.V);
    float *a = calloc(N, sizeof(float));
    tch_ds_set_act_quant(g.m, 1);
    CHECK_OK(run_seq(&g, r.prompt, r.n_prompt, r.n_prompt, a, &e), &e);
    double unq = max_err(a, r.logits, N), err = r.aq ? max_err(a, r.aq, N) : INFINITY;
    double err0 = r.aq ? max_err(a, r.aq, (size_t)r.V) : INFINITY;
    fprintf(stderr, "fp8 --act-quant fp8: |logit error| vs transformers with the same quantisation: position 0 %.3g, "
            "all %.3g (effect of the quantisation %.3g)\n", err0, err, unq);
    CHECK_MSG(err0 <= 1e-4 * r.max_abs, "act-quant position 0 error %g", err0);
    CHECK_MSG(err < 0.5 * unq && unq > 0.01, "act-quant error %g, effect %g", err, unq);
    free(a), free(r.logits), free(r.aq), free(r.mtp);
    engine_close(&g);
}

/* Through the continuous-batching scheduler: greedy output equals transformers'. */
typedef struct {
    const ref_t *r;
    int given, got, match;
} gen_ctx_t;

static r1d_status src(void *ctx, tch_request_t *q, int *has, err_t *e) {
    (void)e;
    gen_ctx_t *c = ctx;
    *has = c->given < 3;
    if (!*has) return R1D_OK;
    *q = (tch_request_t){.id = (uint64_t)c->given++, .prompt = c->r->prompt, .n_prompt = c->r->n_prompt,
                         .max_new = c->r->n_greedy};
    return R1D_OK;
}

static r1d_status sink(void *ctx, const tch_result_t *res, err_t *e) {
    (void)e;
    gen_ctx_t *c = ctx;
    c->got++;
    c->match += res->n_ids == c->r->n_greedy && !memcmp(res->ids, c->r->greedy, (size_t)res->n_ids * sizeof(int32_t));
    return R1D_OK;
}

static void test_generate(void) {
    for (int k = 0; k < N_MODELS; k++) {
        char dir[256];
        snprintf(dir, sizeof dir, FIX "/%s", MODELS[k]);
        err_t e;
        ref_t r;
        tch_model_t *m = NULL;
        ops_t *o = NULL;
        if (!ref_load(&r, MODELS[k], &e)) CHECK_MSG(0, "%s", e.msg);
        CHECK_OK(tch_model_load(&m, dir, &e), &e);
        CHECK_OK(ops_cpu_init(&o, &e), &e);
        if (m && o) {
            tch_gen_opts_t opts;
            tch_gen_opts_default(&opts);
            opts.block_size = 4;
            opts.max_step_tokens = 5; /* prompts prefilled in chunks next to decode tokens */
            opts.kv_bytes = 1 << 20;
            gen_ctx_t c = {.r = &r};
            CHECK_OK(tch_generate(m, o, &opts, src, sink, &c, NULL, &e), &e);
            CHECK_MSG(c.got == 3 && c.match == 3, "%s: %d of %d match", MODELS[k], c.match, c.got);
        }
        ops_free(o);
        tch_model_free(m);
        free(r.logits), free(r.aq), free(r.mtp);
    }
}

/* Runs "$R1D ARGS" (the r1d binary, set by `make test`) into cli_out; its exit code. */
static char cli_out[4096];

static int r1d(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"%s\" %s 2>&1", getenv("R1D"), args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(cli_out, 1, sizeof cli_out - 1, p);
    cli_out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- bad checkpoints: copies of a fixture with one thing broken ---- */

static char tmpdir[256];

/* Writes FIX/<name> to tmpdir with tensors filtered/replaced by edit() and config.json by cfg_edit(). */
typedef int (*tensor_edit_fn)(const st_tensor_t *t, st_writer_t *w, err_t *e); /* 1: handled */

static int copy_fixture(const char *name, tensor_edit_fn edit, const char *drop_config_key) {
    char src[512], dst[512];
    err_t e;
    snprintf(src, sizeof src, FIX "/%s/config.json", name);
    snprintf(dst, sizeof dst, "%s/config.json", tmpdir);
    json_t *j;
    if (js_load_file(src, &j, &e) != R1D_OK) return 0;
    if (drop_config_key) json_object_del(j, drop_config_key);
    char *txt = json_dumps(j, 0);
    json_decref(j);
    r1d_status st = file_write_atomic(dst, txt, strlen(txt), &e);
    free(txt);
    if (st != R1D_OK) return 0;
    snprintf(src, sizeof src, FIX "/%s/model.safetensors", name);
    snprintf(dst, sizeof dst, "%s/model.safetensors", tmpdir);
    st_file_t *f;
    if (st_open(&f, src, &e) != R1D_OK) return 0;
    st_writer_t *w = st_writer_init();
    for (int i = 0; i < st_count(f) && st == R1D_OK; i++) {
        const st_tensor_t *t = st_at(f, i);
        if (edit && edit(t, w, &e)) continue;
        st = st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, &e);
    }
    if (st == R1D_OK) st = st_writer_write(w, dst, &e);
    st_writer_free(w);
    st_close(f);
    return st == R1D_OK;
}

static const char *TARGET = "model.layers.1.mlp.experts.2.up_proj.weight_scale_inv";

static int drop_scale(const st_tensor_t *t, st_writer_t *w, err_t *e) {
    (void)w, (void)e;
    return !strcmp(t->name, TARGET);
}

static int reshape_scale(const st_tensor_t *t, st_writer_t *w, err_t *e) {
    if (strcmp(t->name, TARGET)) return 0;
    int64_t shape[2] = {t->shape[1], t->shape[0] * 1 + 1}; /* [1,2] -> [2,2] */
    static float buf[64];
    memset(buf, 0, sizeof buf);
    st_writer_add(w, t->name, DT_F32, 2, shape, buf, e);
    return 1;
}

static int drop_mtp(const st_tensor_t *t, st_writer_t *w, err_t *e) {
    (void)w, (void)e;
    return !strncmp(t->name, "model.layers.3.", 15);
}

static void test_bad_checkpoints(void) {
    err_t e;
    tch_model_t *m = NULL;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/r1d_test_deepseek_%d", (int)getpid());
    CHECK_OK(file_mkdirs(tmpdir, &e), &e);
    CHECK(copy_fixture("fp8", drop_scale, NULL));
    CHECK_ERR(tch_model_load(&m, tmpdir, &e), &e, "experts.2.up_proj.weight_scale_inv' is missing");
    CHECK(copy_fixture("fp8", reshape_scale, NULL));
    CHECK_ERR(tch_model_load(&m, tmpdir, &e), &e, "experts.2.up_proj.weight_scale_inv");
    CHECK(copy_fixture("fp8", NULL, "quantization_config"));
    CHECK_ERR(tch_model_load(&m, tmpdir, &e), &e, "F8_E4M3");
    /* MTP promised by the config but absent: loads, without MTP */
    CHECK(copy_fixture("qlora_bf16", drop_mtp, NULL));
    CHECK_OK(tch_model_load(&m, tmpdir, &e), &e);
    if (m) CHECK(m->ds && !m->ds->has_mtp);
    if (m) CHECK_ERR(tch_ds_check_mtp(m, &e), &e, "has no MTP layer 'model.layers.3.*' (needed by --spec mtp");
    tch_model_free(m);
    if (getenv("R1D")) { /* the CLI warns at load, then refuses --spec */
        char args[600];
        snprintf(args, sizeof args, "generate --model %s --ids 1,2 --format ids --spec mtp", tmpdir);
        CHECK(r1d(args) != 0 && strstr(cli_out, "has 1 MTP layer(s) but the checkpoint has no 'model.layers.3.*' "
                                                "tensors: speculative decoding with MTP is unavailable") &&
              strstr(cli_out, "has no MTP layer 'model.layers.3.*'"));
        snprintf(args, sizeof args, "generate --model %s --ids 1,2 --format ids --max-new 3", tmpdir);
        CHECK_EQ_INT(r1d(args), 0);
    }
    m = NULL;
    CHECK_OK(tch_model_load(&m, FIX "/qlora_bf16", &e), &e);
    if (m) CHECK(m->ds && m->ds->has_mtp);
    tch_model_free(m);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", tmpdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", tmpdir);
    unlink(p);
    rmdir(tmpdir);
}

/* The MTP module's draft logits against the PyTorch MTP of tools/gen_deepseek_fixtures.py
 * (transformers' decoder layer with enorm/hnorm/eh_proj/shared_head around it). */
static void test_mtp_logits(void) {
    err_t e;
    ref_t r;
    engine_t g;
    if (!ref_load(&r, "qlora_bf16", &e) || !r.mtp || !engine_open(&g, FIX "/qlora_bf16", &e)) {
        CHECK_MSG(0, "%s", r.mtp ? e.msg : "ref.json has no mtp_logits");
        free(r.logits), free(r.aq), free(r.mtp);
        return;
    }
    int32_t all[128];
    memcpy(all, r.prompt, (size_t)r.n_prompt * sizeof(int32_t));
    memcpy(all + r.n_prompt, r.greedy, (size_t)r.n_greedy * sizeof(int32_t));
    size_t N = (size_t)((r.rows - 1) * r.V);
    float *got = calloc(N, sizeof(float)), mx = 0;
    for (size_t i = 0; i < N; i++) mx = fmaxf(mx, fabsf(r.mtp[i]));
    CHECK_OK(tch_ds_mtp_logits(g.m, g.o, all, (int)r.rows, got, &e), &e);
    double err = max_err(got, r.mtp, N);
    fprintf(stderr, "MTP draft logits: max |error| %.3g of max |logit| %.3g\n", err, mx);
    CHECK_MSG(err <= 1e-4 * fmax(1.0, mx), "MTP logits error %g", err);
    CHECK_ERR(tch_ds_mtp_logits(g.m, g.o, all, 1, got, &e), &e, "at least 2 ids");
    free(got), free(r.logits), free(r.aq), free(r.mtp);
    engine_close(&g);
}

/* `r1d logits --mtp / --act-quant fp8`, `r1d generate --spec mtp` (single and batch mode)
 * and `r1d plan` end to end (needs $R1D). */
static void test_cli(void) {
    if (!getenv("R1D")) SKIP("$R1D (path of bin/r1d) not set; run through make test");
    err_t e;
    ref_t r;
    char args[2048], path[256], ids[1024] = "";
    snprintf(path, sizeof path, "/tmp/r1d_test_deepseek_cli_%d.f32", (int)getpid());
    CHECK(ref_load(&r, "qlora_bf16", &e) && r.mtp);
    for (int i = 0; i < r.rows; i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%d", i ? "," : "",
                 i < r.n_prompt ? r.prompt[i] : r.greedy[i - r.n_prompt]);
    snprintf(args, sizeof args, "logits --model " FIX "/qlora_bf16 --mtp --ids %s --out %s", ids, path);
    CHECK_EQ_INT(r1d(args), 0);
    char *buf = NULL;
    size_t n = 0;
    CHECK_OK(file_read_all(path, &buf, &n, &e), &e);
    CHECK_EQ_INT(n, (size_t)((r.rows - 1) * r.V) * sizeof(float));
    if (buf && r.mtp && n == (size_t)((r.rows - 1) * r.V) * sizeof(float))
        CHECK_MSG(max_err((const float *)buf, r.mtp, n / sizeof(float)) < 1e-3, "r1d logits --mtp differs");
    free(buf), free(r.logits), free(r.aq), free(r.mtp);
    /* --act-quant fp8: position 0 as transformers with the same quantisation */
    CHECK(ref_load(&r, "fp8", &e) && r.aq);
    snprintf(args, sizeof args, "logits --model " FIX "/fp8 --act-quant fp8 --ids %d,%d --out %s", r.prompt[0], r.prompt[1], path);
    CHECK_EQ_INT(r1d(args), 0);
    buf = NULL;
    CHECK_OK(file_read_all(path, &buf, &n, &e), &e);
    if (buf && r.aq && n == (size_t)(2 * r.V) * sizeof(float))
        CHECK_MSG(max_err((const float *)buf, r.aq, (size_t)r.V) < 1e-4 * r.max_abs, "r1d logits --act-quant differs");
    free(buf), free(r.logits), free(r.aq), free(r.mtp);
    unlink(path);
    /* errors: no MTP layer; an unknown activation format */
    snprintf(args, sizeof args, "logits --model " FIX "/noq_f32 --mtp --ids 1,2 --out %s", path);
    CHECK(r1d(args) != 0 && strstr(cli_out, "has no MTP layer 'model.layers.2.*'"));
    CHECK(access(path, F_OK) != 0);
    snprintf(args, sizeof args, "logits --model " FIX "/fp8 --act-quant int8 --ids 1,2 --out %s", path);
    CHECK(r1d(args) != 0 && strstr(cli_out, "--act-quant: expected 'fp8'"));
    /* r1d generate --spec mtp prints what plain greedy prints */
    char plain[4096];
    CHECK_EQ_INT(r1d("generate --model " FIX "/mtp_bf16 --ids 5,17,3,40 --max-new 20 --format ids --temperature 0"), 0);
    snprintf(plain, sizeof plain, "%s", cli_out);
    CHECK_EQ_INT(r1d("generate --model " FIX "/mtp_bf16 --ids 5,17,3,40 --max-new 20 --format ids --temperature 0 "
                     "--spec mtp --draft 2"), 0);
    const char *nl = strrchr(plain, '\n'), *start = plain;
    for (const char *p = plain; p < nl; p++) /* the ids line is the last line of the output */
        if (*p == '\n') start = p + 1;
    char ids_line[1024] = "";
    snprintf(ids_line, sizeof ids_line, "%.*s", (int)(nl - start), start);
    CHECK_MSG(strlen(ids_line) > 10 && strstr(cli_out, ids_line), "spec output '%s' lacks plain '%s'", cli_out, ids_line);
    CHECK(strstr(cli_out, "drafts accepted"));
    CHECK_EQ_INT(r1d("generate --model " FIX "/mtp_bf16 --ids 5,17 --format ids --temperature 0.5 --spec mtp"), 0);
    CHECK_EQ_INT(r1d("generate --model " FIX "/mtp_bf16 --ids 5,17 --format ids --temperature 0.5 --top-p 0.9 --spec mtp"), 0);
    CHECK(r1d("generate --model " FIX "/mtp_bf16 --ids 5,17 --format ids --temperature 0.5 --repetition-penalty 1.2 --spec mtp") != 0 &&
          strstr(cli_out, "--spec mtp takes no --repetition-penalty"));
    /* r1d plan: the real R1 layout, and one that does not fit */
    CHECK_EQ_INT(r1d("plan --model " FIX "/r1_config.json --gpus 8 --gpu-mem 141"), 0);
    CHECK(strstr(cli_out, "71424 bytes per token") && strstr(cli_out, "671.03B parameters"));
    CHECK_EQ_INT(r1d("plan --model " FIX "/r1_config.json --gpus 8 --gpu-mem 80"), 1);
    CHECK(strstr(cli_out, "does not fit"));
}

/* Last line of cli_out (the ids of `generate --format ids`; logs go before it). */
static void last_line(char *dst, size_t cap) {
    const char *nl = strrchr(cli_out, '\n'), *start = cli_out;
    if (!nl) nl = cli_out + strlen(cli_out);
    for (const char *p = cli_out; p < nl; p++)
        if (*p == '\n') start = p + 1;
    snprintf(dst, cap, "%.*s", (int)(nl - start), start);
}

/* `mpirun -np 2 / 4 r1d logits` and greedy `r1d generate` equal one process on tp4_fp8
 * (tensor + expert + vocab parallel, FP8 slices on 8x8 block boundaries); fp8's 128x128
 * blocks cannot split its 24 q_b rows per rank: one clear error, no output file. */
static void test_cli_mpi(void) {
    if (!getenv("R1D")) SKIP("$R1D (path of bin/r1d) not set; run through make test");
    if (system("mpirun --version >/dev/null 2>&1")) SKIP("no mpirun");
    char args[2048], path[256], one_ids[1024], par_ids[1024];
    const char *ids = "3,17,60,1,44,9,23,5,38";
    err_t e;
    snprintf(path, sizeof path, "/tmp/r1d_test_deepseek_mpi_%d.f32", (int)getpid());
    snprintf(args, sizeof args, "logits --model " FIX "/tp4_fp8 --ids %s --out %s", ids, path);
    CHECK_EQ_INT(r1d(args), 0);
    char *one = NULL, *par = NULL;
    size_t n1 = 0, np_ = 0;
    CHECK_OK(file_read_all(path, &one, &n1, &e), &e);
    snprintf(args, sizeof args, "generate --model " FIX "/tp4_fp8 --ids %s --max-new 12 --format ids --temperature 0", ids);
    CHECK_EQ_INT(r1d(args), 0);
    last_line(one_ids, sizeof one_ids);
    for (int np = 2; np <= 4; np += 2) {
        unlink(path);
        char *saved = strdup(getenv("R1D"));
        setenv("R1D", "mpirun", 1); /* r1d() runs "$R1D" ARGS: here mpirun -np N r1d ... */
        setenv("ASAN_OPTIONS", "fast_unwind_on_malloc=0", 1); /* sanitized builds: cli/lsan.c */
        snprintf(args, sizeof args, "-np %d \"%s\" logits --model " FIX "/tp4_fp8 --ids %s --out %s", np, saved, ids, path);
        CHECK_EQ_INT(r1d(args), 0);
        par = NULL;
        CHECK_OK(file_read_all(path, &par, &np_, &e), &e);
        if (one && par && n1 == np_ && n1 > 0) {
            float mx = 0;
            for (size_t i = 0; i < n1 / 4; i++) mx = fmaxf(mx, fabsf(((float *)one)[i]));
            double err = max_err((const float *)par, (const float *)one, n1 / 4);
            CHECK_MSG(err <= 1e-5 * fmax(1.0, mx), "mpirun -np %d r1d logits: max |diff| %g", np, err);
        } else {
            CHECK_MSG(0, "mpirun -np %d r1d logits: %zu bytes, one process %zu", np, np_, n1);
        }
        free(par);
        /* every rank logs to stderr, which mpirun may print after rank 0's ids: keep it quiet */
        snprintf(args, sizeof args, "-np %d \"%s\" --log-level warn generate --model " FIX "/tp4_fp8 --ids %s --max-new 12 "
                 "--format ids --temperature 0", np, saved, ids);
        CHECK_EQ_INT(r1d(args), 0);
        last_line(par_ids, sizeof par_ids);
        CHECK_MSG(strlen(one_ids) > 10 && !strcmp(one_ids, par_ids), "np %d: greedy '%s', one process '%s'", np, par_ids,
                  one_ids);
        if (np == 2) {
            unlink(path);
            snprintf(args, sizeof args, "-np 2 \"%s\" logits --model " FIX "/fp8 --ids 1,2 --out %s", saved, path);
            CHECK(r1d(args) != 0 && strstr(cli_out, "q_b_proj.weight' [48, 40]: 2 ranks would split its rows into slices "
                                                     "of 24, not a multiple of its FP8 block of 128"));
            CHECK(access(path, F_OK) != 0);
            /* multi-rank runs are deepseek_v3's; batch mode stays one process */
            snprintf(args, sizeof args, "-np 2 \"%s\" logits --model tests/fixtures/dense/qwen2_tied_f32 --ids 1,2 --out %s",
                     saved, path);
            CHECK(r1d(args) != 0 && strstr(cli_out, "multi-rank runs (mpirun) are for deepseek_v3 models, this is qwen2"));
            snprintf(args, sizeof args, "-np 2 \"%s\" generate --model " FIX "/tp4_fp8 --in %s.in --out %s", saved, path,
                     path);
            CHECK(r1d(args) != 0 && strstr(cli_out, "--in: batch mode runs in one process"));
            CHECK(access(path, F_OK) != 0);
        }
        setenv("R1D", saved, 1);
        unsetenv("ASAN_OPTIONS");
        free(saved);
    }
    free(one);
    unlink(path);
}

/* The planner on DeepSeek-R1's published config (tests/fixtures/deepseek/r1_config.json):
 * the parameter counts of DeepSeek's README (671B main, ~37B active, ~11.6B MTP), the
 * MLA cache of 70,272 bytes per token (61 layers x 576 bf16 values), and layouts that fit
 * or not. */
static void test_plan_r1(void) {
    err_t e;
    cfg_model_t c;
    CHECK_OK(cfg_model_load(&c, FIX "/r1_config.json", &e), &e);
    tch_plan_t p;
    tch_plan_in_t in = {8, 0, 0, 141, 4, 4096, 0};
    CHECK_OK(tch_plan_compute(&c, &in, &p, &e), &e);
    CHECK_EQ_INT(p.params_total / 10000000, 67102); /* 671.02..671.03B */
    CHECK(p.params_active > 37000000000LL && p.params_active < 38000000000LL);
    CHECK(p.params_mtp > 11400000000LL && p.params_mtp < 11800000000LL);
    CHECK_NEAR(p.kv_bytes_per_token, 70272, 0);
    CHECK(p.fits && p.tp == 8 && p.ep == 8);
    /* FP8 checkpoint: ~1 byte per routed/dense parameter, bf16 embeddings: 620..640 GiB */
    CHECK(p.weight_bytes > 620.0 * (1 << 30) && p.weight_bytes < 640.0 * (1 << 30));
    CHECK(p.weight_bytes_per_gpu < p.weight_bytes / 7);
    CHECK_EQ_INT(p.max_batch, p.tokens_per_gpu / 4096);
    in.with_mtp = 1;
    CHECK_OK(tch_plan_compute(&c, &in, &p, &e), &e);
    CHECK_NEAR(p.kv_bytes_per_token, 71424, 0);
    in.gpus = 1; /* one H200 cannot hold R1 */
    CHECK_OK(tch_plan_compute(&c, &in, &p, &e), &e);
    CHECK(!p.fits && strstr(p.why, "does not fit"));
    in.gpus = 6;
    CHECK_ERR(tch_plan_compute(&c, &in, &p, &e), &e, "--tp 6 does not divide the 128 attention heads");
    in.gpus = 8, in.ep = 3;
    CHECK_ERR(tch_plan_compute(&c, &in, &p, &e), &e, "--ep 3 does not divide --gpus 8");
    cfg_model_free(&c);
}

int main(void) {
    RUN(test_qlora_bf16);
    RUN(test_mtp_bf16);
    RUN(test_noq_f32);
    RUN(test_fp8);
    RUN(test_tp4_fp8);
    RUN(test_naive_equals_absorbed);
    RUN(test_act_quant);
    RUN(test_generate);
    RUN(test_bad_checkpoints);
    RUN(test_mtp_logits);
    RUN(test_cli);
    RUN(test_cli_mpi);
    RUN(test_plan_r1);
    return test_summary("test_deepseek");
}
