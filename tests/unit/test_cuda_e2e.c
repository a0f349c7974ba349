/* The dense engine on --backend cuda against the CPU: the tiny conformance models of
 * tests/fixtures/dense (f32 reference on the CPU, bf16 on the GPU) give logits within a
 * bf16 tolerance and the same greedy ids wherever the CPU's top-2 margin allows, and seeded
 * batch generation is batch-invariant on the GPU and agrees with the CPU. Backend selection
 * and its errors are checked on every machine; the GPU runs say "skipped: no CUDA device"
 * where there is none. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda.h"
#include "teacher/backend.h"
#include "teacher/forward.h"
#include "teacher/generate.h"
#include "test.h"

#define FIX "tests/fixtures/dense"
#define NGEN 20
#define MARGIN 0.05f      /* top-1 minus top-2 logit below which bf16 may pick the other token */
#define NMSE_LOGITS 5e-3  /* bf16 weights and activations through a whole (tiny) model */

static const char *fixtures[] = {"qwen2_tied_f32", "qwen2_sharded_bf16", "llama3_scaled_f32", "llama3_tied_bf16"};

static int n_devices(void) {
#ifdef R1D_CUDA
    err_t e;
    int n = 0;
    if (cuda_device_count(&n, &e) != R1D_OK) return 0;
    return n;
#else
    return 0;
#endif
}

static void test_backend_parse(void) {
    err_t e;
    tch_backend_t b;
    CHECK_OK(tch_backend_parse("auto", &b, &e), &e);
    CHECK(b == TCH_BACKEND_AUTO);
    CHECK_OK(tch_backend_parse("cpu", &b, &e), &e);
    CHECK(b == TCH_BACKEND_CPU);
    CHECK_OK(tch_backend_parse("cuda", &b, &e), &e);
    CHECK(b == TCH_BACKEND_CUDA);
    CHECK_ERR(tch_backend_parse("gpu", &b, &e), &e, "--backend 'gpu': expected auto, cpu or cuda");
}

static void test_backend_open(void) {
    err_t e;
    ops_t *o = NULL;
    CHECK_OK(tch_backend_open(TCH_BACKEND_CPU, 0, NULL, &o, &e), &e);
    CHECK(o && !strcmp(o->name, "cpu"));
    ops_free(o);
    CHECK_OK(tch_backend_open(TCH_BACKEND_AUTO, 0, NULL, &o, &e), &e);
    CHECK(o && !strcmp(o->name, n_devices() > 0 ? "cuda" : "cpu"));
    ops_free(o);
    ops_free(NULL);
    /* auto keeps models the CUDA table cannot run on the CPU */
    tch_model_t *ds = NULL;
    CHECK_OK(tch_model_load(&ds, "tests/fixtures/models/deepseek_v3", &e), &e);
    CHECK_OK(tch_backend_open(TCH_BACKEND_AUTO, 0, ds, &o, &e), &e);
    CHECK(o && !strcmp(o->name, "cpu"));
    ops_free(o);
    tch_model_free(ds);
    if (n_devices() == 0) {
        /* the one clear line a user gets from --backend cuda here */
#ifdef R1D_CUDA
        CHECK_ERR(tch_backend_open(TCH_BACKEND_CUDA, 0, NULL, &o, &e), &e, "--backend cuda: this machine has no usable CUDA device");
#else
        CHECK_ERR(tch_backend_open(TCH_BACKEND_CUDA, 0, NULL, &o, &e), &e, "built without the CUDA backend");
#endif
        CHECK(o == NULL);
        return;
    }
    CHECK_ERR(tch_backend_open(TCH_BACKEND_CUDA, 99, NULL, &o, &e), &e, "device 99 does not exist");
    CHECK_OK(tch_backend_open(TCH_BACKEND_CUDA, 0, NULL, &o, &e), &e);
    CHECK(o && !strcmp(o->name, "cuda") && o->act == DT_BF16);
    ops_free(o);
}

/* On the CPU the engine reads the host model itself; the device copy's size is every tensor as
 * bf16 and every vector as f32, each on its own 256-byte boundary. */
static void test_model_copy_size(void) {
    err_t e;
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) {
        char dir[256];
        snprintf(dir, sizeof dir, FIX "/%s", fixtures[i]);
        tch_model_t *m = NULL;
        ops_t *o = NULL;
        CHECK_OK(tch_model_load(&m, dir, &e), &e);
        CHECK_OK(ops_cpu_init(&o, &e), &e);
        if (!m || !o) return;
        const tch_model_t *d = NULL;
        CHECK_OK(tch_backend_model(m, o, &d, &e), &e);
        CHECK(d == m);
        tch_backend_model_free(d, m);
        const cfg_model_t *c = &m->cfg;
        size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size, V = (size_t)c->vocab_size;
        size_t qd = (size_t)c->n_heads * c->head_dim, kd = (size_t)c->n_kv_heads * c->head_dim;
        size_t per_layer = 2 * C + qd * C + 2 * kd * C + C * qd + 3 * F * C;
        size_t w = V * C * (c->tie_word_embeddings ? 1 : 2) + C + (size_t)c->n_layers * per_layer;
        size_t L = (size_t)c->n_layers;
        size_t vec = (size_t)c->head_dim / 2 + (c->qkv_bias ? L * (qd + 2 * kd) : 0) + (c->o_bias ? L * C : 0) +
                     (c->mlp_bias ? L * (2 * F + C) : 0);
        size_t regions = 4 + L * (9 + (c->qkv_bias ? 3 : 0) + (c->o_bias ? 1 : 0) + (c->mlp_bias ? 3 : 0));
        size_t bytes = tch_backend_model_bytes(m);
        CHECK_MSG(bytes >= 2 * w + 4 * vec && bytes < 2 * w + 4 * vec + 256 * regions, "%s: %zu bytes for %zu bf16 + %zu f32",
                  fixtures[i], bytes, w, vec);
        ops_free(o);
        tch_model_free(m);
    }
}

#ifdef R1D_CUDA

typedef struct {
    const tch_model_t *m;
    ops_t *o;
    tch_kv_t kv;
    tch_ws_t ws;
    tch_pages_t pg;
} run_t;

/* Prompt logits [n, V] and NGEN greedy ids; margins[i]: top-1 minus top-2 logit of step i. */
static int greedy(const tch_model_t *m, ops_t *o, const int32_t *prompt, int n, float *prompt_logits, int32_t *ids,
                  float *margins) {
    err_t e;
    run_t r = {.m = m, .o = o};
    int64_t V = m->cfg.vocab_size;
    float *row = malloc((size_t)V * sizeof(float));
    int ok = 0;
    if (tch_kv_init_model(&r.kv, o, m, 16, tch_kv_bytes_per_token(m, o) * (size_t)(n + NGEN + 32), &e) != R1D_OK) goto out;
    tch_ws_init(&r.ws, o);
    if (!tch_kv_reserve(&r.kv, &r.pg, n)) goto out;
    ops_attn_seq_t s = {n, n, r.pg.ids};
    CHECK_OK(tch_forward(m, &r.ws, &r.kv, &s, 1, prompt, 1, prompt_logits, &e), &e);
    memcpy(row, prompt_logits + (size_t)(n - 1) * V, (size_t)V * sizeof(float));
    for (int i = 0; i < NGEN; i++) {
        int32_t best = ops_argmax(row, V);
        float second = -FLT_MAX;
        for (int64_t v = 0; v < V; v++)
            if (v != best && row[v] > second) second = row[v];
        ids[i] = best;
        margins[i] = row[best] - second;
        if (!tch_kv_reserve(&r.kv, &r.pg, n + i + 1)) goto out;
        s = (ops_attn_seq_t){1, n + i + 1, r.pg.ids};
        if (tch_forward(m, &r.ws, &r.kv, &s, 1, &ids[i], 0, row, &e) != R1D_OK) {
            CHECK_MSG(0, "%s", e.msg);
            goto out;
        }
    }
    ok = 1;
out:
    free(row);
    free(r.pg.ids);
    tch_ws_free(&r.ws);
    tch_kv_free(&r.kv);
    return ok;
}

static double nmse(const float *a, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

static void test_greedy_matches_cpu(void) {
    if (n_devices() == 0) SKIP("no CUDA device");
    err_t e;
    ops_t *cpu = NULL, *gpu = NULL;
    CHECK_OK(ops_cpu_init(&cpu, &e), &e);
    CHECK_OK(tch_backend_open(TCH_BACKEND_CUDA, 0, NULL, &gpu, &e), &e);
    for (size_t f = 0; cpu && gpu && f < sizeof fixtures / sizeof *fixtures; f++) {
        char dir[256], path[300];
        snprintf(dir, sizeof dir, FIX "/%s", fixtures[f]);
        snprintf(path, sizeof path, "%s/ids.txt", dir);
        int32_t prompt[256];
        int n = 0;
        FILE *fp = fopen(path, "r");
        while (fp && n < 256 && fscanf(fp, "%d", &prompt[n]) == 1) n++;
        if (fp) fclose(fp);
        tch_model_t *m = NULL;
        const tch_model_t *dm = NULL;
        CHECK_OK(tch_model_load(&m, dir, &e), &e);
        if (!m) continue;
        CHECK_OK(tch_backend_model(m, gpu, &dm, &e), &e);
        int64_t V = m->cfg.vocab_size;
        float *lc = malloc((size_t)(n * V) * sizeof(float)), *lg = malloc((size_t)(n * V) * sizeof(float));
        float mc[NGEN], mg[NGEN];
        int32_t ic[NGEN], ig[NGEN];
        if (dm && greedy(m, cpu, prompt, n, lc, ic, mc) && greedy(dm, gpu, prompt, n, lg, ig, mg)) {
            double r = nmse(lg, lc, (size_t)(n * V));
            CHECK_MSG(r <= NMSE_LOGITS, "%s: prompt logits nmse %.3g (bound %.3g)", fixtures[f], r, NMSE_LOGITS);
            int same = 0;
            while (same < NGEN && ig[same] == ic[same]) same++;
            /* ids agree up to the first step where the CPU's own choice was a close call */
            int close = 0;
            while (close < NGEN && mc[close] >= MARGIN) close++;
            CHECK_MSG(same >= close, "%s: GPU greedy ids leave the CPU's at step %d (CPU margin %.3g there)", fixtures[f],
                      same, same < NGEN ? mc[same] : 0.0f);
        }
        free(lc), free(lg);
        tch_backend_model_free(dm, m);
        tch_model_free(m);
    }
    ops_free(gpu);
    ops_free(cpu);
}

/* ---- seeded batch generation ---- */

#define NREQ 12
#define MAXNEW 16

typedef struct {
    tch_request_t req[NREQ];
    int32_t prompts[NREQ][32];
    int n, next;
    int32_t out[NREQ][MAXNEW + 1];
    int n_out[NREQ];
} jobs_t;

static r1d_status src(void *ctx, tch_request_t *r, int *has, err_t *e) {
    (void)e;
    jobs_t *j = ctx;
    *has = j->next < j->n;
    if (*has) *r = j->req[j->next++];
    return R1D_OK;
}

static r1d_status sink(void *ctx, const tch_result_t *r, err_t *e) {
    (void)e;
    jobs_t *j = ctx;
    j->n_out[r->id] = r->n_ids;
    memcpy(j->out[r->id], r->ids, (size_t)r->n_ids * sizeof(int32_t));
    return R1D_OK;
}

static void jobs_init(jobs_t *j, float temperature) {
    memset(j, 0, sizeof *j);
    j->n = NREQ;
    for (int i = 0; i < NREQ; i++) {
        int len = 3 + (i * 7) % 20;
        for (int k = 0; k < len; k++) j->prompts[i][k] = 3 + (i * 31 + k * 17) % 250;
        j->req[i] = (tch_request_t){.id = (uint64_t)i, .prompt = j->prompts[i], .n_prompt = len, .max_new = MAXNEW,
                                    .sampling = {temperature, 0.95f, 0.0f, 0}, .seed = 1234};
    }
}

static void generate(const tch_model_t *m, ops_t *o, jobs_t *j, int max_batch) {
    tch_gen_opts_t opts;
    tch_gen_opts_default(&opts);
    opts.max_batch = max_batch;
    opts.kv_bytes = 1 << 20;
    opts.block_size = 4;
    opts.max_step_tokens = 16;
    err_t e;
    CHECK_OK(tch_generate(m, o, &opts, src, sink, j, NULL, &e), &e);
}

static void test_batch_generation_seeded(void) {
    if (n_devices() == 0) SKIP("no CUDA device");
    err_t e;
    ops_t *cpu = NULL, *gpu = NULL;
    tch_model_t *m = NULL;
    const tch_model_t *dm = NULL;
    CHECK_OK(tch_model_load(&m, FIX "/qwen2_tied_f32", &e), &e);
    CHECK_OK(ops_cpu_init(&cpu, &e), &e);
    CHECK_OK(tch_backend_open(TCH_BACKEND_CUDA, 0, NULL, &gpu, &e), &e);
    if (m && gpu) CHECK_OK(tch_backend_model(m, gpu, &dm, &e), &e);
    if (!dm || !cpu) goto out;
    static jobs_t a, b, c, g, h;
    jobs_init(&a, 0.8f), jobs_init(&b, 0.8f), jobs_init(&c, 0.8f), jobs_init(&g, 0.0f), jobs_init(&h, 0.0f);
    generate(dm, gpu, &a, 1);
    generate(dm, gpu, &b, 8);
    generate(m, cpu, &c, 8);
    generate(dm, gpu, &g, 8);
    generate(m, cpu, &h, 8);
    int same_cpu = 0, same_first = 0, same_greedy = 0;
    for (int i = 0; i < NREQ; i++) {
        /* the draw of (seed, request, position) does not depend on the batch, on the GPU either */
        CHECK_MSG(a.n_out[i] == b.n_out[i] && !memcmp(a.out[i], b.out[i], (size_t)a.n_out[i] * 4),
                  "request %d: GPU output depends on the batch size", i);
        same_greedy += g.n_out[i] == h.n_out[i] && !memcmp(g.out[i], h.out[i], (size_t)g.n_out[i] * 4);
        same_first += b.n_out[i] > 0 && c.n_out[i] > 0 && b.out[i][0] == c.out[i][0];
        same_cpu += b.n_out[i] == c.n_out[i] && !memcmp(b.out[i], c.out[i], (size_t)b.n_out[i] * 4);
    }
    /* The same draw u picks the same token unless u lands within the bf16 logit error of a
     * CDF boundary: for this model (|logit| < 4, logit nmse ~1e-4) that is a few percent of
     * draws, so at most two of twelve first tokens may differ. Later tokens condition on
     * earlier ones, so whole sampled outputs are only reported. Greedy outputs flip only at
     * a top-2 margin under the bf16 error (test_greedy_matches_cpu checks that rule per step). */
    CHECK_MSG(same_greedy >= NREQ - 2, "only %d of %d greedy outputs agree between GPU and CPU", same_greedy, NREQ);
    CHECK_MSG(same_first >= NREQ - 2, "only %d of %d first sampled tokens agree between GPU and CPU", same_first, NREQ);
    printf("test_cuda_e2e: %d of %d sampled requests identical on GPU and CPU, %d first tokens\n", same_cpu, NREQ,
           same_first);
out:
    tch_backend_model_free(dm, m);
    ops_free(gpu);
    ops_free(cpu);
    tch_model_free(m);
}

/* DeepSeek's CUDA path is not this table's: a clear refusal, not a crash. */
static void test_deepseek_refused(void) {
    if (n_devices() == 0) SKIP("no CUDA device");
    err_t e;
    tch_model_t *m = NULL;
    ops_t *gpu = NULL;
    const tch_model_t *dm = NULL;
    CHECK_OK(tch_model_load(&m, "tests/fixtures/models/deepseek_v3", &e), &e);
    CHECK_OK(tch_backend_open(TCH_BACKEND_CUDA, 0, NULL, &gpu, &e), &e);
    if (m && gpu) CHECK_ERR(tch_backend_model(m, gpu, &dm, &e), &e, "deepseek_v3 does not run on the cuda backend");
    CHECK(dm == NULL);
    ops_free(gpu);
    tch_model_free(m);
}

#else

static void test_greedy_matches_cpu(void) { SKIP("no CUDA device (built without CUDA)"); }
static void test_batch_generation_seeded(void) { SKIP("no CUDA device (built without CUDA)"); }
static void test_deepseek_refused(void) { SKIP("no CUDA device (built without CUDA)"); }

#endif

int main(void) {
    RUN(test_backend_parse);
    RUN(test_backend_open);
    RUN(test_model_copy_size);
    RUN(test_greedy_matches_cpu);
    RUN(test_batch_generation_seeded);
    RUN(test_deepseek_refused);
    return test_summary("test_cuda_e2e");
}
