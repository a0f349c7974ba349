/* The continuous-batching scheduler: greedy equals transformers, outputs do not depend
 * on batch size, batch composition, preemption or thread count (byte for byte, with
 * sampling), stop ids, length limits and prompts that cannot fit. */
#include <omp.h>
#include <string.h>

#include "teacher/generate.h"
#include "test.h"

#define FIX "tests/fixtures/dense/qwen2_tied_f32"
#define NREQ 12
#define NBIG 40         /* requests of the batch-invariance runs */
#define MAXREQ 44
#define MAXNEW 24

typedef struct {
    tch_request_t req[MAXREQ];
    int32_t prompts[MAXREQ][300];
    int n, next;
    int32_t out[MAXREQ][MAXNEW + 1];
    int n_out[MAXREQ];
    tch_finish_t why[MAXREQ];
    char err[MAXREQ][160];
    int n_done;
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
    int i = (int)r->id;
    j->n_out[i] = r->n_ids;
    memcpy(j->out[i], r->ids, (size_t)r->n_ids * sizeof(int32_t));
    j->why[i] = r->finish;
    snprintf(j->err[i], sizeof j->err[i], "%s", r->error ? r->error : "");
    j->n_done++;
    return R1D_OK;
}

static void jobs_init(jobs_t *j, int n, float temperature) {
    memset(j, 0, sizeof *j);
    j->n = n;
    for (int i = 0; i < n; i++) {
        int len = 3 + (i * 7) % 20;
        for (int k = 0; k < len; k++) j->prompts[i][k] = 3 + (i * 31 + k * 17) % 250;
        j->req[i] = (tch_request_t){.id = (uint64_t)i, .prompt = j->prompts[i], .n_prompt = len, .max_new = MAXNEW,
                                    .sampling = {temperature, 0.95f, 0.0f, 0}, .seed = 1234};
    }
}

static tch_model_t *g_m;
static ops_t *g_o;

static void run_model(tch_model_t *m, jobs_t *j, int max_batch, size_t kv_bytes, tch_gen_stats_t *st) {
    tch_gen_opts_t opts;
    tch_gen_opts_default(&opts);
    opts.max_batch = max_batch;
    opts.kv_bytes = kv_bytes;
    opts.block_size = 4;
    opts.max_step_tokens = 16;
    err_t e;
    CHECK_OK(tch_generate(m, g_o, &opts, src, sink, j, st, &e), &e);
}

static void run(jobs_t *j, int max_batch, size_t kv_bytes, tch_gen_stats_t *st) {
    run_model(g_m, j, max_batch, kv_bytes, st);
}

static void test_greedy_matches_transformers(void) {
    int32_t ids[64], want[64];
    int T = 0, G = 0;
    FILE *f = fopen(FIX "/ids.txt", "r");
    while (f && fscanf(f, "%d", &ids[T]) == 1) T++;
    if (f) fclose(f);
    f = fopen(FIX "/greedy.txt", "r");
    while (f && fscanf(f, "%d", &want[G]) == 1) G++;
    if (f) fclose(f);
    jobs_t j;
    jobs_init(&j, 1, 0.0f);
    memcpy(j.prompts[0], ids, (size_t)T * sizeof(int32_t));
    j.req[0].n_prompt = T;
    j.req[0].max_new = G;
    run(&j, 4, 1 << 20, NULL);
    CHECK_EQ_INT(j.n_out[0], G);
    CHECK(j.why[0] == TCH_FINISH_LENGTH);
    CHECK(memcmp(j.out[0], want, (size_t)G * sizeof(int32_t)) == 0);
}

/* Same seeds: batch 1, batch 8, and batch 8 in a cache so small it must preempt. */
static void test_batch_and_preemption_invariant(void) {
    static jobs_t a, b, c;
    tch_gen_stats_t sa, sb, sc;
    jobs_init(&a, NREQ, 0.8f);
    jobs_init(&b, NREQ, 0.8f);
    jobs_init(&c, NREQ, 0.8f);
    run(&a, 1, 1 << 20, &sa);
    run(&b, 8, 1 << 20, &sb);
    /* 2 layers x K,V x 4 tokens x 2 kv heads x 8 dims x 4 bytes = 1 KiB a block: 24 blocks */
    run(&c, 8, 24 * 1024, &sc);
    CHECK(sc.preemptions > 0);
    CHECK(sb.steps < sa.steps);
    int distinct = 0;
    for (int i = 0; i < NREQ; i++) {
        CHECK_EQ_INT(a.n_out[i], MAXNEW);
        CHECK(a.n_out[i] == b.n_out[i] && memcmp(a.out[i], b.out[i], sizeof(int32_t) * MAXNEW) == 0);
        CHECK(a.n_out[i] == c.n_out[i] && memcmp(a.out[i], c.out[i], sizeof(int32_t) * MAXNEW) == 0);
        distinct += i > 0 && memcmp(a.out[i], a.out[i - 1], sizeof(int32_t) * MAXNEW) != 0;
    }
    CHECK(distinct > NREQ / 2);
    /* another seed gives another stream */
    jobs_init(&b, NREQ, 0.8f);
    for (int i = 0; i < NREQ; i++) b.req[i].seed = 99;
    run(&b, 8, 1 << 20, NULL);
    int same = 0;
    for (int i = 0; i < NREQ; i++) same += memcmp(a.out[i], b.out[i], sizeof(int32_t) * MAXNEW) == 0;
    CHECK(same < NREQ);
}

/* 40 sampled requests with prompts of 3 to 70 tokens, so prompt chunks share steps with
 * decodes: each alone (batch 1), all at once (batch 32) in a cache of 40 blocks that
 * forces preemption (recomputed by prefill), with 2 threads and with 1; f32 and bf16
 * weights. Every run must give the same tokens. */
static void check_invariant(tch_model_t *m, const char *name) {
    static jobs_t a, b, c;
    jobs_t *runs[] = {&a, &b, &c};
    for (int r = 0; r < 3; r++) {
        jobs_init(runs[r], NBIG, 0.9f);
        for (int i = 0; i < NBIG; i++) {
            int len = 3 + (i * 23) % 68;
            for (int k = 0; k < len; k++) runs[r]->prompts[i][k] = 3 + (i * 31 + k * 17) % 250;
            runs[r]->req[i].n_prompt = len;
        }
    }
    size_t block = tch_kv_bytes_per_token(m, g_o) * 4;
    tch_gen_stats_t sa, sb, sc;
    int nt0 = omp_get_max_threads();
    omp_set_num_threads(2);
    run_model(m, &a, 1, 1 << 20, &sa);
    run_model(m, &b, 32, 40 * block, &sb);
    omp_set_num_threads(1);
    run_model(m, &c, 32, 40 * block, &sc);
    omp_set_num_threads(nt0);
    CHECK_MSG(sb.preemptions > 0 && sc.preemptions > 0, "%s: no preemption", name);
    CHECK(sb.steps < sa.steps);
    int diff_b = 0, diff_c = 0, distinct = 0;
    for (int i = 0; i < NBIG; i++) {
        CHECK_EQ_INT(a.n_out[i], MAXNEW);
        diff_b += a.n_out[i] != b.n_out[i] || memcmp(a.out[i], b.out[i], sizeof(int32_t) * MAXNEW) != 0;
        diff_c += a.n_out[i] != c.n_out[i] || memcmp(a.out[i], c.out[i], sizeof(int32_t) * MAXNEW) != 0;
        distinct += i > 0 && memcmp(a.out[i], a.out[i - 1], sizeof(int32_t) * MAXNEW) != 0;
    }
    CHECK_MSG(diff_b == 0, "%s: %d of %d requests differ between batch 1 and batch 32 with preemption", name, diff_b,
              NBIG);
    CHECK_MSG(diff_c == 0, "%s: %d of %d requests differ between 2 threads and 1", name, diff_c, NBIG);
    CHECK(distinct > NBIG / 2);
}

/* Logits of one sequence, bit for bit: whole prefill, token-by-token decode, and prompt
 * chunks of 7 in steps shared with a decoding sequence and another prompt's chunks,
 * with 1 thread and 2. Sampled tokens only move when a difference crosses a draw; the
 * logits show every difference. */
static void check_logits(tch_model_t *m, const char *name) {
    enum { N = 23, NO = 40 };
    int64_t V = m->cfg.vocab_size;
    int32_t ids[N], other[NO], toks[1 + 7 + 5];
    for (int i = 0; i < N; i++) ids[i] = 3 + (i * 29) % 250;
    for (int i = 0; i < NO; i++) other[i] = 5 + (i * 13) % 250;
    err_t e;
    tch_kv_t kv;
    tch_ws_t ws;
    CHECK_OK(tch_kv_init_model(&kv, g_o, m, 4, 1 << 20, &e), &e);
    tch_ws_init(&ws, g_o);
    float *whole = malloc(sizeof(float) * (size_t)(N * V)), *out = malloc(sizeof(float) * (size_t)(13 * V));
    tch_pages_t pa = {0}, pb = {0}, pc = {0};
    CHECK(tch_kv_reserve(&kv, &pa, N));
    ops_attn_seq_t s = {N, N, pa.ids};
    CHECK_OK(tch_forward(m, &ws, &kv, &s, 1, ids, 1, whole, &e), &e);
    tch_kv_release(&kv, &pa);
    int bad = 0, nt0 = omp_get_max_threads();
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        for (int32_t i = 0; i < N; i++) {
            CHECK(tch_kv_reserve(&kv, &pa, i + 1));
            s = (ops_attn_seq_t){1, i + 1, pa.ids};
            CHECK_OK(tch_forward(m, &ws, &kv, &s, 1, ids + i, 0, out, &e), &e);
            bad += memcmp(out, whole + i * V, sizeof(float) * (size_t)V) != 0;
        }
        tch_kv_release(&kv, &pa);
        /* b decodes `other` from position 10; c reads it as a prompt in chunks of 5 */
        CHECK(tch_kv_reserve(&kv, &pb, 10));
        s = (ops_attn_seq_t){10, 10, pb.ids};
        CHECK_OK(tch_forward(m, &ws, &kv, &s, 1, other, 0, out, &e), &e);
        for (int32_t c0 = 0, k = 0; c0 < N; c0 += 7, k++) {
            int32_t n = N - c0 < 7 ? N - c0 : 7;
            CHECK(tch_kv_reserve(&kv, &pa, c0 + n) && tch_kv_reserve(&kv, &pb, 11 + k) &&
                  tch_kv_reserve(&kv, &pc, 5 * k + 5));
            ops_attn_seq_t ss[3] = {{1, 11 + k, pb.ids}, {n, c0 + n, pa.ids}, {5, 5 * k + 5, pc.ids}};
            toks[0] = other[10 + k];
            memcpy(toks + 1, ids + c0, sizeof(int32_t) * (size_t)n);
            memcpy(toks + 1 + n, other + 5 * k, sizeof(int32_t) * 5);
            CHECK_OK(tch_forward(m, &ws, &kv, ss, 3, toks, 1, out, &e), &e);
            bad += memcmp(out + V, whole + c0 * V, sizeof(float) * (size_t)(n * V)) != 0;
        }
        tch_kv_release(&kv, &pa), tch_kv_release(&kv, &pb), tch_kv_release(&kv, &pc);
    }
    omp_set_num_threads(nt0);
    CHECK_MSG(bad == 0, "%s: %d forward passes give other logits than the whole prefill", name, bad);
    free(pa.ids), free(pb.ids), free(pc.ids);
    free(whole), free(out);
    tch_ws_free(&ws);
    tch_kv_free(&kv);
}

static void test_invariant_many_requests(void) {
    check_logits(g_m, "qwen2_tied_f32");
    check_invariant(g_m, "qwen2_tied_f32");
    tch_model_t *m;
    err_t e;
    CHECK_OK(tch_model_load(&m, "tests/fixtures/dense/llama3_tied_bf16", &e), &e);
    check_logits(m, "llama3_tied_bf16");
    check_invariant(m, "llama3_tied_bf16");
    tch_model_free(m);
}

static void test_stop_and_errors(void) {
    static jobs_t j, g;
    jobs_init(&g, 1, 0.0f);
    run(&g, 1, 1 << 20, NULL);
    int32_t stop = g.out[0][5];
    int first = 0;
    while (g.out[0][first] != stop) first++;
    jobs_init(&j, 3, 0.0f);
    j.req[0].stop_ids = &stop;
    j.req[0].n_stop_ids = 1;
    /* longer than max_position_embeddings (256) */
    for (int k = 0; k < 280; k++) j.prompts[1][k] = 5;
    j.req[1].n_prompt = 280;
    j.req[2].n_prompt = 0;
    run(&j, 4, 1 << 20, NULL);
    CHECK_EQ_INT(j.n_done, 3);
    CHECK(j.why[0] == TCH_FINISH_STOP);
    CHECK_EQ_INT(j.n_out[0], first + 1);
    CHECK(memcmp(j.out[0], g.out[0], (size_t)(first + 1) * sizeof(int32_t)) == 0);
    CHECK(j.why[1] == TCH_FINISH_ERROR && strstr(j.err[1], "does not fit the context"));
    CHECK(j.why[2] == TCH_FINISH_ERROR && strstr(j.err[2], "empty prompt"));
    /* a cache of 8 blocks (32 tokens) cannot take a 40-token prompt */
    jobs_init(&j, 1, 0.0f);
    for (int k = 0; k < 40; k++) j.prompts[0][k] = 7;
    j.req[0].n_prompt = 40;
    run(&j, 1, 8 * 1024, NULL);
    CHECK(j.why[0] == TCH_FINISH_ERROR && strstr(j.err[0], "--kv-mem"));
    /* a sequence that outgrows the whole cache ends with an error, not a hang */
    jobs_init(&j, 1, 0.0f);
    j.req[0].n_prompt = 20;
    j.req[0].max_new = 100;
    run(&j, 1, 8 * 1024, NULL);
    /* 32 cached tokens, plus the one sampled from the last of them */
    CHECK_MSG(j.why[0] == TCH_FINISH_ERROR && j.n_out[0] == 33 - 20, "%d %d", j.why[0], j.n_out[0]);
}

/* A budget below one block is refused with the size one block needs. */
static void test_kv_budget_too_small(void) {
    err_t e;
    tch_kv_t kv;
    CHECK_ERR(tch_kv_init(&kv, g_o, 2, 2, 8, 16, 100, &e), &e, "holds no KV cache block");
    CHECK_ERR(tch_kv_init_latent(&kv, g_o, 2, 32, 16, 100, &e), &e, "holds no latent KV cache block");
    CHECK_OK(tch_kv_init(&kv, g_o, 2, 2, 8, 16, 1 << 20, &e), &e);
    CHECK(kv.n_blocks == (1 << 20) / (2 * 2 * 16 * 2 * 8 * 4) && kv.n_free == kv.n_blocks);
    tch_kv_free(&kv);
}

int main(void) {
    err_t e;
    if (tch_model_load(&g_m, FIX, &e) != R1D_OK || ops_cpu_init(&g_o, &e) != R1D_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    RUN(test_greedy_matches_transformers);
    RUN(test_batch_and_preemption_invariant);
    RUN(test_invariant_many_requests);
    RUN(test_stop_and_errors);
    RUN(test_kv_budget_too_small);
    ops_free(g_o);
    tch_model_free(g_m);
    return test_summary("test_generate");
}
