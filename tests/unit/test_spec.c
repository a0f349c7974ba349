/* MTP speculative decoding inside the continuous-batching scheduler (tch_generate with
 * spec_draft > 0) on the tiny deepseek_v3 fixtures of tools/gen_deepseek_fixtures.py:
 * greedy output equal to plain greedy generation for many prompts of mixed lengths in one
 * batch (draft 1..3, chunked prefill, stop ids, preemption forced by a small KV budget),
 * sampling that keeps plain sampling's distribution (chi-square against the exact
 * distribution computed from the main model), and the errors. qlora_bf16's MTP layer is
 * random (its drafts are mostly rejected), mtp_bf16's agrees with its main model a third
 * of the time: both the accept and the reject paths run. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "teacher/deepseek.h"
#include "teacher/generate.h"
#include "test.h"

#define FIX "tests/fixtures/deepseek"
#define NREQ 12
#define MAXNEW 16

typedef struct run {
    int n_req, given, got;
    int32_t prompt[NREQ][16];
    int n_prompt[NREQ], max_new[NREQ];
    int32_t stop[NREQ];      /* -1: none */
    int32_t out[NREQ][MAXNEW + 1];
    int n_out[NREQ];
    tch_finish_t finish[NREQ];
    float temperature, top_p; /* top_p 0: off */
} run_t;

static r1d_status src(void *ctx, tch_request_t *q, int *has, err_t *e) {
    (void)e;
    run_t *r = ctx;
    *has = r->given < r->n_req;
    if (!*has) return R1D_OK;
    int i = r->given++;
    *q = (tch_request_t){.id = (uint64_t)i, .prompt = r->prompt[i], .n_prompt = r->n_prompt[i],
                         .max_new = r->max_new[i], .sampling = {r->temperature, r->top_p > 0 ? r->top_p : 1.0f, 0.0f, 0}, .seed = 7,
                         .stop_ids = r->stop[i] >= 0 ? &r->stop[i] : NULL, .n_stop_ids = r->stop[i] >= 0};
    return R1D_OK;
}

static r1d_status sink(void *ctx, const tch_result_t *res, err_t *e) {
    run_t *r = ctx;
    if (res->finish == TCH_FINISH_ERROR) return ERR(e, R1D_EINVAL, "request %llu: %s", (unsigned long long)res->id, res->error);
    memcpy(r->out[res->id], res->ids, (size_t)res->n_ids * sizeof(int32_t));
    r->n_out[res->id] = res->n_ids;
    r->finish[res->id] = res->finish;
    r->got++;
    return R1D_OK;
}

/* NREQ prompts of 1..12 tokens and max_new 3..MAXNEW (from a fixed LCG). */
static void requests(run_t *r, int64_t V) {
    memset(r, 0, sizeof *r);
    r->n_req = NREQ;
    uint32_t x = 12345;
    for (int i = 0; i < NREQ; i++) {
        r->n_prompt[i] = 1 + (i * 5) % 12;
        r->max_new[i] = 3 + (i * 7) % (MAXNEW - 2);
        r->stop[i] = -1;
        for (int k = 0; k < r->n_prompt[i]; k++) x = x * 1664525u + 1013904223u, r->prompt[i][k] = (int32_t)((x >> 8) % V);
    }
}

static r1d_status gen(const tch_model_t *m, ops_t *o, run_t *r, int draft, int batch, size_t kv_bytes,
                      tch_gen_stats_t *st, err_t *e) {
    tch_gen_opts_t g;
    tch_gen_opts_default(&g);
    g.block_size = 4;
    g.max_step_tokens = 5; /* prompts prefilled in chunks next to decode rows */
    g.max_batch = batch;
    g.kv_bytes = kv_bytes;
    g.spec_draft = draft;
    r->given = r->got = 0;
    memset(r->n_out, 0, sizeof r->n_out);
    return tch_generate(m, o, &g, src, sink, r, st, e);
}

static int same_outputs(const run_t *a, const run_t *b, int *first_bad) {
    for (int i = 0; i < a->n_req; i++)
        if (a->n_out[i] != b->n_out[i] || memcmp(a->out[i], b->out[i], (size_t)a->n_out[i] * sizeof(int32_t)) ||
            a->finish[i] != b->finish[i]) {
            *first_bad = i;
            return 0;
        }
    return 1;
}

typedef struct {
    tch_model_t *m;
    ops_t *o;
} eng_t;

static int eng_open(eng_t *g, const char *name) {
    char dir[256];
    err_t e;
    snprintf(dir, sizeof dir, FIX "/%s", name);
    memset(g, 0, sizeof *g);
    if (tch_model_load(&g->m, dir, &e) != R1D_OK || ops_cpu_init(&g->o, &e) != R1D_OK) {
        CHECK_MSG(0, "%s: %s", name, e.msg);
        return 0;
    }
    return 1;
}

static void eng_close(eng_t *g) {
    ops_free(g->o);
    tch_model_free(g->m);
}

/* Speculative greedy == plain greedy, whole batch at once and one sequence at a time. */
static void check_greedy(const char *name, double min_accept) {
    eng_t g;
    if (!eng_open(&g, name)) return;
    err_t e;
    static run_t plain, spec;
    requests(&plain, g.m->cfg.vocab_size);
    tch_gen_stats_t st;
    CHECK_OK(gen(g.m, g.o, &plain, 0, 6, 1 << 20, &st, &e), &e);
    CHECK_EQ_INT(plain.got, NREQ);
    for (int d = 1; d <= 3; d++)
        for (int batch = 1; batch <= 8; batch += 7) {
            spec = plain;
            CHECK_OK(gen(g.m, g.o, &spec, d, batch, 1 << 20, &st, &e), &e);
            int bad = -1;
            CHECK_MSG(spec.got == NREQ && same_outputs(&plain, &spec, &bad), "%s draft %d batch %d: request %d differs",
                      name, d, batch, bad);
            double acc = st.drafted ? (double)st.accepted / (double)st.drafted : 0;
            if (batch == 8)
                fprintf(stderr, "%s draft %d batch 8: acceptance %.3f (%lld/%lld), %.2f tokens per main forward per "
                        "sequence\n", name, d, acc, (long long)st.accepted, (long long)st.drafted,
                        (double)(st.accepted + st.verifies) / (double)st.verifies);
            CHECK(st.drafted > 0);
            if (d == 1) CHECK_MSG(acc >= min_accept, "%s: acceptance %.3f below %.3f", name, acc, min_accept);
        }
    eng_close(&g);
}

static void test_greedy_random_mtp(void) { check_greedy("qlora_bf16", 0.0); }
static void test_greedy_agreeing_mtp(void) { check_greedy("mtp_bf16", 0.2); /* measured 0.3 */ }

/* A stop id in the middle of a plain output: speculation stops at the same token, even when
 * that token was accepted together with drafts after it. */
static void test_stop_ids(void) {
    eng_t g;
    if (!eng_open(&g, "mtp_bf16")) return;
    err_t e;
    static run_t plain, spec;
    requests(&plain, g.m->cfg.vocab_size);
    CHECK_OK(gen(g.m, g.o, &plain, 0, 8, 1 << 20, NULL, &e), &e);
    int with_stop = 0;
    for (int i = 0; i < NREQ; i++)
        if (plain.n_out[i] >= 4) plain.stop[i] = plain.out[i][plain.n_out[i] / 2], with_stop++;
    CHECK(with_stop >= 6);
    spec = plain;
    CHECK_OK(gen(g.m, g.o, &plain, 0, 8, 1 << 20, NULL, &e), &e);
    int stopped = 0;
    for (int i = 0; i < NREQ; i++) stopped += plain.finish[i] == TCH_FINISH_STOP;
    CHECK_EQ_INT(stopped, with_stop);
    for (int d = 1; d <= 3; d++) {
        tch_gen_stats_t st;
        CHECK_OK(gen(g.m, g.o, &spec, d, 8, 1 << 20, &st, &e), &e);
        int bad = -1;
        CHECK_MSG(same_outputs(&plain, &spec, &bad), "draft %d: request %d differs", d, bad);
        CHECK(st.accepted > 0);
    }
    eng_close(&g);
}

/* A KV budget of a few blocks forces preemptions (sequences restart from their tokens):
 * still the plain greedy tokens. */
static void test_preemption(void) {
    eng_t g;
    if (!eng_open(&g, "mtp_bf16")) return;
    err_t e;
    static run_t plain, spec;
    requests(&plain, g.m->cfg.vocab_size);
    CHECK_OK(gen(g.m, g.o, &plain, 0, 8, 1 << 20, NULL, &e), &e);
    size_t per_block = tch_kv_bytes_per_token(g.m, g.o) * 4;
    for (int d = 1; d <= 3; d++) {
        spec = plain;
        tch_gen_stats_t st;
        /* 9 blocks of 4 tokens: the longest request (12 + 16 tokens + drafts) fits alone, 8 of them do not */
        CHECK_OK(gen(g.m, g.o, &spec, d, 8, 9 * per_block, &st, &e), &e);
        int bad = -1;
        CHECK_MSG(same_outputs(&plain, &spec, &bad), "draft %d: request %d differs under preemption", d, bad);
        CHECK_MSG(st.preemptions > 0, "draft %d: no preemption", d);
        tch_gen_stats_t st0;
        static run_t tmp;
        tmp = plain;
        CHECK_OK(gen(g.m, g.o, &tmp, d, 8, 1 << 20, &st0, &e), &e);
        /* the same steps as without preemption: a restarted sequence drafts where it stopped */
        CHECK_MSG(st.drafted == st0.drafted && st.accepted == st0.accepted, "draft %d: %lld/%lld accepted, without "
                  "preemption %lld/%lld", d, (long long)st.accepted, (long long)st.drafted, (long long)st0.accepted,
                  (long long)st0.drafted);
        fprintf(stderr, "draft %d with 9 KV blocks: %lld preemptions\n", d, (long long)st.preemptions);
    }
    eng_close(&g);
}

/* Sampled outputs are a function of (seed, request id): the same with batch 1 and 8 and
 * under preemption. */
static void test_sampling_batch_invariant(void) {
    eng_t g;
    if (!eng_open(&g, "mtp_bf16")) return;
    err_t e;
    static run_t a, b;
    requests(&a, g.m->cfg.vocab_size);
    a.temperature = 1.0f;
    b = a;
    CHECK_OK(gen(g.m, g.o, &a, 2, 1, 1 << 20, NULL, &e), &e);
    CHECK_OK(gen(g.m, g.o, &b, 2, 8, 1 << 20, NULL, &e), &e);
    int bad = -1;
    CHECK_MSG(same_outputs(&a, &b, &bad), "batch 1 vs 8: request %d differs", bad);
    tch_gen_stats_t st;
    CHECK_OK(gen(g.m, g.o, &b, 2, 8, 9 * tch_kv_bytes_per_token(g.m, g.o) * 4, &st, &e), &e);
    CHECK_MSG(same_outputs(&a, &b, &bad), "with preemption: request %d differs", bad);
    CHECK(st.preemptions > 0);
    eng_close(&g);
}

/* ---- distribution of speculative sampling ---- */

/* p[V] = the distribution plain sampling draws from with `f`: softmax at the temperature, then
 * top-k, then top-p (the smallest most-likely prefix of the top-k tokens reaching top_p of their
 * mass), renormalised. Written
 * independently of kernels/sample.c. */
static void filtered_d(const float *l, int64_t V, const ops_sampling_t *f, double *p) {
    double mx = -INFINITY, s = 0;
    for (int64_t i = 0; i < V; i++) mx = fmax(mx, l[i] / f->temperature);
    for (int64_t i = 0; i < V; i++) s += p[i] = exp(l[i] / f->temperature - mx);
    for (int64_t i = 0; i < V; i++) p[i] /= s;
    int64_t *ord = malloc((size_t)V * sizeof *ord);
    for (int64_t i = 0; i < V; i++) ord[i] = i;
    for (int64_t i = 1; i < V; i++) /* insertion sort, descending p (V is small) */
        for (int64_t j = i; j > 0 && p[ord[j]] > p[ord[j - 1]]; j--) {
            int64_t t = ord[j];
            ord[j] = ord[j - 1], ord[j - 1] = t;
        }
    int64_t k = f->top_k > 0 && f->top_k < V ? f->top_k : V;
    double topk = 0, cum = 0, kept = 0;
    for (int64_t r = 0; r < k; r++) topk += p[ord[r]];
    for (int64_t r = 0; r < V; r++) { /* top-p over the top-k renormalised, as processors chain */
        int keep = r < k && cum / topk < f->top_p;
        cum += p[ord[r]];
        if (keep) kept += p[ord[r]];
        else p[ord[r]] = 0;
    }
    for (int64_t i = 0; i < V; i++) p[i] /= kept;
    free(ord);
}

/* p[V] = next-token distribution after ids[0..n) (one prefill through a fresh cache) */
static r1d_status next_dist(const tch_model_t *m, ops_t *o, const int32_t *ids, int n, const ops_sampling_t *f, double *p,
                            err_t *e) {
    tch_kv_t kv;
    tch_ws_t ws;
    tch_pages_t pg = {0};
    int64_t V = m->cfg.vocab_size;
    float *lg = malloc((size_t)V * sizeof(float));
    TRY(tch_kv_init_model(&kv, o, m, 4, 1 << 16, e));
    tch_ws_init(&ws, o);
    r1d_status st = tch_kv_reserve(&kv, &pg, n) ? R1D_OK : ERR(e, R1D_ENOMEM, "kv");
    ops_attn_seq_t s = {n, n, pg.ids};
    if (st == R1D_OK) st = tch_forward(m, &ws, &kv, &s, 1, ids, 0, lg, e);
    if (st == R1D_OK) filtered_d(lg, V, f, p);
    tch_kv_release(&kv, &pg);
    free(pg.ids), free(lg);
    tch_ws_free(&ws);
    tch_kv_free(&kv);
    return st;
}

#define RUNS 6000
typedef struct {
    int given, got;
    ops_sampling_t f;
    int32_t prompt[4];
    int *c[3]; /* counts of generated tokens 0, 1, 2 */
} dist_run_t;

static r1d_status dsrc(void *ctx, tch_request_t *q, int *has, err_t *e) {
    (void)e;
    dist_run_t *r = ctx;
    *has = r->given < RUNS;
    if (*has)
        *q = (tch_request_t){.id = (uint64_t)r->given++, .prompt = r->prompt, .n_prompt = 4, .max_new = 4,
                             .sampling = r->f, .seed = 11};
    return R1D_OK;
}

static r1d_status dsink(void *ctx, const tch_result_t *res, err_t *e) {
    dist_run_t *r = ctx;
    if (res->n_ids != 4) return ERR(e, R1D_EINVAL, "request %llu: %d tokens", (unsigned long long)res->id, res->n_ids);
    for (int k = 0; k < 3; k++) r->c[k][res->ids[k]]++;
    r->got++;
    return R1D_OK;
}

/* Pearson chi-square of counts[V] against probabilities p[V] over `runs` draws, cells
 * expecting fewer than 5 pooled into one; *df gets the degrees of freedom. */
static double chi2(const int *counts, const double *p, int64_t V, int runs, int *df) {
    double x = 0, pool_e = 0, pool_o = 0;
    int cells = 0;
    for (int64_t i = 0; i < V; i++) {
        double ex = p[i] * runs;
        if (ex < 5) {
            pool_e += ex, pool_o += counts[i];
            continue;
        }
        x += (counts[i] - ex) * (counts[i] - ex) / ex;
        cells++;
    }
    if (pool_e > 0) x += (pool_o - pool_e) * (pool_o - pool_e) / fmax(pool_e, 1e-9), cells++;
    *df = cells - 1;
    return x;
}

/* Upper 0.1% point of chi-square with df degrees of freedom (Wilson-Hilferty). */
static double chi2_crit(int df) {
    double z = 3.09, a = 2.0 / (9.0 * df);
    return df * pow(1 - a + z * sqrt(a), 3);
}

/* Over RUNS requests (streams (11, id)), generated tokens 1 and 2 come from speculative
 * cycles (token 0 is sampled as without speculation, then draft 2: tokens 1 and 2 are a
 * kept draft, a residual draw or a bonus draw). Their marginals are compared with the exact
 * ones from the main model (mixtures over every earlier token) by a chi-square test at the
 * 0.1% level. Measured by mutating verify() in teacher/generate.c by hand once (chi-square
 * over the critical value, tokens 1 / 2): correct 0.29x / 0.50x; accepting with min(1, q/p)
 * instead of min(1, p/q) 3247x / 834x; keeping every draft 3246x / 869x; redrawing a
 * rejected draft from p instead of the residual max(0, p - q) 1.36x / 1.84x. */
static void check_distribution(ops_sampling_t f) {
    eng_t g;
    if (!eng_open(&g, "mtp_bf16")) return;
    err_t e;
    int64_t V = g.m->cfg.vocab_size;
    dist_run_t r = {.f = f, .prompt = {5, 17, 3, 40}};
    double *p0 = calloc((size_t)V, sizeof(double)), *p1 = calloc((size_t)V, sizeof(double));
    double *p2 = calloc((size_t)V, sizeof(double)), *t1 = calloc((size_t)V, sizeof(double));
    double *t2 = calloc((size_t)V, sizeof(double));
    for (int k = 0; k < 3; k++) r.c[k] = calloc((size_t)V, sizeof(int));
    int32_t ids[7] = {5, 17, 3, 40};
    CHECK_OK(next_dist(g.m, g.o, ids, 4, &f, p0, &e), &e);
    for (int64_t a = 0; a < V; a++) { /* exact marginals of tokens 1 and 2 */
        if (p0[a] < 1e-7) continue;
        ids[4] = (int32_t)a;
        CHECK_OK(next_dist(g.m, g.o, ids, 5, &f, t1, &e), &e);
        for (int64_t b = 0; b < V; b++) {
            p1[b] += p0[a] * t1[b];
            if (p0[a] * t1[b] < 1e-7) continue;
            ids[5] = (int32_t)b;
            CHECK_OK(next_dist(g.m, g.o, ids, 6, &f, t2, &e), &e);
            for (int64_t c = 0; c < V; c++) p2[c] += p0[a] * t1[b] * t2[c];
        }
    }
    tch_gen_opts_t opts;
    tch_gen_opts_default(&opts);
    opts.max_batch = 64;
    opts.block_size = 4;
    opts.kv_bytes = 1 << 20;
    opts.spec_draft = 2;
    tch_gen_stats_t st;
    CHECK_OK(tch_generate(g.m, g.o, &opts, dsrc, dsink, &r, &st, &e), &e);
    CHECK_EQ_INT(r.got, RUNS);
    double *ps[3] = {p0, p1, p2};
    for (int k = 0; k < 3; k++) {
        int df;
        double x = chi2(r.c[k], ps[k], V, RUNS, &df), crit = chi2_crit(df);
        fprintf(stderr, "token %d: chi-square %.1f, df %d, 0.1%% critical value %.1f (%.2fx)\n", k, x, df, crit, x / crit);
        CHECK_MSG(df >= (k ? 5 : 1) && x < crit, "token %d: chi-square %.1f above %.1f (df %d)", k, x, crit, df);
    }
    double acc = (double)st.accepted / (double)(st.drafted ? st.drafted : 1);
    fprintf(stderr, "speculative sampling: acceptance %.3f over %lld drafts\n", acc, (long long)st.drafted);
    CHECK(st.accepted > 0 && st.accepted < st.drafted); /* both the accept and the residual paths ran */
    free(p0), free(p1), free(p2), free(t1), free(t2);
    for (int k = 0; k < 3; k++) free(r.c[k]);
    eng_close(&g);
}

static void test_sampling_distribution(void) { check_distribution((ops_sampling_t){1.0f, 1.0f, 0.0f, 0}); }
/* the filters apply to both distributions: tokens outside top-k / top-p must never appear.
 * Mutation measured by hand once: verifying against the unfiltered p gives 1.37x / 22x. */
static void test_sampling_distribution_filtered(void) { check_distribution((ops_sampling_t){1.0f, 0.95f, 0.0f, 12}); }

/* --spec on a model without an MTP layer, a draft count out of range, top-p sampling (allowed). */
static void test_errors(void) {
    eng_t g;
    if (!eng_open(&g, "noq_f32")) return;
    err_t e;
    static run_t r;
    requests(&r, g.m->cfg.vocab_size);
    CHECK_ERR(gen(g.m, g.o, &r, 2, 4, 1 << 20, NULL, &e), &e, "has no MTP layer 'model.layers.2.*'");
    eng_close(&g);
    if (!eng_open(&g, "mtp_bf16")) return;
    requests(&r, g.m->cfg.vocab_size);
    CHECK_ERR(gen(g.m, g.o, &r, 17, 4, 1 << 20, NULL, &e), &e, "--draft 17: expected 1..16");
    r.temperature = 0.7f, r.top_p = 0.9f;
    CHECK_OK(gen(g.m, g.o, &r, 1, 4, 1 << 20, NULL, &e), &e);
    eng_close(&g);
}


/* ---- CLI: r1d generate --in (batch mode) and r1d teach with --spec mtp ---- */

static char cli_out[16384], tmp[256];

static int r1d(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "\"%s\" %s 2>&1", getenv("R1D"), args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(cli_out, 1, sizeof cli_out - 1, p);
    cli_out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* mtp_bf16 with a 64-token character tokenizer (BPE without merges: one token per
 * character of the chatml template and of the prompts) in tmp/model. */
static int write_model_dir(void) {
    char path[512], cwd[400];
    err_t e;
    if (!getcwd(cwd, sizeof cwd)) return 0;
    snprintf(path, sizeof path, "%s/model", tmp);
    if (file_mkdirs(path, &e) != R1D_OK) return 0;
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char src[1024], dst[600];
        snprintf(src, sizeof src, "%s/" FIX "/mtp_bf16/%s", cwd, files[i]);
        snprintf(dst, sizeof dst, "%s/model/%s", tmp, files[i]);
        if (symlink(src, dst)) return 0;
    }
    const char *chars = "abcdefghijklmnopqrstuvwxyz0123456789<|>_\n ?.,!:-=+()/*'\"#$&%@;[]";
    json_t *vocab = json_object();
    for (int i = 0; chars[i]; i++) json_object_set_new(vocab, (char[]){chars[i], 0}, json_integer(i));
    int ok = json_object_size(vocab) == 64;
    json_t *tj = json_pack("{s:s,s:{s:s,s:o,s:[],s:s}}", "version", "1.0", "model", "type", "BPE", "vocab", vocab,
                           "merges", "unk_token", "?");
    snprintf(path, sizeof path, "%s/model/tokenizer.json", tmp);
    ok = ok && tj && json_dump_file(tj, path, 0) == 0;
    json_decref(tj);
    return ok;
}

/* id -> completion of every line of a samples file, as one sorted text */
static void completions(const char *path, char *out, size_t cap) {
    char *lines[64];
    int n = 0;
    jsonl_reader_t *r;
    err_t e;
    out[0] = 0;
    if (jsonl_open(&r, path, &e) != R1D_OK) return;
    json_t *j;
    while (n < 64 && jsonl_next(r, &j, &e) == R1D_OK && j) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s=%s|%s\n", json_string_value(json_object_get(j, "id")),
                 json_string_value(json_object_get(j, "completion")),
                 json_string_value(json_object_get(j, "finish_reason")));
        lines[n++] = strdup(buf);
        json_decref(j);
    }
    jsonl_close(r);
    for (int i = 1; i < n; i++) /* insertion sort by id */
        for (int k = i; k > 0 && strcmp(lines[k - 1], lines[k]) > 0; k--) {
            char *t = lines[k];
            lines[k] = lines[k - 1], lines[k - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        snprintf(out + strlen(out), cap - strlen(out), "%s", lines[i]);
        free(lines[i]);
    }
}

static void test_cli(void) {
    if (!getenv("R1D")) SKIP("$R1D (path of bin/r1d) not set; run through make test");
    snprintf(tmp, sizeof tmp, "/tmp/r1d_test_spec_%d", (int)getpid());
    CHECK(write_model_dir());
    char path[600], args[2048], plain[4096], spec[4096];
    snprintf(path, sizeof path, "%s/prompts.jsonl", tmp);
    FILE *f = fopen(path, "w");
    const char *prompts[] = {"hello", "what is 2+2?", "a", "count: 1 2 3", "the quick brown fox jumps", "why?"};
    for (int i = 0; f && i < 6; i++) fprintf(f, "{\"id\": \"p%d\", \"prompt\": \"%s\"}\n", i, prompts[i]);
    if (f) fclose(f);
    /* batch mode: --spec gives plain greedy's completions, and logs its figures */
    snprintf(args, sizeof args, "generate --model %s/model --in %s --out %s/plain.jsonl --chat chatml --temperature 0 "
             "--max-new 12 --n 2 --batch 4", tmp, path, tmp);
    CHECK_EQ_INT(r1d(args), 0);
    snprintf(args, sizeof args, "generate --model %s/model --in %s --out %s/spec.jsonl --chat chatml --temperature 0 "
             "--max-new 12 --n 2 --batch 4 --spec mtp --draft 3", tmp, path, tmp);
    CHECK_EQ_INT(r1d(args), 0);
    CHECK_MSG(strstr(cli_out, "drafts accepted") && strstr(cli_out, "tokens per main-model forward"), "%s", cli_out);
    snprintf(path, sizeof path, "%s/plain.jsonl", tmp);
    completions(path, plain, sizeof plain);
    snprintf(path, sizeof path, "%s/spec.jsonl", tmp);
    completions(path, spec, sizeof spec);
    CHECK_MSG(strlen(plain) > 100 && !strcmp(plain, spec), "plain:\n%s\nspec:\n%s", plain, spec);
    /* single mode with a stop string cut in the middle of the plain output: the same text */
    char text[512], stop[8];
    snprintf(args, sizeof args, "--log-level error generate --model %s/model --prompt 'count: 1 2 3' --chat chatml "
             "--temperature 0 --max-new 12", tmp);
    CHECK_EQ_INT(r1d(args), 0);
    snprintf(text, sizeof text, "%.500s", cli_out);
    CHECK(strlen(text) >= 10);
    snprintf(stop, sizeof stop, "%.2s", text + 5);
    for (int d = 0; d <= 3; d++) {
        snprintf(args, sizeof args, "--log-level error generate --model %s/model --prompt 'count: 1 2 3' --chat chatml "
                 "--temperature 0 --max-new 12 --stop '%s'%s%.0d", tmp, stop, d ? " --spec mtp --draft " : "", d);
        CHECK_EQ_INT(r1d(args), 0);
        if (d == 0) snprintf(text, sizeof text, "%.500s", cli_out);
        CHECK_MSG(strlen(text) < 8 && !strcmp(cli_out, text), "--stop '%s' draft %d: '%s', plain '%s'", stop, d, cli_out,
                  text);
    }
    /* a repetition penalty under --spec: refused before anything is written */
    snprintf(args, sizeof args, "generate --model %s/model --in %s/prompts.jsonl --out %s/bad.jsonl --chat chatml "
             "--temperature 0.6 --top-p 0.9 --repetition-penalty 1.1 --spec mtp", tmp, tmp, tmp);
    CHECK(r1d(args) != 0 && strstr(cli_out, "--spec mtp takes no --repetition-penalty"));
    snprintf(path, sizeof path, "%s/bad.jsonl", tmp);
    CHECK(access(path, F_OK) != 0);
    /* r1d teach --spec mtp: the same samples as without, and the figures in its summary */
    snprintf(args, sizeof args, "teach --model %s/model --prompts %s/prompts.jsonl --out %s/t0 --chat chatml "
             "--temperature 0 --max-new 12 --n 1", tmp, tmp, tmp);
    CHECK_EQ_INT(r1d(args), 0);
    snprintf(args, sizeof args, "teach --model %s/model --prompts %s/prompts.jsonl --out %s/t1 --chat chatml "
             "--temperature 0 --max-new 12 --n 1 --spec mtp --draft 2", tmp, tmp, tmp);
    CHECK_EQ_INT(r1d(args), 0);
    CHECK_MSG(strstr(cli_out, "shard 0: MTP speculative decoding:"), "%s", cli_out);
    snprintf(path, sizeof path, "%s/t0/shard-00000-of-00001.jsonl", tmp);
    completions(path, plain, sizeof plain);
    snprintf(path, sizeof path, "%s/t1/shard-00000-of-00001.jsonl", tmp);
    completions(path, spec, sizeof spec);
    CHECK_MSG(strlen(plain) > 50 && !strcmp(plain, spec), "teach plain:\n%s\nspec:\n%s", plain, spec);
    /* teach's defaults (temperature 0.6, top-p 0.95) under --spec */
    snprintf(args, sizeof args, "teach --model %s/model --prompts %s/prompts.jsonl --out %s/t2 --chat chatml --n 2 "
             "--max-new 8 --spec mtp", tmp, tmp, tmp);
    CHECK_EQ_INT(r1d(args), 0);
    if (getenv("KEEP")) return;
    snprintf(args, sizeof args, "rm -rf '%s'", tmp);
    CHECK_EQ_INT(system(args), 0);
}

int main(void) {
    log_set_level(LOG_WARN);
    RUN(test_greedy_random_mtp);
    RUN(test_greedy_agreeing_mtp);
    RUN(test_stop_ids);
    RUN(test_preemption);
    RUN(test_sampling_batch_invariant);
    RUN(test_sampling_distribution);
    RUN(test_sampling_distribution_filtered);
    RUN(test_errors);
    RUN(test_cli);
    return test_summary("test_spec");
}
