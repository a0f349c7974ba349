/* DeepSeek-V3 on the GPU (kernels/cuda_deepseek.h).
 * Host logic, everywhere: the FP8 GEMM plan and scale layouts on DeepSeek-V3's real
 * shapes and on odd ones, the activation quantisation reference against the CPU
 * backend's emulation (bit for bit), the router mirror against teacher/deepseek_moe.c's
 * ds_route, the MoE permutation plan against ds_ffn's counting sort, the MLA decode split,
 * MTP acceptance.
 * Device, where a GPU exists ("skipped: no CUDA device" otherwise): each kernel against
 * the CPU path: quantisers bit-exact, FP8 GEMM against the CPU's --act-quant fp8
 * emulation (normalised MSE), MLA absorbed decode against naive MLA in double, the device
 * router and plan against their host mirrors, gate + grouped experts against ds_ffn on
 * the tiny FP8 DeepSeek fixture, MTP verification; guard regions around outputs. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "kernels/cuda_deepseek.h"
#include "kernels/ops.h"
#include "teacher/deepseek.h"
#include "test.h"

static uint64_t rs = 0x1234567ull;
static double urand(void) { /* splitmix64 -> [0, 1) */
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ================= host logic ================= */

static void test_fp8_plan_shapes(void) {
    err_t e;
    static const struct { const char *name; int64_t N, K, nb, kb; } ds[] = {
        {"q_a_proj", 1536, 7168, 12, 56},   {"q_b_proj", 24576, 1536, 192, 12}, {"kv_a_proj", 576, 7168, 5, 56},
        {"kv_b_proj", 32768, 512, 256, 4},  {"o_proj", 7168, 16384, 56, 128},  {"expert gate", 2048, 7168, 16, 56},
        {"expert down", 7168, 2048, 56, 16}, {"dense up", 18432, 7168, 144, 56}, {"dense down", 7168, 18432, 56, 144},
    };
    uint8_t byte = 0;
    float sc = 1;
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        ops_weight_t w = {&byte, DT_F8_E4M3, ds[i].N, ds[i].K, &sc, 128, 128};
        cds_fp8_plan_t p;
        for (int64_t M = 1; M <= 4097; M += 2048) {
            CHECK_OK(cds_fp8_plan(&p, ds[i].name, &w, M, &e), &e);
            CHECK_MSG(p.lt == 1, "%s: %s", ds[i].name, p.why);
            CHECK_EQ_INT(p.nb, ds[i].nb);
            CHECK_EQ_INT(p.kb, ds[i].kb);
            /* every DeepSeek-V3 weight's scale rows are already a multiple of 4: used as-is */
            CHECK_EQ_INT(p.wscale_ld, p.kb);
            CHECK_EQ_INT(p.Mpad, (M + 3) / 4 * 4);
        }
    }
    /* the tiny fixtures' shapes miss cuBLASLt's rules: the fallback, with the reason */
    ops_weight_t w = {&byte, DT_F8_E4M3, 24, 136, &sc, 128, 128};
    cds_fp8_plan_t p;
    CHECK_OK(cds_fp8_plan(&p, "experts.0.gate_proj", &w, 3, &e), &e);
    CHECK(p.lt == 0 && strstr(p.why, "K = 136 is not a multiple of 16"));
    CHECK_EQ_INT(p.kb, 2);
    CHECK_EQ_INT(p.wscale_ld, 4);
    w = (ops_weight_t){&byte, DT_F8_E4M3, 200, 256, &sc, 128, 128};
    CHECK_OK(cds_fp8_plan(&p, "x", &w, 3, &e), &e);
    CHECK(p.lt == 0 && strstr(p.why, "N = 200"));
    w = (ops_weight_t){&byte, DT_F8_E4M3, 256, 256, &sc, 64, 64};
    CHECK_OK(cds_fp8_plan(&p, "x", &w, 3, &e), &e);
    CHECK(p.lt == 0 && strstr(p.why, "weight blocks 64x64"));
    /* errors name the weight */
    w = (ops_weight_t){&byte, DT_BF16, 256, 256, NULL, 0, 0};
    CHECK_ERR(cds_fp8_plan(&p, "layers.3.o_proj", &w, 3, &e), &e, "layers.3.o_proj: FP8 GEMM needs an F8_E4M3 weight, got BF16");
    w = (ops_weight_t){&byte, DT_F8_E4M3, 256, 256, NULL, 128, 128};
    CHECK_ERR(cds_fp8_plan(&p, "q_b", &w, 3, &e), &e, "q_b: F8_E4M3 weight without block scales");
    w = (ops_weight_t){&byte, DT_F8_E4M3, 0, 256, &sc, 128, 128};
    CHECK_ERR(cds_fp8_plan(&p, "q_b", &w, 3, &e), &e, "weight shape [0, 256]");
    w = (ops_weight_t){&byte, DT_F8_E4M3, 256, 256, &sc, 128, 128};
    CHECK_ERR(cds_fp8_plan(&p, "q_b", &w, -1, &e), &e, "expected M >= 0");
}

static void test_scale_layouts(void) {
    /* padding of the weight scales to cuBLASLt's row stride (partial edge blocks: 5 x 3) */
    float src[15], dst[20];
    for (int i = 0; i < 15; i++) src[i] = (float)(i + 1);
    memset(dst, 0xff, sizeof dst);
    cds_wscale_pad(dst, src, 5, 3, 4);
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 4; c++) CHECK(dst[r * 4 + c] == (c < 3 ? src[r * 3 + c] : 0.0f));
    cds_wscale_pad(dst, src, 5, 3, 3);
    CHECK(memcmp(dst, src, sizeof src) == 0);
    /* activation buffers: q [Mpad][K], then the scales, 256-byte aligned */
    CHECK_EQ_INT(cds_fp8_act_scale_offset(1, 7168), 4 * 7168);
    CHECK_EQ_INT(cds_fp8_act_bytes(1, 7168), 4 * 7168 + 56 * 4 * 4);
    CHECK_EQ_INT(cds_fp8_act_scale_offset(5, 136), 1280);
    CHECK_EQ_INT(cds_fp8_act_bytes(3, 130), 768 + 2 * 4 * 4);
}

/* x[M][K] with a partial last tile, an all-zero tile, huge and tiny tiles, exact ties */
static float *quant_input(int64_t M, int64_t K) {
    float *x = malloc((size_t)(M * K) * sizeof(float));
    for (int64_t i = 0; i < M * K; i++) x[i] = nrand() * (float)pow(10.0, (double)((i / 128) % 7) - 3);
    for (int64_t c = 128; c < 256 && c < K; c++) x[c] = 0.0f;            /* row 0 tile 1: zeros */
    for (int64_t c = 0; c < 128 && K + c < M * K; c++) x[K + c] = 1e-7f * (float)c; /* amax below 1e-4 */
    if (M > 2) x[2 * K] = 448.0f, x[2 * K + 1] = -448.0f;
    return x;
}

static void test_act_quant_ref(void) {
    err_t e;
    ops_t *o = NULL;
    CHECK_OK(ops_cpu_init(&o, &e), &e);
    if (!o) return;
    static const int64_t shapes[][2] = {{3, 300}, {5, 7168}, {1, 24}, {4, 136}};
    for (size_t si = 0; si < 4; si++) {
        int64_t M = shapes[si][0], K = shapes[si][1], kb = cdiv(K, 128);
        float *x = quant_input(M, K), *emu = malloc((size_t)(M * K) * sizeof(float));
        uint8_t *q = malloc((size_t)(M * K)), *q2 = malloc((size_t)(M * K));
        float *s = malloc((size_t)(M * kb) * sizeof(float)), *s2 = malloc((size_t)(M * kb) * sizeof(float));
        memcpy(emu, x, (size_t)(M * K) * sizeof(float));
        o->vt->act_quant_fp8(o, emu, M, K, 128);
        cds_act_quant_ref(q, s, x, M, K, kb, 1);  /* K-major */
        cds_act_quant_ref(q2, s2, x, M, K, 1, M); /* M-major (cuBLASLt) */
        int bad = 0;
        for (int64_t m = 0; m < M; m++)
            for (int64_t c = 0; c < K; c++) {
                float v = dt_e4m3_to_f32(q[m * K + c]) * s[m * kb + c / 128];
                bad += memcmp(&v, &emu[m * K + c], 4) != 0;
                bad += q[m * K + c] != dt_f32_to_e4m3(x[m * K + c] / s[m * kb + c / 128]);
                bad += q2[m * K + c] != q[m * K + c] || s2[(c / 128) * M + m] != s[m * kb + c / 128];
            }
        CHECK_MSG(bad == 0, "shape %lldx%lld: %d mismatches against the CPU emulation", (long long)M, (long long)K, bad);
        free(x), free(emu), free(q), free(q2), free(s), free(s2);
    }
    /* the shared encoder is core/dtype.c's, on every pattern around the edges */
    int bad = 0;
    for (uint32_t u = 0; u < 0x100000u; u++) {
        uint32_t bits = (u << 12) | (u & 0xfff);
        float f;
        memcpy(&f, &bits, 4);
        bad += cds_e4m3_encode(f) != dt_f32_to_e4m3(f);
    }
    for (int b = 0; b < 256; b++) {
        float a = cds_e4m3_decode((uint8_t)b), c = dt_e4m3_to_f32((uint8_t)b);
        bad += memcmp(&a, &c, 4) != 0;
    }
    CHECK_EQ_INT(bad, 0);
    ops_free(o);
}

/* ties: integer logits and a zero bias, so that equal scores test the tie rules */
static void route_case(int E, int G, int tg, int K, int norm, int T, int ties) {
    cfg_model_t c;
    memset(&c, 0, sizeof c);
    c.n_routed_experts = E, c.n_group = G, c.topk_group = tg, c.n_experts_per_tok = K;
    c.norm_topk_prob = norm, c.routed_scaling_factor = 2.5;
    cds_route_cfg_t rc;
    err_t e;
    CHECK_OK(cds_route_cfg(&rc, &c, &e), &e);
    float *logits = malloc((size_t)(T * E) * sizeof(float)), *bias = malloc((size_t)E * sizeof(float));
    int32_t *ids = malloc((size_t)(T * K) * sizeof(int32_t)), ref_ids[64];
    float *w = malloc((size_t)(T * K) * sizeof(float)), ref_w[64];
    for (int64_t i = 0; i < (int64_t)T * E; i++) logits[i] = ties ? roundf(nrand()) : nrand() * 2;
    for (int i = 0; i < E; i++) bias[i] = ties ? 0.0f : (float)urand() * 0.2f - 0.1f;
    cds_route_ref(&rc, logits, bias, T, ids, w);
    int bad = 0;
    for (int t = 0; t < T; t++) {
        ds_route(&c, logits + (int64_t)t * E, bias, ref_ids, ref_w);
        for (int k = 0; k < K; k++) bad += ids[t * K + k] != ref_ids[k] || memcmp(&w[t * K + k], &ref_w[k], 4) != 0;
    }
    CHECK_MSG(bad == 0, "E=%d G=%d topk_group=%d K=%d ties=%d: %d differences from ds_route", E, G, tg, K, ties, bad);
    free(logits), free(bias), free(ids), free(w);
}

static void test_route_ref(void) {
    route_case(256, 8, 4, 8, 1, 300, 0); /* DeepSeek-V3 */
    route_case(256, 8, 4, 8, 1, 300, 1);
    route_case(4, 2, 1, 2, 1, 50, 0);    /* the tiny fixtures */
    route_case(64, 1, 1, 6, 0, 50, 1);   /* one group, no normalisation */
    route_case(8, 4, 1, 3, 1, 50, 0);    /* fewer kept experts than K: the masked ones fill in */
    route_case(16, 16, 4, 4, 1, 50, 1);  /* one expert per group: top-1 group score */
    cfg_model_t c;
    memset(&c, 0, sizeof c);
    cds_route_cfg_t rc;
    err_t e;
    c.n_routed_experts = 512, c.n_group = 8, c.topk_group = 4, c.n_experts_per_tok = 8;
    CHECK_ERR(cds_route_cfg(&rc, &c, &e), &e, "n_routed_experts = 512");
    c.n_routed_experts = 256, c.n_group = 6;
    CHECK_ERR(cds_route_cfg(&rc, &c, &e), &e, "n_group = 6");
    c.n_group = 8, c.topk_group = 9;
    CHECK_ERR(cds_route_cfg(&rc, &c, &e), &e, "topk_group = 9");
    c.topk_group = 4, c.n_experts_per_tok = 17;
    CHECK_ERR(cds_route_cfg(&rc, &c, &e), &e, "num_experts_per_tok = 17");
}

static void check_plan(const cds_moe_plan_t *p, const int32_t *ids, int64_t T, int K, int E, int x0, int x1, int BM) {
    int64_t TK = T * K;
    CHECK_EQ_INT(p->off[0], 0);
    CHECK_EQ_INT(p->off[E], TK);
    /* ds_ffn's grouping: counting sort, tokens in order within an expert */
    int32_t *cnt = calloc((size_t)E + 1, sizeof(int32_t)), *tok = malloc((size_t)TK * sizeof(int32_t));
    for (int64_t i = 0; i < TK; i++) cnt[ids[i] + 1]++;
    for (int x = 0; x < E; x++) cnt[x + 1] += cnt[x];
    int bad = 0;
    for (int x = 0; x <= E; x++) bad += cnt[x] != p->off[x];
    for (int64_t i = 0; i < TK; i++) tok[cnt[ids[i]]++] = (int32_t)(i / K);
    for (int64_t r = 0; r < TK; r++) {
        bad += p->row_pair[r] / K != tok[r];
        bad += p->pair_row[p->row_pair[r]] != r;
    }
    CHECK_MSG(bad == 0, "%d differences from ds_ffn's grouping", bad);
    int64_t want = 0, covered = 0;
    for (int x = x0; x < x1; x++) want += cdiv(p->off[x + 1] - p->off[x], BM);
    CHECK_EQ_INT(p->n_tiles, want);
    CHECK(p->n_tiles <= cds_moe_max_tiles(TK, E, BM));
    for (int i = 0; i < p->n_tiles; i++) {
        int x = p->tile_expert[i];
        CHECK(x >= x0 && x < x1 && p->tile_row[i] >= p->off[x] && p->tile_row[i] < p->off[x + 1]);
        int32_t end = p->tile_row[i] + BM < p->off[x + 1] ? p->tile_row[i] + BM : p->off[x + 1];
        covered += end - p->tile_row[i];
    }
    CHECK_EQ_INT(covered, p->off[x1] - p->off[x0]);
    free(cnt), free(tok);
}

static void test_moe_plan_ref(void) {
    err_t e;
    static const struct { int64_t T; int K, E, x0, x1; } cs[] = {
        {37, 8, 256, 0, 256}, {1, 8, 256, 0, 256}, {500, 8, 256, 64, 128}, {13, 2, 4, 0, 4}, {0, 8, 256, 0, 256}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        int64_t TK = cs[i].T * cs[i].K;
        int32_t *ids = malloc((size_t)(TK ? TK : 1) * sizeof(int32_t));
        for (int64_t j = 0; j < TK; j++) /* skewed: a few hot experts, like real routing */
            ids[j] = urand() < 0.3 ? (int32_t)(urand() * 4) : (int32_t)(urand() * cs[i].E);
        cds_moe_plan_t p;
        CHECK_OK(cds_moe_plan_ref(&p, ids, cs[i].T, cs[i].K, cs[i].E, cs[i].x0, cs[i].x1, 32, &e), &e);
        if (p.off) check_plan(&p, ids, cs[i].T, cs[i].K, cs[i].E, cs[i].x0, cs[i].x1, 32);
        cds_moe_plan_free(&p);
        free(ids);
    }
    int32_t ids[4] = {0, 1, 7, 2};
    cds_moe_plan_t p;
    CHECK_ERR(cds_moe_plan_ref(&p, ids, 2, 2, 4, 0, 4, 32, &e), &e, "pair 2 (token 1) routed to expert 7 of 4");
    CHECK(p.off == NULL);
    CHECK_ERR(cds_moe_plan_ref(&p, ids, 2, 2, 4, 3, 2, 32, &e), &e, "experts [3, 2)");
}

static void check_mla_plan(const cds_mla_plan_t *p, const ops_attn_seq_t *s, int B, int32_t bs) {
    int row = 0, bad = 0;
    for (int b = 0; b < B; b++) {
        for (int32_t j = 0; j < p->max_blocks; j++)
            bad += p->block_table[b * p->max_blocks + j] != (j < cdiv(s[b].n_ctx, bs) ? s[b].blocks[j] : -1);
        for (int32_t i = 0; i < s[b].n_new; i++, row++) {
            int32_t len = s[b].n_ctx - s[b].n_new + i + 1, at = 0, n = 0;
            bad += p->row_len[row] != len || p->row_seq[row] != b;
            for (int w = 0; w < p->n_work; w++) { /* pieces of this row, in order, tiling [0, len) */
                const cds_mla_work_t *k = &p->work[w];
                if (k->row != row) continue;
                bad += k->seq != b || k->start != at || k->end <= k->start || k->start % CDS_MLA_CHUNK_ALIGN;
                bad += (p->row_nsplit[row] == 1) != (k->part < 0);
                if (k->part >= 0) bad += k->part != p->row_part0[row] + n;
                at = k->end, n++;
            }
            bad += at != len || n != p->row_nsplit[row] || n > CDS_MLA_MAX_SPLITS;
        }
    }
    CHECK_EQ_INT(row, p->T);
    CHECK_MSG(bad == 0, "%d plan errors", bad);
}

static void test_mla_plan(void) {
    err_t e;
    enum { B = 64 };
    int32_t *blocks = malloc(70000 * sizeof(int32_t));
    for (int i = 0; i < 70000; i++) blocks[i] = 69999 - i;
    ops_attn_seq_t s[B];
    cds_mla_plan_t p;
    /* the benchmark's decode: 64 sequences of 4k, 128 heads in groups of 16 on 132 SMs */
    for (int b = 0; b < B; b++) s[b] = (ops_attn_seq_t){1, 4096, blocks + b * 64};
    CHECK_OK(cds_mla_plan(&p, s, B, 64, 132, 128 / CDS_MLA_HEADS_PER_CTA, 256, &e), &e);
    check_mla_plan(&p, s, B, 64);
    /* 64 rows x 8 head groups already fill 2 waves of 132 SMs: no split */
    CHECK_EQ_INT(p.n_parts, 0);
    CHECK_EQ_INT(p.n_work, 64);
    cds_mla_plan_free(&p);
    /* one sequence of 4k: split into min_chunk pieces to fill the GPU */
    CHECK_OK(cds_mla_plan(&p, s, 1, 64, 132, 8, 256, &e), &e);
    check_mla_plan(&p, s, 1, 64);
    CHECK_EQ_INT(p.chunk, 256);
    CHECK_EQ_INT(p.row_nsplit[0], 16);
    CHECK_EQ_INT(p.n_parts, 16);
    cds_mla_plan_free(&p);
    /* short contexts: one piece each, no partials */
    for (int b = 0; b < 4; b++) s[b] = (ops_attn_seq_t){1, 10 + b, blocks + b};
    CHECK_OK(cds_mla_plan(&p, s, 4, 64, 132, 8, 256, &e), &e);
    check_mla_plan(&p, s, 4, 64);
    CHECK_EQ_INT(p.n_parts, 0);
    CHECK_EQ_INT(p.n_work, 4);
    cds_mla_plan_free(&p);
    /* MTP verification rows (causal lengths) mixed with a long sequence and an idle one */
    s[0] = (ops_attn_seq_t){4, 5000, blocks};
    s[1] = (ops_attn_seq_t){0, 300, blocks + 100};
    s[2] = (ops_attn_seq_t){1, 1, blocks + 200};
    CHECK_OK(cds_mla_plan(&p, s, 3, 16, 132, 8, 64, &e), &e);
    check_mla_plan(&p, s, 3, 16);
    CHECK_EQ_INT(p.T, 5);
    CHECK(p.n_parts > 0);
    cds_mla_plan_free(&p);
    /* a million positions on one row: capped at CDS_MLA_MAX_SPLITS wider pieces */
    s[0] = (ops_attn_seq_t){1, 1 << 20, blocks};
    CHECK_OK(cds_mla_plan(&p, s, 1, 16, 132, 1, 64, &e), &e);
    check_mla_plan(&p, s, 1, 16);
    CHECK(p.row_nsplit[0] <= CDS_MLA_MAX_SPLITS && p.row_nsplit[0] > 1);
    cds_mla_plan_free(&p);
    s[0] = (ops_attn_seq_t){6, 5, blocks};
    CHECK_ERR(cds_mla_plan(&p, s, 1, 16, 132, 8, 64, &e), &e, "sequence 0: n_new = 6, n_ctx = 5");
    s[0] = (ops_attn_seq_t){1, 5, NULL};
    CHECK_ERR(cds_mla_plan(&p, s, 1, 16, 132, 8, 64, &e), &e, "sequence 0 has no page table");
    CHECK_ERR(cds_mla_plan(&p, s, 0, 16, 132, 8, 64, &e), &e, "expected positive values");
    free(blocks);
}

static void test_mtp_accept_ref(void) {
    int32_t drafts[3 * 3] = {5, 6, 7, /**/ 5, 6, 7, /**/ 5, 6, 7};
    int32_t main[3 * 4] = {5, 6, 7, 9, /**/ 5, 8, 7, 9, /**/ 4, 6, 7, 9};
    int32_t acc[3], next[3], n_ctx[3] = {104, 204, 304};
    cds_mtp_accept_ref(drafts, main, 3, 3, acc, next, n_ctx);
    CHECK(acc[0] == 3 && next[0] == 9 && n_ctx[0] == 104);
    CHECK(acc[1] == 1 && next[1] == 8 && n_ctx[1] == 202);
    CHECK(acc[2] == 0 && next[2] == 4 && n_ctx[2] == 301);
}

/* ================= device ================= */
#ifdef R1D_CUDA

/* Random FP8 weight [N, K] with 128 x 128 scales (host memory). */
typedef struct hw {
    uint8_t *w;
    float *s;
    ops_weight_t v;
} hw_t;
static void hw_init(hw_t *h, int64_t N, int64_t K) {
    int64_t nb = cdiv(N, 128), kb = cdiv(K, 128);
    h->w = malloc((size_t)(N * K));
    h->s = malloc((size_t)(nb * kb) * sizeof(float));
    for (int64_t i = 0; i < N * K; i++) h->w[i] = dt_f32_to_e4m3(nrand() * 64.0f);
    for (int64_t i = 0; i < nb * kb; i++) h->s[i] = (float)(0.5 + urand()) * 1e-3f;
    h->v = (ops_weight_t){h->w, DT_F8_E4M3, N, K, h->s, 128, 128};
}
static void hw_free(hw_t *h) { free(h->w), free(h->s); }

#define GUARD 4096
#define GUARD_BYTE 0xa5

static int have_device(void) {
    err_t e;
    int n = 0;
    if (cuda_device_count(&n, &e) != R1D_OK || n < 1) return 0;
    return cuda_set_device(0, &e) == R1D_OK;
}

/* Device buffer of `bytes` between guard zones filled with GUARD_BYTE (poisoned inside). */
typedef struct dbuf {
    uint8_t *base;
    void *p;
    size_t bytes;
} dbuf_t;
static void *dalloc(dbuf_t *b, size_t bytes) {
    err_t e;
    void *base = NULL;
    b->bytes = bytes;
    b->p = NULL;
    if (cuda_alloc(&base, bytes + 2 * GUARD, &e) != R1D_OK) return NULL;
    uint8_t *fill = malloc(bytes + 2 * GUARD);
    memset(fill, GUARD_BYTE, bytes + 2 * GUARD);
    cuda_upload(base, fill, bytes + 2 * GUARD, &e);
    free(fill);
    b->base = base;
    return b->p = b->base + GUARD;
}
static void *dput(dbuf_t *b, const void *src, size_t bytes) {
    err_t e;
    if (dalloc(b, bytes)) cuda_upload(b->p, src, bytes, &e);
    return b->p;
}
/* Downloads the contents; returns 0 when a guard byte changed. */
static int dget(const dbuf_t *b, void *dst) {
    err_t e;
    uint8_t *all = malloc(b->bytes + 2 * GUARD);
    int ok = cuda_download(all, b->base, b->bytes + 2 * GUARD, &e) == R1D_OK;
    for (size_t i = 0; ok && i < GUARD; i++) ok = all[i] == GUARD_BYTE && all[GUARD + b->bytes + i] == GUARD_BYTE;
    if (dst) memcpy(dst, all + GUARD, b->bytes);
    free(all);
    return ok;
}
static void dfree(dbuf_t *b) {
    cuda_free(b->base);
    b->base = NULL;
}

static double nmse(const float *a, const double *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        num += (a[i] - ref[i]) * (a[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return num / (den > 0 ? den : 1);
}

static uint16_t *to_bf16(const float *x, int64_t n) {
    uint16_t *b = malloc((size_t)n * 2);
    for (int64_t i = 0; i < n; i++) b[i] = dt_f32_to_bf16(x[i]);
    return b;
}
static void bf16_to_f32(float *dst, const uint16_t *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = dt_bf16_to_f32(b[i]);
}

static void test_gpu_act_quant(void) {
    if (!have_device()) SKIP("no CUDA device");
    err_t e;
    cds_t *c = NULL;
    CHECK_OK(cds_init(&c, NULL, &e), &e);
    if (!c) return;
    int64_t M = 5, K = 300, Mpad = 8, kb = cdiv(K, 128);
    float *x = quant_input(M, K);
    for (int bf = 0; bf < 2; bf++) {
        uint16_t *xb = to_bf16(x, M * K);
        float *xr = malloc((size_t)(M * K) * 4);
        if (bf) bf16_to_f32(xr, xb, M * K); /* the values the device sees */
        else memcpy(xr, x, (size_t)(M * K) * 4);
        uint8_t *q = malloc((size_t)(Mpad * K)), *qr = malloc((size_t)(M * K));
        float *s = malloc((size_t)(Mpad * kb) * 4), *sr = malloc((size_t)(M * kb) * 4);
        cds_act_quant_ref(qr, sr, xr, M, K, 1, M);
        dbuf_t dx, dq, ds;
        dput(&dx, bf ? (void *)xb : (void *)x, (size_t)(M * K) * (bf ? 2 : 4));
        dalloc(&dq, (size_t)(Mpad * K));
        dalloc(&ds, (size_t)(Mpad * kb) * 4);
        CHECK_OK(cds_act_quant(c, dq.p, ds.p, 1, Mpad, dx.p, bf ? DT_BF16 : DT_F32, M, Mpad, K, &e), &e);
        CHECK_OK(cuda_sync(&e), &e);
        CHECK(dget(&dq, q) && dget(&ds, s));
        int bad = 0;
        for (int64_t m = 0; m < Mpad; m++)
            for (int64_t k = 0; k < K; k++) {
                if (m >= M) {
                    bad += q[m * K + k] != 0 || s[(k / 128) * Mpad + m] != 0.0f;
                    continue;
                }
                bad += q[m * K + k] != qr[m * K + k];
                bad += memcmp(&s[(k / 128) * Mpad + m], &sr[(k / 128) * M + m], 4) != 0;
            }
        CHECK_MSG(bad == 0, "%s input: %d differences from the host reference", bf ? "bf16" : "f32", bad);
        dfree(&dx), dfree(&dq), dfree(&ds);
        free(xb), free(xr), free(q), free(qr), free(s), free(sr);
    }
    free(x);
    cds_free(c);
}

/* Fused RMSNorm and SwiGLU quantisers against the same steps on the host. */
static void test_gpu_fused_quant(void) {
    if (!have_device()) SKIP("no CUDA device");
    err_t e;
    cds_t *c = NULL;
    CHECK_OK(cds_init(&c, NULL, &e), &e);
    if (!c) return;
    int64_t M = 7, K = 7168, kb = cdiv(K, 128);
    float *x = malloc((size_t)(M * 2 * K) * 4), *w = malloc((size_t)K * 4), *y = malloc((size_t)(M * K) * 4);
    for (int64_t i = 0; i < M * 2 * K; i++) x[i] = dt_bf16_to_f32(dt_f32_to_bf16(nrand() * 3));
    for (int64_t i = 0; i < K; i++) w[i] = dt_bf16_to_f32(dt_f32_to_bf16(1 + 0.1f * nrand()));
    uint16_t *xb = to_bf16(x, M * 2 * K), *wb = to_bf16(w, K), *yb = malloc((size_t)(M * K) * 2);
    uint8_t *q = malloc((size_t)(M * K)), *qr = malloc((size_t)(M * K));
    float *s = malloc((size_t)(M * kb) * 4), *sr = malloc((size_t)(M * kb) * 4);
    dbuf_t dx, dw, dq, ds, dy;
    dput(&dx, xb, (size_t)(M * 2 * K) * 2);
    dput(&dw, wb, (size_t)K * 2);
    dalloc(&dq, (size_t)(M * K));
    dalloc(&ds, (size_t)(M * kb) * 4);
    dalloc(&dy, (size_t)(M * K) * 2);
    /* RMSNorm over the first M*K values of x, read as [M][K] */
    CHECK_OK(cds_rmsnorm_quant(c, dq.p, ds.p, kb, 1, dy.p, dx.p, dw.p, 1e-6f, M, M, K, &e), &e);
    CHECK_OK(cuda_sync(&e), &e);
    CHECK(dget(&dq, q) && dget(&ds, s) && dget(&dy, yb));
    int bad_y = 0;
    for (int64_t m = 0; m < M; m++) {
        double ss = 0;
        for (int64_t k = 0; k < K; k++) ss += (double)x[m * K + k] * x[m * K + k];
        float r = 1.0f / sqrtf((float)(ss / K) + 1e-6f);
        for (int64_t k = 0; k < K; k++) {
            float nb = dt_bf16_to_f32(dt_f32_to_bf16(x[m * K + k] * r));
            float ref = dt_bf16_to_f32(dt_f32_to_bf16(w[k] * nb)), got = dt_bf16_to_f32(yb[m * K + k]);
            bad_y += fabsf(got - ref) > 1e-2f * fabsf(ref) + 1e-6f; /* f32 sum order may move r by an ulp */
            y[m * K + k] = got;
        }
    }
    CHECK_MSG(bad_y == 0, "%d normalised values off", bad_y);
    cds_act_quant_ref(qr, sr, y, M, K, kb, 1); /* quantising what the kernel stored must be bit-exact */
    CHECK(memcmp(q, qr, (size_t)(M * K)) == 0 && memcmp(s, sr, (size_t)(M * kb) * 4) == 0);
    /* SwiGLU from one [M][2K] buffer (gate | up) */
    CHECK_OK(cds_swiglu_quant(c, dq.p, ds.p, kb, 1, dx.p, (uint16_t *)dx.p + K, 2 * K, M, M, K, &e), &e);
    CHECK_OK(cuda_sync(&e), &e);
    CHECK(dget(&dq, q) && dget(&ds, s));
    /* against the host's quantisation of the same f32 SwiGLU: device and host expf may
     * differ by an ulp, which moves a value across a rounding boundary now and then */
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) {
            float g = x[m * 2 * K + k], u = x[m * 2 * K + K + k];
            y[m * K + k] = g / (1.0f + expf(-g)) * u;
        }
    cds_act_quant_ref(qr, sr, y, M, K, kb, 1);
    int far = 0, near = 0;
    for (int64_t i = 0; i < M * K; i++) {
        int d = abs((int)(q[i] & 0x7f) - (int)(qr[i] & 0x7f));
        far += d > 1 || (d && (q[i] ^ qr[i]) & 0x80), near += d == 1;
    }
    for (int64_t i = 0; i < M * kb; i++) far += fabsf(s[i] - sr[i]) > 1e-6f * sr[i];
    CHECK_MSG(far == 0 && near < M * K / 100, "SwiGLU quantisation: %d codes off by more than one step, %d by one", far,
              near);
    CHECK_ERR(cds_swiglu_quant(c, dq.p, ds.p, kb, 1, dx.p, dx.p, K - 1, M, M, K, &e), &e, "row stride");
    dfree(&dx), dfree(&dw), dfree(&dq), dfree(&ds), dfree(&dy);
    free(x), free(w), free(y), free(xb), free(wb), free(yb), free(q), free(qr), free(s), free(sr);
    cds_free(c);
}

/* FP8 GEMM against the CPU: activations quantised by the CPU emulation, then the CPU's
 * FP8 matmul (dequantised weights, f32). */
static void gemm_case(cds_t *c, ops_t *o, int64_t M, int64_t N, int64_t K, int expect_lt) {
    err_t e;
    hw_t w;
    hw_init(&w, N, K);
    float *x = malloc((size_t)(M * K) * 4), *ycpu = malloc((size_t)(M * N) * 4), *y = malloc((size_t)(M * N) * 4);
    for (int64_t i = 0; i < M * K; i++) x[i] = dt_bf16_to_f32(dt_f32_to_bf16(nrand()));
    uint16_t *xb = to_bf16(x, M * K), *yb = malloc((size_t)(M * N) * 2);
    o->vt->act_quant_fp8(o, x, M, K, 128);
    o->vt->matmul(o, ycpu, x, &w.v, NULL, M);
    double *ref = malloc((size_t)(M * N) * sizeof(double));
    for (int64_t i = 0; i < M * N; i++) ref[i] = ycpu[i];
    cds_fp8_weight_t dw;
    dbuf_t dx, dy;
    CHECK_OK(cds_fp8_weight_upload(&dw, "test weight", &w.v, &e), &e);
    dput(&dx, xb, (size_t)(M * K) * 2);
    dalloc(&dy, (size_t)(M * N) * 2);
    int64_t fb0 = cds_fallback_count(c);
    CHECK_OK(cds_fp8_linear(c, dy.p, dx.p, &dw, M, &e), &e);
    CHECK_OK(cuda_sync(&e), &e);
    CHECK_MSG(dget(&dy, yb), "M=%lld N=%lld K=%lld: write outside the output", (long long)M, (long long)N, (long long)K);
    bf16_to_f32(y, yb, M * N);
    double err = nmse(y, ref, M * N);
    CHECK_MSG(err < 2e-5, "M=%lld N=%lld K=%lld: NMSE %g", (long long)M, (long long)N, (long long)K, err);
    int took_lt = cds_fallback_count(c) == fb0;
    CHECK_MSG(!expect_lt || took_lt, "M=%lld N=%lld K=%lld: cuBLASLt refused a DeepSeek shape", (long long)M,
              (long long)N, (long long)K);
    if (!expect_lt) CHECK(!took_lt);
    cds_fp8_weight_free(&dw);
    dfree(&dx), dfree(&dy);
    hw_free(&w);
    free(x), free(ycpu), free(y), free(xb), free(yb), free(ref);
}

static void test_gpu_fp8_gemm(void) {
    if (!have_device()) SKIP("no CUDA device");
    err_t e;
    cds_t *c = NULL;
    ops_t *o = NULL;
    CHECK_OK(cds_init(&c, NULL, &e), &e);
    CHECK_OK(ops_cpu_init(&o, &e), &e);
    if (!c || !o) return;
    gemm_case(c, o, 1, 576, 7168, 1);   /* kv_a: partial last row block, decode of one token */
    gemm_case(c, o, 5, 1536, 7168, 1);  /* q_a, odd M (padded to 8) */
    gemm_case(c, o, 64, 4096, 512, 1);  /* kv_b's K */
    gemm_case(c, o, 130, 7168, 2048, 1); /* expert down */
    gemm_case(c, o, 33, 208, 336, 1);   /* partial blocks in N and K */
    gemm_case(c, o, 3, 24, 136, 0);     /* the tiny fixture's expert: fallback */
    gemm_case(c, o, 4, 136, 24, 0);
    ops_free(o);
    cds_free(c);
}

/* Absorbed MLA decode (store, absorb, attention with splits, W_UV) against naive MLA in
 * double on the same bf16 inputs, for 3 sequences of ctx[b] positions with nnew[b] new. */
enum { BS = 16, B3 = 3 };
static void mla_case(cds_t *c, int H, int Dn, int P, int Dv, int R, const int *ctx, const int *nnew) {
    err_t e;
    enum { B = B3 };
    int W = R + P;
    float scale = 0.1352338f, mscale = 1.0f;
    hw_t kvb;
    hw_init(&kvb, (int64_t)H * (Dn + Dv), R);
    float inv_freq[32];
    for (int j = 0; j < P / 2; j++) inv_freq[j] = powf(10000.0f, -2.0f * j / P);
    int total_blocks = 0;
    for (int b = 0; b < B; b++) total_blocks += (ctx[b] + BS - 1) / BS;
    int32_t *blocks = malloc((size_t)total_blocks * 4);
    for (int i = 0; i < total_blocks; i++) blocks[i] = total_blocks - 1 - i; /* scattered pages */
    ops_attn_seq_t seqs[B];
    int T = 0;
    for (int b = 0, at = 0; b < B; b++) {
        seqs[b] = (ops_attn_seq_t){nnew[b], ctx[b], blocks + at};
        at += (ctx[b] + BS - 1) / BS;
        T += nnew[b];
    }
    /* cache rows: random latents (bf16) for old positions; new tokens go through cds_mla_store */
    size_t cache_n = (size_t)total_blocks * BS * W;
    uint16_t *cache = malloc(cache_n * 2);
    for (size_t i = 0; i < cache_n; i++) cache[i] = dt_f32_to_bf16(nrand());
    float *kva = malloc((size_t)T * W * 4), *normw = malloc(R * 4), *q = malloc((size_t)T * H * (Dn + P) * 4);
    for (int i = 0; i < T * W; i++) kva[i] = dt_bf16_to_f32(dt_f32_to_bf16(nrand() * 2));
    for (int i = 0; i < R; i++) normw[i] = dt_bf16_to_f32(dt_f32_to_bf16(1 + 0.1f * nrand()));
    for (int i = 0; i < T * H * (Dn + P); i++) q[i] = dt_bf16_to_f32(dt_f32_to_bf16(nrand() * 0.5f));
    cds_mla_plan_t plan;
    CHECK_OK(cds_mla_plan(&plan, seqs, B, BS, cds_sm_count(c), (H + 15) / 16, 64, &e), &e);
    CHECK(plan.n_parts > 0); /* the long row is split */
    cds_mla_dims_t d = {H, Dn, P, Dv, R, scale};
    cds_fp8_weight_t dkvb;
    dbuf_t dcache, dkva, dnorm, dq, dqabs, dolat, datt, dwkvb, dfreq;
    uint16_t *kvab = to_bf16(kva, (int64_t)T * W), *normb = to_bf16(normw, R), *qb = to_bf16(q, (int64_t)T * H * (Dn + P));
    CHECK_OK(cds_fp8_weight_upload(&dkvb, "kv_b_proj", &kvb.v, &e), &e);
    dput(&dcache, cache, cache_n * 2);
    dput(&dkva, kvab, (size_t)T * W * 2);
    dput(&dnorm, normb, R * 2);
    dput(&dq, qb, (size_t)T * H * (Dn + P) * 2);
    dput(&dfreq, inv_freq, (size_t)(P / 2) * 4);
    dalloc(&dqabs, (size_t)T * H * W * 2);
    dalloc(&dolat, (size_t)T * H * R * 2);
    dalloc(&datt, (size_t)T * H * Dv * 2);
    dalloc(&dwkvb, (size_t)H * (Dn + Dv) * R * 2);
    cds_mla_dev_t dv = {0};
    CHECK_OK(cds_mla_dev_upload(c, &dv, &plan, H, R, &e), &e);
    CHECK_OK(cds_mla_wkvb(c, dwkvb.p, &dkvb, &e), &e);
    CHECK_OK(cds_mla_store(c, dcache.p, BS, dkva.p, dnorm.p, 1e-6f, dfreq.p, mscale, 1, &dv, R, P, &e), &e);
    CHECK_OK(cds_mla_absorb_q(c, dqabs.p, dq.p, dwkvb.p, &d, dfreq.p, mscale, 1, &dv, &e), &e);
    CHECK_OK(cds_mla_decode(c, dolat.p, dqabs.p, dcache.p, BS, &dv, &d, &e), &e);
    CHECK_OK(cds_mla_out(c, datt.p, dolat.p, dwkvb.p, &d, T, &e), &e);
    CHECK_OK(cuda_sync(&e), &e);
    uint16_t *cache2 = malloc(cache_n * 2), *att = malloc((size_t)T * H * Dv * 2);
    CHECK(dget(&dcache, cache2) && dget(&datt, att) && dget(&dqabs, NULL) && dget(&dolat, NULL) && dget(&dwkvb, NULL));
    /* host reference: the stored rows, then naive attention with expanded keys and values */
    double *ref = calloc((size_t)T * H * Dv, sizeof(double));
    float *wkv = malloc((size_t)H * (Dn + Dv) * R * 4);
    for (int64_t r = 0; r < (int64_t)H * (Dn + Dv); r++) ds_weight_row(&kvb.v, r, wkv + r * R);
    int bad_store = 0;
    for (int b = 0, t = 0; b < B; b++)
        for (int i = 0; i < nnew[b]; i++, t++) {
            int pos = ctx[b] - nnew[b] + i;
            uint16_t *row = cache + ((size_t)seqs[b].blocks[pos / BS] * BS + pos % BS) * W;
            const float *x = kva + (size_t)t * W;
            double ss = 0;
            for (int j = 0; j < R; j++) ss += (double)x[j] * x[j];
            float rr = 1.0f / sqrtf((float)(ss / R) + 1e-6f);
            for (int j = 0; j < R; j++)
                row[j] = dt_f32_to_bf16(normw[j] * dt_bf16_to_f32(dt_f32_to_bf16(x[j] * rr)));
            for (int j = 0; j < P / 2; j++) {
                float a = x[R + 2 * j], bb = x[R + 2 * j + 1], ang = (float)pos * inv_freq[j];
                row[R + 2 * j] = dt_f32_to_bf16(a * cosf(ang) - bb * sinf(ang));
                row[R + 2 * j + 1] = dt_f32_to_bf16(bb * cosf(ang) + a * sinf(ang));
            }
            uint16_t *got = cache2 + ((size_t)seqs[b].blocks[pos / BS] * BS + pos % BS) * W;
            for (int j = 0; j < W; j++)
                bad_store += fabsf(dt_bf16_to_f32(got[j]) - dt_bf16_to_f32(row[j])) > 1e-2f * fabsf(dt_bf16_to_f32(row[j])) + 1e-3f;
        }
    CHECK_MSG(bad_store == 0, "%d stored latent values off", bad_store);
    /* naive: each sequence's latents expanded into per-head keys and values once */
    for (int b = 0, t = 0; b < B; b++) {
        double *kn = malloc((size_t)ctx[b] * H * Dn * sizeof(double)), *vv = malloc((size_t)ctx[b] * H * Dv * sizeof(double));
        for (int p = 0; p < ctx[b]; p++) {
            const uint16_t *row = cache + ((size_t)seqs[b].blocks[p / BS] * BS + p % BS) * W;
            double lat[512];
            for (int r = 0; r < R; r++) lat[r] = dt_bf16_to_f32(row[r]);
            for (int h = 0; h < H; h++)
                for (int k = 0; k < Dn + Dv; k++) {
                    const float *wr = wkv + ((size_t)h * (Dn + Dv) + k) * R;
                    double acc = 0;
                    for (int r = 0; r < R; r++) acc += wr[r] * lat[r];
                    if (k < Dn) kn[((size_t)p * H + h) * Dn + k] = acc;
                    else vv[((size_t)p * H + h) * Dv + k - Dn] = acc;
                }
        }
        for (int i = 0; i < nnew[b]; i++, t++) {
            int pos = ctx[b] - nnew[b] + i, len = pos + 1;
            double *sc = malloc((size_t)len * sizeof(double));
            for (int h = 0; h < H; h++) {
                const float *qh = q + ((size_t)t * H + h) * (Dn + P);
                double qpe[64];
                for (int j = 0; j < P / 2; j++) {
                    double ang = (double)((float)pos * inv_freq[j]);
                    qpe[2 * j] = qh[Dn + 2 * j] * cos(ang) - qh[Dn + 2 * j + 1] * sin(ang);
                    qpe[2 * j + 1] = qh[Dn + 2 * j + 1] * cos(ang) + qh[Dn + 2 * j] * sin(ang);
                }
                double mx = -INFINITY, sum = 0;
                for (int p = 0; p < len; p++) {
                    const uint16_t *row = cache + ((size_t)seqs[b].blocks[p / BS] * BS + p % BS) * W;
                    double s_ = 0;
                    for (int k = 0; k < Dn; k++) s_ += qh[k] * kn[((size_t)p * H + h) * Dn + k];
                    for (int j = 0; j < P; j++) s_ += qpe[j] * dt_bf16_to_f32(row[R + j]);
                    sc[p] = s_ * scale;
                    mx = fmax(mx, sc[p]);
                }
                for (int p = 0; p < len; p++) sum += sc[p] = exp(sc[p] - mx);
                double *o = ref + ((size_t)t * H + h) * Dv;
                for (int p = 0; p < len; p++)
                    for (int v = 0; v < Dv; v++) o[v] += sc[p] / sum * vv[((size_t)p * H + h) * Dv + v];
            }
            free(sc);
        }
        free(kn), free(vv);
    }
    float *attf = malloc((size_t)T * H * Dv * 4);
    bf16_to_f32(attf, att, (int64_t)T * H * Dv);
    double err = nmse(attf, ref, (int64_t)T * H * Dv);
    CHECK_MSG(err < 1e-4, "absorbed MLA (H=%d R=%d P=%d) against naive: NMSE %g", H, R, P, err);
    cds_mla_dev_free(&dv);
    cds_mla_plan_free(&plan);
    cds_fp8_weight_free(&dkvb);
    dfree(&dcache), dfree(&dkva), dfree(&dnorm), dfree(&dq), dfree(&dqabs), dfree(&dolat), dfree(&datt),
        dfree(&dwkvb), dfree(&dfreq);
    hw_free(&kvb);
    free(blocks), free(cache), free(cache2), free(kva), free(normw), free(q), free(kvab), free(normb), free(qb),
        free(att), free(attf), free(ref), free(wkv);
}

static void test_gpu_mla(void) {
    if (!have_device()) SKIP("no CUDA device");
    err_t e;
    cds_t *c = NULL;
    CHECK_OK(cds_init(&c, NULL, &e), &e);
    if (!c) return;
    /* DeepSeek-V3's widths (tensor-core kernel), 20 heads: a partial head group */
    static const int ctx[B3] = {1, 150, 700}, nnew[B3] = {1, 3, 1};
    mla_case(c, 20, 128, 64, 128, 512, ctx, nnew);
    /* the tiny fixtures' widths (general kernel) */
    static const int ctx2[B3] = {5, 40, 300}, nnew2[B3] = {1, 4, 1};
    mla_case(c, 3, 16, 8, 20, 72, ctx2, nnew2);
    cds_free(c);
}

/* Device router and plan against their host mirrors (DeepSeek-V3's sizes). */
static void test_gpu_moe_route_plan(void) {
    if (!have_device()) SKIP("no CUDA device");
    err_t e;
    cds_t *c = NULL;
    CHECK_OK(cds_init(&c, NULL, &e), &e);
    if (!c) return;
    cds_route_cfg_t rc = {256, 8, 4, 8, 1, 2.5f};
    int64_t T = 777, TK = T * 8;
    float *logits = malloc((size_t)(T * 256) * 4), bias[256], *w = malloc((size_t)TK * 4), *wr = malloc((size_t)TK * 4);
    int32_t *ids = malloc((size_t)TK * 4), *idr = malloc((size_t)TK * 4);
    for (int64_t i = 0; i < T * 256; i++) logits[i] = nrand() * 2;
    for (int i = 0; i < 256; i++) bias[i] = (float)urand() * 0.2f - 0.1f;
    cds_route_ref(&rc, logits, bias, T, idr, wr);
    dbuf_t dl, db, di, dw;
    dput(&dl, logits, (size_t)(T * 256) * 4);
    dput(&db, bias, sizeof bias);
    dalloc(&di, (size_t)TK * 4);
    dalloc(&dw, (size_t)TK * 4);
    CHECK_OK(cds_moe_route(c, di.p, dw.p, dl.p, db.p, &rc, T, &e), &e);
    CHECK_OK(cuda_sync(&e), &e);
    CHECK(dget(&di, ids) && dget(&dw, w));
    int differ = 0;
    for (int64_t i = 0; i < TK; i++) differ += ids[i] != idr[i] || fabsf(w[i] - wr[i]) > 1e-5f * fabsf(wr[i]);
    /* device expf may differ from the host's by an ulp: only a near-tie may flip */
    CHECK_MSG(differ <= 16, "%d of %lld routing choices differ from the host mirror", differ, (long long)TK);
    /* the plan, from the device's own ids */
    cds_moe_plan_t p;
    CHECK_OK(cds_moe_plan_ref(&p, ids, T, 8, 256, 32, 96, CDS_MOE_BM, &e), &e);
    int64_t mt = cds_moe_max_tiles(TK, 256, CDS_MOE_BM);
    dbuf_t doff, drp, dpr, dtiles, dnt;
    cds_moe_dev_plan_t dp = {dalloc(&doff, 257 * 4), dalloc(&drp, (size_t)TK * 4), dalloc(&dpr, (size_t)TK * 4),
                             dalloc(&dtiles, (size_t)mt * 8), dalloc(&dnt, 4), mt};
    CHECK_OK(cds_moe_plan(c, &dp, di.p, T, 8, 256, 32, 96, &e), &e);
    CHECK_OK(cuda_sync(&e), &e);
    int32_t *off = malloc(257 * 4), *rp = malloc((size_t)TK * 4), *pr = malloc((size_t)TK * 4);
    int32_t *tiles = malloc((size_t)mt * 8), nt = -1;
    CHECK(dget(&doff, off) && dget(&drp, rp) && dget(&dpr, pr) && dget(&dtiles, tiles) && dget(&dnt, &nt));
    CHECK(memcmp(off, p.off, 257 * 4) == 0 && memcmp(rp, p.row_pair, (size_t)TK * 4) == 0 &&
          memcmp(pr, p.pair_row, (size_t)TK * 4) == 0);
    CHECK_EQ_INT(nt, p.n_tiles);
    for (int i = 0; i < nt && i < p.n_tiles; i++) CHECK(tiles[2 * i] == p.tile_expert[i] && tiles[2 * i + 1] == p.tile_row[i]);
    cds_moe_plan_free(&p);
    dfree(&dl), dfree(&db), dfree(&di), dfree(&dw), dfree(&doff), dfree(&drp), dfree(&dpr), dfree(&dtiles), dfree(&dnt);
    free(logits), free(w), free(wr), free(ids), free(idr), free(off), free(rp), free(pr), free(tiles);
    cds_free(c);
}

/* Gate + grouped experts + shared expert of the tiny FP8 fixture's MoE layer against
 * teacher/deepseek_moe.c's ds_ffn with the FP8 activation emulation. */
static void test_gpu_moe_layer(void) {
    if (!have_device()) SKIP("no CUDA device");
    err_t e;
    tch_model_t *m = NULL;
    ops_t *o = NULL;
    cds_t *c = NULL;
    CHECK_OK(tch_model_load(&m, "tests/fixtures/deepseek/fp8", &e), &e);
    CHECK_OK(ops_cpu_init(&o, &e), &e);
    CHECK_OK(cds_init(&c, NULL, &e), &e);
    if (!m || !o || !c) return;
    tch_ds_set_act_quant(m, 1);
    const cfg_model_t *cf = &m->cfg;
    const ds_layer_t *L = &m->ds->layers[cf->first_k_dense_replace];
    CHECK(L->moe && cf->n_routed_experts <= 64);
    int64_t T = 37, C = cf->hidden_size, F = cf->moe_intermediate_size, Fs = L->shared.gate.rows;
    int K = cf->n_experts_per_tok, E = cf->n_routed_experts;
    int64_t TK = T * K, kbC = cdiv(C, 128), kbF = cdiv(F, 128);
    float *h = malloc((size_t)(T * C) * 4), *out = malloc((size_t)(T * C) * 4), *logits = malloc((size_t)(T * E) * 4);
    for (int64_t i = 0; i < T * C; i++) h[i] = dt_bf16_to_f32(dt_f32_to_bf16(nrand()));
    CHECK_OK(ds_ffn(m, o, L, h, out, T, &e), &e);
    o->vt->matmul(o, logits, h, &L->router, NULL, T); /* the CPU's f32 router logits drive both routers */
    double *ref = malloc((size_t)(T * C) * sizeof(double));
    for (int64_t i = 0; i < T * C; i++) ref[i] = out[i];
    cds_route_cfg_t rc;
    CHECK_OK(cds_route_cfg(&rc, cf, &e), &e);
    /* device weights */
    cds_fp8_weight_t *eg = calloc((size_t)E * 3, sizeof *eg), sg, su, sd;
    const uint8_t *pw[3][64];
    const float *ps[3][64];
    for (int x = 0; x < E; x++) {
        const ops_weight_t *ws[3] = {&L->experts[x].gate, &L->experts[x].up, &L->experts[x].down};
        for (int k = 0; k < 3; k++) {
            CHECK_OK(cds_fp8_weight_upload(&eg[x * 3 + k], "expert", ws[k], &e), &e);
            pw[k][x] = eg[x * 3 + k].d_w, ps[k][x] = eg[x * 3 + k].d_scale;
        }
    }
    CHECK_OK(cds_fp8_weight_upload(&sg, "shared gate", &L->shared.gate, &e), &e);
    CHECK_OK(cds_fp8_weight_upload(&su, "shared up", &L->shared.up, &e), &e);
    CHECK_OK(cds_fp8_weight_upload(&sd, "shared down", &L->shared.down, &e), &e);
    uint16_t *hb = to_bf16(h, T * C);
    dbuf_t dh, dlog, dbias, dids, dw, dptr, dxq, dsq, dxp, dsp, dg, du, dq2, ds2, dy, dsg, dsu, dsh, dout;
    dbuf_t doff, drp, dpr, dtiles, dnt;
    int64_t mt = cds_moe_max_tiles(TK, E, CDS_MOE_BM), Mpad = (T + 3) / 4 * 4;
    dput(&dh, hb, (size_t)(T * C) * 2);
    dput(&dlog, logits, (size_t)(T * E) * 4);
    dput(&dbias, L->router_bias, (size_t)E * 4);
    dalloc(&dids, (size_t)TK * 4);
    dalloc(&dw, (size_t)TK * 4);
    const void *ptrs[6 * 64];
    for (int k = 0; k < 3; k++)
        for (int x = 0; x < E; x++) ptrs[k * E + x] = pw[k][x], ptrs[(3 + k) * E + x] = ps[k][x];
    dput(&dptr, ptrs, (size_t)6 * E * sizeof(void *));
    const void **dp = dptr.p;
    cds_moe_dev_plan_t plan = {dalloc(&doff, (size_t)(E + 1) * 4), dalloc(&drp, (size_t)TK * 4),
                               dalloc(&dpr, (size_t)TK * 4), dalloc(&dtiles, (size_t)mt * 8), dalloc(&dnt, 4), mt};
    dalloc(&dxq, (size_t)(T * C));
    dalloc(&dsq, (size_t)(T * kbC) * 4);
    dalloc(&dxp, (size_t)(TK * C));
    dalloc(&dsp, (size_t)(TK * kbC) * 4);
    dalloc(&dg, (size_t)(TK * F) * 2);
    dalloc(&du, (size_t)(TK * F) * 2);
    dalloc(&dq2, (size_t)(TK * F));
    dalloc(&ds2, (size_t)(TK * kbF) * 4);
    dalloc(&dy, (size_t)(TK * C) * 2);
    dalloc(&dsg, (size_t)(T * Fs) * 2);
    dalloc(&dsu, (size_t)(T * Fs) * 2);
    dalloc(&dsh, (size_t)(T * C) * 2);
    dalloc(&dout, (size_t)(T * C) * 4);
    size_t sq_bytes = cds_fp8_act_bytes(T, Fs);
    dbuf_t dshq;
    uint8_t *shq = dalloc(&dshq, sq_bytes);
    /* routed */
    CHECK_OK(cds_moe_route(c, dids.p, dw.p, dlog.p, dbias.p, &rc, T, &e), &e);
    CHECK_OK(cds_moe_plan(c, &plan, dids.p, T, K, E, 0, E, &e), &e);
    CHECK_OK(cds_act_quant(c, dxq.p, dsq.p, kbC, 1, dh.p, DT_BF16, T, T, C, &e), &e);
    CHECK_OK(cds_moe_gather(c, dxp.p, dsp.p, dxq.p, dsq.p, &plan, TK, K, C, &e), &e);
    CHECK_OK(cds_moe_gemm(c, dg.p, dxp.p, dsp.p, (const uint8_t *const *)dp, (const float *const *)(dp + 3 * E), &plan, TK, F, C, &e), &e);
    CHECK_OK(cds_moe_gemm(c, du.p, dxp.p, dsp.p, (const uint8_t *const *)(dp + E), (const float *const *)(dp + 4 * E), &plan, TK, F, C, &e), &e);
    CHECK_OK(cds_swiglu_quant(c, dq2.p, ds2.p, kbF, 1, dg.p, du.p, F, TK, TK, F, &e), &e);
    CHECK_OK(cds_moe_gemm(c, dy.p, dq2.p, ds2.p, (const uint8_t *const *)(dp + 2 * E), (const float *const *)(dp + 5 * E), &plan, TK, C, F, &e), &e);
    /* shared expert through the dense FP8 path (M-major scales) */
    CHECK_OK(cds_fp8_linear(c, dsg.p, dh.p, &sg, T, &e), &e);
    CHECK_OK(cds_fp8_linear(c, dsu.p, dh.p, &su, T, &e), &e);
    CHECK_OK(cds_swiglu_quant(c, shq, (float *)(shq + cds_fp8_act_scale_offset(T, Fs)), 1, Mpad, dsg.p, dsu.p, Fs, T,
                              Mpad, Fs, &e), &e);
    CHECK_OK(cds_fp8_gemm(c, dsh.p, shq, (const float *)(shq + cds_fp8_act_scale_offset(T, Fs)), &sd, T, &e), &e);
    CHECK_OK(cds_moe_combine(c, dout.p, DT_F32, dy.p, dids.p, dw.p, &plan, dsh.p, T, K, C, 0, E, &e), &e);
    CHECK_OK(cuda_sync(&e), &e);
    float *got = malloc((size_t)(T * C) * 4);
    CHECK(dget(&dout, got) && dget(&dy, NULL) && dget(&dg, NULL) && dget(&dq2, NULL) && dget(&dshq, NULL));
    double err = nmse(got, ref, T * C);
    CHECK_MSG(err < 5e-4, "MoE layer against ds_ffn: NMSE %g", err); /* bf16 gate/up outputs move a few E4M3 codes */
    for (int x = 0; x < E * 3; x++) cds_fp8_weight_free(&eg[x]);
    cds_fp8_weight_free(&sg), cds_fp8_weight_free(&su), cds_fp8_weight_free(&sd);
    dbuf_t *all[] = {&dh, &dlog, &dbias, &dids, &dw, &dptr, &dxq, &dsq, &dxp, &dsp, &dg, &du, &dq2, &ds2,
                     &dy, &dsg, &dsu, &dsh, &dout, &doff, &drp, &dpr, &dtiles, &dnt, &dshq};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dfree(all[i]);
    free(eg), free(h), free(out), free(logits), free(ref), free(hb), free(got);
    cds_free(c);
    ops_free(o);
    tch_model_free(m);
}

static void test_gpu_mtp(void) {
    if (!have_device()) SKIP("no CUDA device");
    err_t e;
    cds_t *c = NULL;
    CHECK_OK(cds_init(&c, NULL, &e), &e);
    if (!c) return;
    enum { B = 5, ND = 3, V = 129280 };
    float *logits = malloc((size_t)B * (ND + 1) * V * 4);
    for (size_t i = 0; i < (size_t)B * (ND + 1) * V; i++) logits[i] = nrand();
    int32_t main_ref[B * (ND + 1)], drafts[B * ND], n_ctx[B], n_ctx_ref[B], acc[B], accr[B], next[B], nextr[B];
    for (int r = 0; r < B * (ND + 1); r++) {
        if (r % 3 == 0) logits[(size_t)r * V + 7] = logits[(size_t)r * V + 9] = 50; /* a tie: the lower index wins */
        main_ref[r] = ops_argmax(logits + (size_t)r * V, V);
    }
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < ND; j++) drafts[b * ND + j] = j < b ? main_ref[b * (ND + 1) + j] : 3;
        n_ctx[b] = n_ctx_ref[b] = 100 + b;
    }
    cds_mtp_accept_ref(drafts, main_ref, B, ND, accr, nextr, n_ctx_ref);
    dbuf_t dl, dm, dd, da, dn, dc;
    dput(&dl, logits, (size_t)B * (ND + 1) * V * 4);
    dalloc(&dm, sizeof main_ref);
    dput(&dd, drafts, sizeof drafts);
    dalloc(&da, sizeof acc);
    dalloc(&dn, sizeof next);
    dput(&dc, n_ctx, sizeof n_ctx);
    int32_t main_got[B * (ND + 1)];
    CHECK_OK(cds_argmax(c, dm.p, dl.p, B * (ND + 1), V, &e), &e);
    CHECK_OK(cds_mtp_accept(c, dd.p, dm.p, B, ND, da.p, dn.p, dc.p, &e), &e);
    CHECK_OK(cuda_sync(&e), &e);
    CHECK(dget(&dm, main_got) && dget(&da, acc) && dget(&dn, next) && dget(&dc, n_ctx));
    CHECK(memcmp(main_got, main_ref, sizeof main_ref) == 0);
    CHECK(memcmp(acc, accr, sizeof acc) == 0 && memcmp(next, nextr, sizeof next) == 0 &&
          memcmp(n_ctx, n_ctx_ref, sizeof n_ctx) == 0);
    dfree(&dl), dfree(&dm), dfree(&dd), dfree(&da), dfree(&dn), dfree(&dc);
    free(logits);
    cds_free(c);
}

#else
static void test_gpu_all(void) { SKIP("no CUDA device (built without CUDA)"); }
#endif

int main(void) {
    RUN(test_fp8_plan_shapes);
    RUN(test_scale_layouts);
    RUN(test_act_quant_ref);
    RUN(test_route_ref);
    RUN(test_moe_plan_ref);
    RUN(test_mla_plan);
    RUN(test_mtp_accept_ref);
#ifdef R1D_CUDA
    RUN(test_gpu_act_quant);
    RUN(test_gpu_fused_quant);
    RUN(test_gpu_fp8_gemm);
    RUN(test_gpu_mla);
    RUN(test_gpu_moe_route_plan);
    RUN(test_gpu_moe_layer);
    RUN(test_gpu_mtp);
#else
    RUN(test_gpu_all);
#endif
    return test_summary("test_cuda_deepseek");
}
