/* Every op of the CUDA table against the CPU table (kernels/ops.h) on random inputs of awkward
 * shapes: odd sizes, size 1, T not a multiple of the tiles, every GQA ratio, head dims that
 * are not multiples of 16, contexts that cross pages, and long ones that split over the keys.
 * Inputs are bf16-representable, so both backends see the same numbers; outputs are compared
 * by normalised mean-square error, nmse = sum (gpu - cpu)^2 / sum cpu^2, under a bound per op
 * (exact where the op only moves bf16 values). Every GPU output lies between guard regions
 * that must come back untouched. Without a GPU every test says "skipped: no CUDA device". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/cuda.h"
#include "kernels/ops.h"
#include "test.h"

#ifdef R1D_CUDA

#define GUARD 512
#define GUARD_BYTE 0x5a
#define NMSE_BF16 2e-5  /* one bf16 rounding of every output (relative 2^-9, squared, averaged) */
#define NMSE_CHAIN 1e-4 /* several bf16 roundings in a row (RoPE, SwiGLU, RMSNorm) */
#define NMSE_ATTN 2e-4  /* bf16 cache and bf16 probabilities on the tensor cores */

static ops_t *g_cpu, *g_gpu;
static uint64_t g_seed = 1;

static int have_gpu(void) { return g_gpu != NULL; }

/* bf16-representable uniform values in [-a, a). */
static float *rnd(size_t n, float a) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    rng_fill_uniform(42, g_seed++, 0, x, n);
    for (size_t i = 0; i < n; i++) x[i] = dt_bf16_to_f32(dt_f32_to_bf16((2 * x[i] - 1) * a));
    return x;
}

static uint16_t *to_bf16(const float *x, size_t n) {
    uint16_t *h = malloc((n ? n : 1) * sizeof(uint16_t));
    dt_convert_from_f32(h, DT_BF16, x, n);
    return h;
}

/* Device buffer of `bytes` between guard regions. */
static void *dalloc(size_t bytes) {
    uint8_t *p = g_gpu->vt->alloc(g_gpu, bytes + 2 * GUARD);
    if (!p) return NULL;
    uint8_t *fill = malloc(bytes + 2 * GUARD);
    memset(fill, GUARD_BYTE, bytes + 2 * GUARD);
    g_gpu->vt->upload(g_gpu, p, fill, bytes + 2 * GUARD);
    free(fill);
    return p + GUARD;
}

static void dfree(void *p) {
    if (p) g_gpu->vt->dealloc(g_gpu, (uint8_t *)p - GUARD);
}

/* Downloads `bytes` into host (may be NULL) and checks both guards. */
static void dget(void *host, void *p, size_t bytes, const char *what) {
    uint8_t *all = malloc(bytes + 2 * GUARD);
    g_gpu->vt->download(g_gpu, all, (uint8_t *)p - GUARD, bytes + 2 * GUARD);
    for (size_t i = 0; i < GUARD; i++) {
        if (all[i] != GUARD_BYTE) {
            CHECK_MSG(0, "%s: wrote %zu bytes before its output", what, GUARD - i);
            break;
        }
    }
    for (size_t i = 0; i < GUARD; i++) {
        if (all[GUARD + bytes + i] != GUARD_BYTE) {
            CHECK_MSG(0, "%s: wrote past its output (guard byte %zu)", what, i);
            break;
        }
    }
    if (host) memcpy(host, all + GUARD, bytes);
    free(all);
}

/* Device copy of a host array (guarded). */
static void *dput(const void *host, size_t bytes) {
    void *d = dalloc(bytes);
    if (d && bytes) g_gpu->vt->upload(g_gpu, d, host, bytes);
    return d;
}

static void *dput_act(const float *x, size_t n) {
    uint16_t *h = to_bf16(x, n);
    void *d = dput(h, n * 2);
    free(h);
    return d;
}

/* GPU activations [n] back as f32, guards checked. */
static float *dget_act(void *d, size_t n, const char *what) {
    uint16_t *h = malloc((n ? n : 1) * 2);
    float *x = malloc((n ? n : 1) * sizeof(float));
    dget(h, d, n * 2, what);
    dt_convert_to_f32(x, h, DT_BF16, n);
    free(h);
    return x;
}

static double nmse(const float *gpu, const float *cpu, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)gpu[i] - cpu[i];
        if (isnan(gpu[i])) return INFINITY;
        num += d * d;
        den += (double)cpu[i] * cpu[i];
    }
    return den > 0 ? num / den : num;
}

#define CHECK_NMSE(gpu, cpu, n, bound, ...)                                                         \
    do {                                                                                            \
        double r_ = nmse((gpu), (cpu), (n));                                                        \
        CHECK_MSG(r_ <= (bound), __VA_ARGS__);                                                      \
        if (!(r_ <= (bound))) fprintf(stderr, "   (nmse %.3g > %.3g)\n", r_, (double)(bound));     \
    } while (0)

static void gpu_ok(const char *what) {
    err_t e;
    CHECK_MSG(ops_status(g_gpu, &e) == R1D_OK, "%s: %s", what, e.msg);
}

static void test_matmul(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 67, 33}, {7, 128, 96}, {33, 256, 513}, {130, 1000, 77},
                                        {64, 64, 64}, {257, 48, 1536}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            int64_t T = shapes[i][0], C = shapes[i][1], OC = shapes[i][2];
            float *x = rnd((size_t)(T * C), 1.0f), *wf = rnd((size_t)(OC * C), 0.1f), *bias = rnd((size_t)OC, 0.5f);
            uint16_t *wb = to_bf16(wf, (size_t)(OC * C));
            float *ref = malloc((size_t)(T * OC) * sizeof(float));
            ops_weight_t wc = {wb, DT_BF16, OC, C};
            g_cpu->vt->matmul(g_cpu, ref, x, &wc, with_bias ? bias : NULL, T);
            void *dx = dput_act(x, (size_t)(T * C)), *dw = dput(wb, (size_t)(OC * C) * 2);
            void *db = dput(bias, (size_t)OC * 4), *dy = dalloc((size_t)(T * OC) * 2);
            ops_weight_t wg = {dw, DT_BF16, OC, C};
            g_gpu->vt->matmul(g_gpu, dy, dx, &wg, with_bias ? db : NULL, T);
            gpu_ok("matmul");
            float *y = dget_act(dy, (size_t)(T * OC), "matmul");
            CHECK_NMSE(y, ref, (size_t)(T * OC), NMSE_BF16, "matmul T=%lld C=%lld OC=%lld bias=%d", (long long)T,
                       (long long)C, (long long)OC, with_bias);
            dfree(dx), dfree(dw), dfree(db), dfree(dy);
            free(x), free(wf), free(bias), free(wb), free(ref), free(y);
        }
}

static void test_embedding(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    int64_t V = 50, C = 33, T = 9;
    float *tf = rnd((size_t)(V * C), 1.0f), *ref = malloc((size_t)(T * C) * sizeof(float));
    uint16_t *tb = to_bf16(tf, (size_t)(V * C));
    int32_t ids[9] = {0, 49, 7, 7, 1, 48, 25, 3, 0};
    ops_weight_t wc = {tb, DT_BF16, V, C};
    g_cpu->vt->embedding(g_cpu, ref, ids, &wc, T);
    void *dt = dput(tb, (size_t)(V * C) * 2), *di = dput(ids, sizeof ids), *dy = dalloc((size_t)(T * C) * 2);
    ops_weight_t wg = {dt, DT_BF16, V, C};
    g_gpu->vt->embedding(g_gpu, dy, di, &wg, T);
    gpu_ok("embedding");
    float *y = dget_act(dy, (size_t)(T * C), "embedding");
    CHECK_MSG(memcmp(y, ref, (size_t)(T * C) * sizeof(float)) == 0, "embedding rows differ");
    dfree(dt), dfree(di), dfree(dy);
    free(tf), free(ref), free(tb), free(y);
}

static void test_rmsnorm(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    static const int64_t Cs[] = {1, 7, 1000, 4099};
    for (size_t i = 0; i < sizeof Cs / sizeof *Cs; i++) {
        int64_t T = 5, C = Cs[i];
        float *x = rnd((size_t)(T * C), 3.0f), *wf = rnd((size_t)C, 2.0f), *ref = malloc((size_t)(T * C) * 4);
        uint16_t *wb = to_bf16(wf, (size_t)C);
        ops_weight_t wc = {wb, DT_BF16, 1, C};
        g_cpu->vt->rmsnorm(g_cpu, ref, x, &wc, 1e-6f, T, C);
        void *dx = dput_act(x, (size_t)(T * C)), *dw = dput(wb, (size_t)C * 2), *dy = dalloc((size_t)(T * C) * 2);
        ops_weight_t wg = {dw, DT_BF16, 1, C};
        g_gpu->vt->rmsnorm(g_gpu, dy, dx, &wg, 1e-6f, T, C);
        gpu_ok("rmsnorm");
        float *y = dget_act(dy, (size_t)(T * C), "rmsnorm");
        CHECK_NMSE(y, ref, (size_t)(T * C), NMSE_CHAIN, "rmsnorm C=%lld", (long long)C);
        dfree(dx), dfree(dw), dfree(dy);
        free(x), free(wf), free(ref), free(wb), free(y);
    }
}

static void test_rope(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    static const int Ds[] = {2, 8, 64, 128};
    ops_rope_cfg_t cfgs[2] = {{.theta = 1e6, .type = OPS_ROPE_DEFAULT},
                              {.theta = 5e5, .type = OPS_ROPE_LLAMA3, .factor = 8, .low_freq_factor = 1,
                               .high_freq_factor = 4, .original_max_pos = 8192}};
    for (int c = 0; c < 2; c++)
        for (size_t i = 0; i < sizeof Ds / sizeof *Ds; i++) {
            int D = Ds[i], nh = 3;
            int64_t T = 6;
            int32_t pos[6] = {0, 1, 17, 511, 4097, 32767};
            float inv[64], *x = rnd((size_t)(T * nh * D), 2.0f);
            ops_rope_inv_freq(inv, D, &cfgs[c]);
            void *dx = dput_act(x, (size_t)(T * nh * D)), *dp = dput(pos, sizeof pos), *df = dput(inv, (size_t)D / 2 * 4);
            g_cpu->vt->rope(g_cpu, x, pos, inv, T, nh, D);
            g_gpu->vt->rope(g_gpu, dx, dp, df, T, nh, D);
            gpu_ok("rope");
            float *y = dget_act(dx, (size_t)(T * nh * D), "rope");
            CHECK_NMSE(y, x, (size_t)(T * nh * D), NMSE_CHAIN, "rope D=%d scaling=%d", D, c);
            dfree(dx), dfree(dp), dfree(df);
            free(x), free(y);
        }
}

static void test_pointwise(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    static const int64_t ns[] = {1, 255, 100003};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        int64_t n = ns[i];
        float *g = rnd((size_t)n, 6.0f), *u = rnd((size_t)n, 2.0f), *ref = malloc((size_t)n * 4);
        void *dg = dput_act(g, (size_t)n), *du = dput_act(u, (size_t)n), *dy = dalloc((size_t)n * 2);
        g_cpu->vt->swiglu(g_cpu, ref, g, u, n);
        g_gpu->vt->swiglu(g_gpu, dy, dg, du, n);
        gpu_ok("swiglu");
        float *y = dget_act(dy, (size_t)n, "swiglu");
        CHECK_NMSE(y, ref, (size_t)n, NMSE_CHAIN, "swiglu n=%lld", (long long)n);
        free(y);
        /* add, with the output aliasing the first input as the engine calls it */
        g_cpu->vt->add(g_cpu, g, g, u, n);
        g_gpu->vt->add(g_gpu, dg, dg, du, n);
        gpu_ok("add");
        y = dget_act(dg, (size_t)n, "add");
        CHECK_NMSE(y, g, (size_t)n, NMSE_BF16, "add n=%lld", (long long)n);
        dfree(dg), dfree(du), dfree(dy);
        free(g), free(u), free(ref), free(y);
    }
}

/* from_f32 rounds to bf16 exactly as core/dtype does; to_f32 widens exactly. */
static void test_convert(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    int64_t n = 1001;
    float *x = malloc((size_t)n * 4), *back = malloc((size_t)n * 4);
    rng_fill_normal(3, 4, 0, 0.0f, 100.0f, x, (size_t)n);
    void *df = dput(x, (size_t)n * 4), *dh = dalloc((size_t)n * 2), *dg = dalloc((size_t)n * 4);
    g_gpu->vt->from_f32(g_gpu, dh, df, n);
    g_gpu->vt->to_f32(g_gpu, dg, dh, n);
    gpu_ok("to_f32/from_f32");
    dget(back, dg, (size_t)n * 4, "to_f32");
    dget(NULL, dh, (size_t)n * 2, "from_f32");
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += back[i] != dt_bf16_to_f32(dt_f32_to_bf16(x[i]));
    CHECK_MSG(bad == 0, "%d of %lld values differ from core/dtype's bf16 rounding", bad, (long long)n);
    dfree(df), dfree(dh), dfree(dg);
    free(x), free(back);
}

/* Same tiles, same scales, same e4m3 rounding: equal up to the bf16 rounding of the result. */
static void test_act_quant(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    int64_t T = 3, C = 300;
    float *x = rnd((size_t)(T * C), 5.0f);
    for (int64_t c = 128; c < 256; c++) x[C + c] = 0.0f; /* an all-zero tile keeps its zeros */
    void *dx = dput_act(x, (size_t)(T * C));
    g_cpu->vt->act_quant_fp8(g_cpu, x, T, C, 128);
    g_gpu->vt->act_quant_fp8(g_gpu, dx, T, C, 128);
    gpu_ok("act_quant_fp8");
    float *y = dget_act(dx, (size_t)(T * C), "act_quant_fp8");
    int bad = 0;
    for (int64_t i = 0; i < T * C; i++) bad += y[i] != dt_bf16_to_f32(dt_f32_to_bf16(x[i]));
    CHECK_MSG(bad == 0, "%d of %lld quantised values differ", bad, (long long)(T * C));
    dfree(dx);
    free(x), free(y);
}

/* ---- paged cache and attention ---- */

typedef struct {
    int n_seq;
    int32_t n_new[6], n_ctx[6];
} attn_case_t;

/* Stores every sequence's whole context, then attends with the step's new tokens; pages are
 * handed out shuffled from a pool with spare blocks. */
static void run_attention(const attn_case_t *ac, int H, int Hkv, int D, int32_t bs, const char *name) {
    int B = ac->n_seq;
    int32_t np_total = 0, T_all = 0, T = 0;
    for (int b = 0; b < B; b++) {
        np_total += (ac->n_ctx[b] + bs - 1) / bs;
        T_all += ac->n_ctx[b];
        T += ac->n_new[b];
    }
    int32_t n_blocks = np_total + 5;
    int32_t *perm = malloc((size_t)n_blocks * sizeof(int32_t));
    for (int32_t i = 0; i < n_blocks; i++) perm[i] = i;
    for (int32_t i = n_blocks - 1; i > 0; i--) {
        int32_t j = (int32_t)(rng_u32(9, (uint64_t)n_blocks, (uint64_t)i) % (uint32_t)(i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    ops_attn_seq_t full[6], step[6];
    int32_t *tables[6];
    for (int b = 0, used = 0; b < B; b++) {
        int32_t np = (ac->n_ctx[b] + bs - 1) / bs;
        tables[b] = perm + used;
        used += np;
        full[b] = (ops_attn_seq_t){ac->n_ctx[b], ac->n_ctx[b], tables[b]};
        step[b] = (ops_attn_seq_t){ac->n_new[b], ac->n_ctx[b], tables[b]};
    }
    size_t cache_n = (size_t)n_blocks * bs * Hkv * D, kvn = (size_t)T_all * Hkv * D;
    float *k = rnd(kvn, 1.0f), *v = rnd(kvn, 1.0f);
    float *kc = calloc(cache_n, 4), *vc = calloc(cache_n, 4);
    ops_kv_t kvc = {kc, vc, bs, n_blocks, Hkv, D};
    g_cpu->vt->kv_store(g_cpu, &kvc, k, v, full, B);
    void *dk = dput_act(k, kvn), *dv = dput_act(v, kvn);
    void *dkc = dalloc(cache_n * 2), *dvc = dalloc(cache_n * 2);
    ops_kv_t kvg = {dkc, dvc, bs, n_blocks, Hkv, D};
    g_gpu->vt->kv_store(g_gpu, &kvg, dk, dv, full, B);
    gpu_ok("kv_store");
    /* the stored rows are the bf16 inputs exactly; the unused blocks keep their guard bytes */
    uint16_t *ck = malloc(cache_n * 2);
    dget(ck, dkc, cache_n * 2, "kv_store K");
    dget(NULL, dvc, cache_n * 2, "kv_store V");
    int bad = 0;
    for (int32_t i = np_total; i < n_blocks; i++) {
        const uint16_t *blk = ck + (size_t)perm[i] * bs * Hkv * D;
        for (size_t j = 0; j < (size_t)bs * Hkv * D; j++) bad += blk[j] != (GUARD_BYTE << 8 | GUARD_BYTE);
    }
    CHECK_MSG(bad == 0, "%s: kv_store wrote %d values into blocks no sequence owns", name, bad);
    bad = 0;
    for (int32_t i = 0; i < np_total; i++) {
        const uint16_t *blk = ck + (size_t)perm[i] * bs * Hkv * D;
        const float *ref = kc + (size_t)perm[i] * bs * Hkv * D;
        /* slots past a context are written by neither backend: zero on the CPU, guard bytes here */
        for (size_t j = 0; j < (size_t)bs * Hkv * D; j++) {
            int written = blk[j] != (GUARD_BYTE << 8 | GUARD_BYTE), expected = ref[j] != 0.0f;
            bad += written != expected || (written && dt_bf16_to_f32(blk[j]) != ref[j]);
        }
    }
    CHECK_MSG(bad == 0, "%s: %d cached K values differ from the CPU cache", name, bad);
    free(ck);

    size_t qn = (size_t)T * H * D;
    float *q = rnd(qn, 1.0f), *ref = malloc(qn * 4);
    float scale = 1.0f / sqrtf((float)D);
    g_cpu->vt->attention(g_cpu, ref, q, &kvc, step, B, H, scale);
    void *dq = dput_act(q, qn), *dy = dalloc(qn * 2);
    g_gpu->vt->attention(g_gpu, dy, dq, &kvg, step, B, H, scale);
    gpu_ok(name);
    float *y = dget_act(dy, qn, name);
    CHECK_NMSE(y, ref, qn, NMSE_ATTN, "attention %s: H=%d Hkv=%d D=%d block %d", name, H, Hkv, D, bs);
    dfree(dk), dfree(dv), dfree(dkc), dfree(dvc), dfree(dq), dfree(dy);
    free(perm), free(k), free(v), free(kc), free(vc), free(q), free(ref), free(y);
}

static void test_attention_prefill(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    attn_case_t one = {1, {100}, {100}};               /* T not a multiple of the 64-row tile */
    attn_case_t chunk = {2, {70, 64}, {200, 64}};      /* a prompt chunk after 130 cached tokens */
    static const int gqa[][2] = {{4, 4}, {8, 1}, {12, 2}, {9, 1}, {28, 4}};
    for (size_t i = 0; i < sizeof gqa / sizeof *gqa; i++) run_attention(&one, gqa[i][0], gqa[i][1], 64, 16, "prefill GQA");
    static const int dims[] = {8, 24, 80, 128, 256};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) run_attention(&chunk, 4, 2, dims[i], 16, "prefill chunk");
    run_attention(&chunk, 6, 2, 64, 1, "prefill block size 1");
    attn_case_t tiny = {1, {CPLAN_DECODE_MAX_NEW + 1}, {CPLAN_DECODE_MAX_NEW + 1}};
    run_attention(&tiny, 2, 1, 16, 4, "prefill of 9 tokens");
}

static void test_attention_decode(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    /* decode rows of 1, 3 and 8 new tokens next to a prefill chunk in one step */
    attn_case_t mixed = {4, {1, 3, CPLAN_DECODE_MAX_NEW, 40}, {1, 37, 100, 90}};
    static const int gqa[][2] = {{4, 4}, {8, 1}, {12, 2}, {9, 1}, {28, 4}, {16, 1}};
    for (size_t i = 0; i < sizeof gqa / sizeof *gqa; i++) run_attention(&mixed, gqa[i][0], gqa[i][1], 64, 16, "mixed step");
    static const int dims[] = {8, 20, 128, 256};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) run_attention(&mixed, 6, 2, dims[i], 16, "mixed head dims");
    /* long contexts: split-K over the keys, merged by the combine kernel */
    attn_case_t longc = {2, {1, 1}, {3001, 20000}};
    run_attention(&longc, 12, 2, 128, 16, "split-K");
    run_attention(&longc, 8, 8, 64, 32, "split-K MHA");
    attn_case_t batch1 = {1, {1}, {65537}};
    run_attention(&batch1, 28, 4, 128, 16, "split-K 64k");
}

/* ---- sampling ---- */

static void test_sampling(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    static const ops_sampling_t cfg[] = {
        {0, 1, 0, 0},        {1.0f, 1, 0, 0},     {0.6f, 0.95f, 0, 0},  {0.7f, 1, 0, 20},
        {1.3f, 0.5f, 0, 50}, {0.8f, 1, 0.1f, 0},  {1.0f, 0.9f, 0.05f, 40}, {2.0f, 0.3f, 0, 1},
    };
    static const int64_t Vs[] = {1, 7, 1000, 151936};
    int n_cfg = (int)(sizeof cfg / sizeof *cfg);
    for (size_t vi = 0; vi < sizeof Vs / sizeof *Vs; vi++) {
        int64_t V = Vs[vi];
        int B = 3 * n_cfg;
        float *logits = malloc((size_t)B * (size_t)V * 4);
        /* rows of three kinds: wide (few candidates), flat (many), and with exact ties */
        for (int b = 0; b < B; b++) {
            float *row = logits + (size_t)b * (size_t)V;
            rng_fill_normal(11, (uint64_t)b, (uint64_t)vi << 32, 0.0f, b % 3 == 0 ? 8.0f : 1.0f, row, (size_t)V);
            if (b % 3 == 2)
                for (int64_t i = 0; i < V; i++) row[i] = roundf(row[i] * 2) / 2;
        }
        cplan_sample_row_t *rows = malloc((size_t)B * sizeof *rows);
        int32_t *ids = malloc((size_t)B * sizeof(int32_t));
        void *scratch = malloc(ops_sample_scratch_size(V));
        for (int b = 0; b < B; b++) cplan_sample_row(&rows[b], &cfg[b % n_cfg], 5, (uint64_t)b, (uint64_t)vi);
        void *dl = dput(logits, (size_t)B * (size_t)V * 4);
        err_t e;
        CHECK_OK(ops_cuda_sample(g_gpu, ids, dl, V, B, rows, &e), &e);
        dget(NULL, dl, (size_t)B * (size_t)V * 4, "sample (logits untouched)");
        for (int b = 0; b < B; b++) {
            int32_t want = ops_sample(logits + (size_t)b * (size_t)V, V, &cfg[b % n_cfg], rows[b].u, scratch);
            CHECK_MSG(ids[b] == want, "V=%lld row %d (T=%g top_p=%g top_k=%d min_p=%g): GPU %d, CPU %d", (long long)V,
                      b, cfg[b % n_cfg].temperature, cfg[b % n_cfg].top_p, cfg[b % n_cfg].top_k, cfg[b % n_cfg].min_p,
                      ids[b], want);
        }
        dfree(dl);
        free(logits), free(rows), free(ids), free(scratch);
    }
}

/* ---- errors and graphs ---- */

/* A weight the table does not take fails the op with a sticky error naming it; later ops do nothing. */
static void test_sticky_error(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    ops_t *o = NULL;
    err_t e;
    CHECK_OK(ops_cuda_init(&o, 0, &e), &e);
    if (!o) return;
    void *x = o->vt->alloc(o, 64), *y = o->vt->alloc(o, 64), *w = o->vt->alloc(o, 64);
    ops_weight_t wf = {w, DT_F32, 4, 4};
    o->vt->matmul(o, y, x, &wf, NULL, 2);
    CHECK_ERR(ops_status(o, &e), &e, "weight [4, 4] is F32");
    CHECK_EQ_INT(e.code, R1D_EUNSUPPORTED);
    o->vt->add(o, y, x, x, 4);
    CHECK_ERR(ops_status(o, &e), &e, "is F32");
    CHECK_ERR(ops_cuda_sync(o, &e), &e, "is F32");
    o->vt->dealloc(o, x), o->vt->dealloc(o, y), o->vt->dealloc(o, w);
    ops_cuda_free(o);
    /* no such device */
    CHECK_ERR(ops_cuda_init(&o, 1 << 20, &e), &e, "no such device");
}

/* A captured sequence of ops replays to the eager result. */
static void test_graph_replay(void) {
    if (!have_gpu()) SKIP("no CUDA device");
    int64_t T = 4, C = 96, n = T * C;
    float *x = rnd((size_t)n, 1.0f), *wf = rnd((size_t)C, 1.0f);
    uint16_t *wb = to_bf16(wf, (size_t)C);
    void *dx = dput_act(x, (size_t)n), *dw = dput(wb, (size_t)C * 2), *dy = dalloc((size_t)n * 2), *dz = dalloc((size_t)n * 2);
    ops_weight_t w = {dw, DT_BF16, 1, C};
    g_gpu->vt->rmsnorm(g_gpu, dy, dx, &w, 1e-5f, T, C);
    g_gpu->vt->add(g_gpu, dy, dy, dx, n);
    float *eager = dget_act(dy, (size_t)n, "eager");
    err_t e;
    cuda_graph_t *g = NULL;
    CHECK_OK(ops_cuda_capture_begin(g_gpu, &e), &e);
    g_gpu->vt->rmsnorm(g_gpu, dz, dx, &w, 1e-5f, T, C);
    g_gpu->vt->add(g_gpu, dz, dz, dx, n);
    CHECK_OK(ops_cuda_capture_end(g_gpu, &g, &e), &e);
    if (g) {
        for (int i = 0; i < 3; i++) CHECK_OK(ops_cuda_graph_launch(g_gpu, g, &e), &e);
        float *replay = dget_act(dz, (size_t)n, "graph");
        CHECK(memcmp(eager, replay, (size_t)n * 4) == 0);
        free(replay);
    }
    cuda_graph_free(g);
    dfree(dx), dfree(dw), dfree(dy), dfree(dz);
    free(x), free(wf), free(wb), free(eager);
}

int main(void) {
    err_t e;
    int n = 0;
    if (cuda_device_count(&n, &e) == R1D_OK && n > 0) {
        if (ops_cpu_init(&g_cpu, &e) != R1D_OK || ops_cuda_init(&g_gpu, 0, &e) != R1D_OK) {
            fprintf(stderr, "test_cuda_ops: %s\n", e.msg);
            return 1;
        }
    }
    RUN(test_matmul);
    RUN(test_embedding);
    RUN(test_rmsnorm);
    RUN(test_rope);
    RUN(test_pointwise);
    RUN(test_convert);
    RUN(test_act_quant);
    RUN(test_attention_prefill);
    RUN(test_attention_decode);
    RUN(test_sampling);
    RUN(test_sticky_error);
    RUN(test_graph_replay);
    ops_cuda_free(g_gpu);
    ops_free(g_cpu);
    return test_summary("test_cuda_ops");
}

#else /* built without the CUDA backend */

static void test_cuda_ops(void) { SKIP("no CUDA device (built without CUDA)"); }

int main(void) {
    RUN(test_cuda_ops);
    return test_summary("test_cuda_ops");
}

#endif
