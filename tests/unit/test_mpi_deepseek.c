/* deepseek_v3 tensor + expert parallel (tch_ds_set_comm) against the single-process
 * result on the fixtures of tools/gen_deepseek_fixtures.py. tests/run.sh runs this under
 * `mpirun -np 2` and `-np 4`: every rank first computes the single-process logits on its
 * own, then the parallel ones (logits of a whole prefill and token by token, greedy
 * generation). Where the rank count does not divide a fixture's heads or experts, or an
 * FP8 slice would not start on a block boundary (fp8's 128x128 blocks with 24 q_b rows per
 * rank), the error is checked instead; tp4_fp8 (8x8 blocks, 4 heads, 8 experts) splits at
 * -np 2 and 4. A test fails when it fails on any rank; rank 0 prints the summary. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/comm_mpi.h"
#include "teacher/deepseek.h"
#include "teacher/generate.h"
#include "test.h"
#include "test_mpi_lsan.h"

#define FIX "tests/fixtures/deepseek"
static comm_t *g_c;
static int g_rank, g_size;

/* ids[0..n) in chunks of `chunk` through a fresh latent cache; logits of every row */
static r1d_status run_seq(tch_model_t *m, ops_t *o, const int32_t *ids, int n, int chunk, float *logits, err_t *e) {
    tch_kv_t kv;
    tch_ws_t ws;
    tch_pages_t pg = {0};
    TRY(tch_kv_init_model(&kv, o, m, 4, 1 << 20, e));
    tch_ws_init(&ws, o);
    r1d_status st = tch_kv_reserve(&kv, &pg, n) ? R1D_OK : ERR(e, R1D_ENOMEM, "kv full");
    for (int done = 0; done < n && st == R1D_OK;) {
        int k = n - done < chunk ? n - done : chunk;
        ops_attn_seq_t s = {k, done + k, pg.ids};
        st = tch_forward(m, &ws, &kv, &s, 1, ids + done, 1, logits + (size_t)done * m->cfg.vocab_size, e);
        done += k;
    }
    tch_kv_release(&kv, &pg);
    free(pg.ids);
    tch_ws_free(&ws);
    tch_kv_free(&kv);
    return st;
}

typedef struct {
    int given, got;
    int32_t ids[8][32];
    int n[8];
} gen_t;

static const int32_t PROMPT[] = {5, 17, 3, 40, 22, 9};

static r1d_status src(void *ctx, tch_request_t *q, int *has, err_t *e) {
    (void)e;
    gen_t *g = ctx;
    *has = g->given < 2;
    if (*has)
        *q = (tch_request_t){.id = (uint64_t)g->given, .prompt = PROMPT + g->given, .n_prompt = 5 - g->given,
                             .max_new = 12};
    g->given += *has;
    return R1D_OK;
}

static r1d_status sink(void *ctx, const tch_result_t *r, err_t *e) {
    (void)e;
    gen_t *g = ctx;
    memcpy(g->ids[r->id], r->ids, (size_t)r->n_ids * sizeof(int32_t));
    g->n[r->id] = r->n_ids;
    g->got++;
    return R1D_OK;
}

/* draft > 0: speculative decoding with the MTP layer */
static void greedy(tch_model_t *m, ops_t *o, gen_t *g, int draft, err_t *e) {
    memset(g, 0, sizeof *g);
    tch_gen_opts_t opts;
    tch_gen_opts_default(&opts);
    opts.block_size = 4;
    opts.max_step_tokens = 3;
    opts.kv_bytes = 1 << 20;
    opts.spec_draft = draft;
    CHECK_OK(tch_generate(m, o, &opts, src, sink, g, NULL, e), e);
}

static void check_fixture(const char *name) {
    char dir[256];
    snprintf(dir, sizeof dir, FIX "/%s", name);
    err_t e;
    tch_model_t *m = NULL;
    ops_t *o = NULL;
    CHECK_OK(tch_model_load(&m, dir, &e), &e);
    CHECK_OK(ops_cpu_init(&o, &e), &e);
    if (!m || !o) goto done;
    const cfg_model_t *c = &m->cfg;
    if (c->n_heads % g_size || c->n_routed_experts % g_size) {
        CHECK_ERR(tch_ds_set_comm(m, g_c, &e), &e, "ranks do not divide the");
        goto done;
    }
    if (c->quant.method == CFG_QUANT_FP8 && ((int64_t)c->n_heads / g_size * c->head_dim) % c->quant.block[0]) {
        CHECK_ERR(tch_ds_set_comm(m, g_c, &e), &e, "q_b_proj.weight' [");
        CHECK_MSG(strstr(e.msg, "not a multiple of its FP8 block of 128"), "%s", e.msg);
        goto done;
    }
    enum { N = 14 };
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (int32_t)((i * 37 + 11) % c->vocab_size);
    size_t L = (size_t)N * (size_t)c->vocab_size;
    float *one = calloc(2 * L, sizeof(float)), *par = calloc(2 * L, sizeof(float));
    gen_t g1, gp, s1, sp; /* plain, and MTP speculative greedy (MTP models) */
    /* single process: naive (whole prefill) and absorbed (one token at a time) */
    CHECK_OK(run_seq(m, o, ids, N, N, one, &e), &e);
    CHECK_OK(run_seq(m, o, ids, N, 1, one + L, &e), &e);
    greedy(m, o, &g1, 0, &e);
    if (m->ds->has_mtp) greedy(m, o, &s1, 2, &e);
    CHECK_OK(tch_ds_set_comm(m, g_c, &e), &e);
    CHECK_OK(run_seq(m, o, ids, N, N, par, &e), &e);
    CHECK_OK(run_seq(m, o, ids, N, 1, par + L, &e), &e);
    greedy(m, o, &gp, 0, &e);
    if (m->ds->has_mtp) {
        greedy(m, o, &sp, 2, &e);
        for (int r = 0; r < 2; r++)
            CHECK_MSG(s1.n[r] == 12 && sp.n[r] == 12 && !memcmp(s1.ids[r], sp.ids[r], sizeof s1.ids[r]) &&
                      !memcmp(s1.ids[r], g1.ids[r], 12 * sizeof(int32_t)),
                      "%s: MTP speculative greedy request %d differs with %d ranks or from plain greedy", name, r, g_size);
    }
    double mx = 0, err = 0;
    for (size_t i = 0; i < 2 * L; i++) {
        mx = fmax(mx, fabs(one[i]));
        err = fmax(err, fabs((double)one[i] - par[i]));
    }
    CHECK_MSG(err <= 1e-5 * fmax(1.0, mx), "%s: %d ranks vs one: max |logit diff| %g (max |logit| %g)", name, g_size,
              err, mx);
    CHECK(g1.got == 2 && gp.got == 2);
    for (int r = 0; r < 2; r++)
        CHECK_MSG(g1.n[r] == gp.n[r] && !memcmp(g1.ids[r], gp.ids[r], (size_t)g1.n[r] * sizeof(int32_t)),
                  "%s: greedy request %d differs with %d ranks", name, r, g_size);
    if (g_rank == 0) fprintf(stderr, "%s: %d ranks vs one process: max |logit diff| %.3g\n", name, g_size, err);
    free(one), free(par);
done:
    ops_free(o);
    tch_model_free(m);
}

static void test_qlora_bf16(void) { check_fixture("qlora_bf16"); }
static void test_mtp_bf16(void) { check_fixture("mtp_bf16"); }
static void test_noq_f32(void) { check_fixture("noq_f32"); }
static void test_fp8(void) { check_fixture("fp8"); }
static void test_tp4_fp8(void) { check_fixture("tp4_fp8"); }

/* Layouts that cannot split: the vocabulary, an MLP width, an FP8 down_proj's columns. */
static void test_layout_errors(void) {
    err_t e;
    tch_model_t *m = NULL;
    if (g_size == 1) SKIP("one rank: nothing to split");
    CHECK_OK(tch_model_load(&m, FIX "/tp4_fp8", &e), &e);
    if (!m) return;
    int64_t V = m->cfg.vocab_size;
    ds_layer_t *L = &m->ds->layers_full[0];
    ops_weight_t gate = L->mlp.gate, up = L->mlp.up, down = L->mlp.down;
    m->cfg.vocab_size = 64 * g_size + 1; /* the checks run before any tensor is read */
    CHECK_ERR(tch_ds_set_comm(m, g_c, &e), &e, "ranks do not divide the vocabulary of");
    m->cfg.vocab_size = V;
    L->mlp.gate.rows = L->mlp.up.rows = 8 * g_size + 1;
    CHECK_ERR(tch_ds_set_comm(m, g_c, &e), &e, "intermediate rows of 'model.layers.0.mlp'");
    L->mlp.gate = gate, L->mlp.up = up;
    L->mlp.down.block_cols = 64; /* slices of 64/n columns: not whole blocks */
    CHECK_ERR(tch_ds_set_comm(m, g_c, &e), &e, "'model.layers.0.mlp.down_proj.weight' [64, 64]");
    CHECK_MSG(strstr(e.msg, "split its columns"), "%s", e.msg);
    L->mlp.down = down;
    CHECK_OK(tch_ds_set_comm(m, g_c, &e), &e);
    CHECK_OK(tch_ds_set_comm(m, NULL, &e), &e); /* back to one process */
    CHECK(m->ds->layers == m->ds->layers_full && m->ds->size == 1);
    tch_model_free(m);
}

static void mrun(void (*fn)(void), const char *name) {
    static char label[128];
    snprintf(label, sizeof label, "%s[rank %d/%d]", name, g_rank, g_size);
    t_cur = label;
    t_cur_failed = t_cur_skipped = 0;
    fn();
    int64_t flags[2] = {t_cur_failed, t_cur_skipped};
    err_t e;
    if (comm_allreduce(g_c, flags, 2, DT_I64, COMM_MAX, &e) != R1D_OK) flags[0] = 1;
    if (flags[0]) {
        t_failed++;
        if (g_rank == 0) fprintf(stderr, "FAIL %s\n", name);
    } else if (flags[1]) {
        t_skipped++;
    } else {
        t_passed++;
    }
}
#define MRUN(fn) mrun(fn, #fn)

int main(void) {
    err_t e;
    if (comm_init(&g_c, "mpi", &e) != R1D_OK) {
        fprintf(stderr, "test_mpi_deepseek: comm_init(mpi): %s\n", e.msg);
        t_failed = 1;
        return test_summary("test_mpi_deepseek");
    }
    g_rank = comm_rank(g_c);
    g_size = comm_size(g_c);
    if (!comm_mpi_launched()) fprintf(stderr, "test_mpi_deepseek: not started by mpirun: MPI singleton, 1 rank\n");
    MRUN(test_qlora_bf16);
    MRUN(test_mtp_bf16);
    MRUN(test_noq_f32);
    MRUN(test_fp8);
    MRUN(test_tp4_fp8);
    MRUN(test_layout_errors);
    int rank = g_rank;
    comm_free(g_c);
    return rank == 0 ? test_summary("test_mpi_deepseek") : 0;
}
