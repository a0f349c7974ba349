/* Op table against plain reference loops (double accumulation) on random inputs of
 * awkward shapes, with guard values around every output buffer; and batch invariance:
 * a matmul row and an attention row come out bit for bit the same whatever else shares
 * the call and however many threads run. The CUDA backend will run the same cases
 * through ops_t. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "core/dtype.h"
#include "kernels/cpu/cpu.h"
#include "kernels/ops.h"
#include "test.h"

#define GUARD 8
#define GUARD_VAL 12345.678f

static uint64_t g_seed = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform [-1, 1) */
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_seed >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

/* n floats with GUARD sentinels on both sides; returns the interior. */
static float *guarded(int64_t n) {
    float *p = malloc((size_t)(n + 2 * GUARD) * sizeof(float));
    for (int64_t i = 0; i < n + 2 * GUARD; i++) p[i] = GUARD_VAL;
    return p + GUARD;
}
static int guards_intact(const float *p, int64_t n) {
    for (int i = 1; i <= GUARD; i++)
        if (p[-i] != GUARD_VAL || p[n + i - 1] != GUARD_VAL) return 0;
    return 1;
}
static void guarded_free(float *p) { free(p - GUARD); }

static float *rand_vec(int64_t n) {
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

/* Weight [rows, cols] of dtype dt from f32 values; wf receives the values as stored. */
static ops_weight_t make_weight(dtype_t dt, int64_t rows, int64_t cols, float *wf, void **mem) {
    size_t n = (size_t)rows * (size_t)cols;
    *mem = malloc(n * dt_size(dt) + 1);
    for (size_t i = 0; i < n; i++) wf[i] = frand();
    dt_convert_from_f32(*mem, dt, wf, n);
    dt_convert_to_f32(wf, *mem, dt, n);
    return (ops_weight_t){*mem, dt, rows, cols};
}

static ops_t *g_ops;

static void test_matmul(void) {
    const int64_t shapes[][3] = {{1, 1, 1}, {1, 7, 5}, {2, 33, 17}, {4, 64, 130}, {5, 100, 3}, {9, 19, 40}, {33, 130, 67}};
    const dtype_t dts[] = {DT_F32, DT_BF16, DT_F16};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int d = 0; d < 3; d++)
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                int64_t T = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
                float *x = rand_vec(T * C), *wf = malloc((size_t)(OC * C) * sizeof(float)), *bias = rand_vec(OC);
                void *mem;
                ops_weight_t w = make_weight(dts[d], OC, C, wf, &mem);
                float *y = guarded(T * OC);
                g_ops->vt->matmul(g_ops, y, x, &w, with_bias ? bias : NULL, T);
                double maxerr = 0;
                for (int64_t t = 0; t < T; t++)
                    for (int64_t o = 0; o < OC; o++) {
                        double ref = with_bias ? bias[o] : 0;
                        for (int64_t i = 0; i < C; i++) ref += (double)x[t * C + i] * wf[o * C + i];
                        double err = fabs(ref - y[t * OC + o]);
                        if (err > maxerr) maxerr = err;
                    }
                CHECK_MSG(maxerr < 1e-5 * sqrt((double)C) + 1e-6, "T=%lld C=%lld OC=%lld %s bias=%d maxerr %g",
                          (long long)T, (long long)C, (long long)OC, dt_name(dts[d]), with_bias, maxerr);
                CHECK(guards_intact(y, T * OC));
                guarded_free(y);
                free(x), free(wf), free(bias), free(mem);
            }
}

/* Row r of x W^T, bit for bit, whatever T is, wherever the row sits and however many
 * threads run: one reduction order for decode and prefill. Shapes: C padded (100) and
 * not (64); OC not a multiple of the micro-tile, over several panels. */
static void test_matmul_batch_invariant(void) {
    const dtype_t dts[] = {DT_F32, DT_BF16, DT_F16, DT_F8_E4M3};
    const int64_t Cs[] = {100, 64}, Ts[] = {1, 2, 7, 8, 9, 33, 100};
    const int64_t OC = 151;
    int nt0 = omp_get_max_threads();
    for (int d = 0; d < 4; d++)
        for (int ci = 0; ci < 2; ci++) {
            int64_t C = Cs[ci];
            float *wf = malloc((size_t)(OC * C) * sizeof(float)), *xr = rand_vec(C), one[151];
            float scale[4] = {0.5f, 2.0f, 0.25f, 4.0f}; /* fp8: [2 row blocks, up to 2 column blocks] */
            void *mem;
            ops_weight_t w = make_weight(dts[d], OC, C, wf, &mem);
            if (dts[d] == DT_F8_E4M3) w.scale = scale, w.block_rows = 128, w.block_cols = 64;
            omp_set_num_threads(1);
            g_ops->vt->matmul(g_ops, one, xr, &w, NULL, 1);
            int bad = 0;
            for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
                int64_t T = Ts[ti];
                float *x = rand_vec(T * C), *y = malloc((size_t)(T * OC) * sizeof(float));
                const int64_t at[] = {0, T / 2, T - 1};
                for (int a = 0; a < 3; a++)
                    for (int threads = 1; threads <= 2; threads++) {
                        omp_set_num_threads(threads);
                        memcpy(x + at[a] * C, xr, (size_t)C * sizeof(float));
                        g_ops->vt->matmul(g_ops, y, x, &w, NULL, T);
                        if (memcmp(y + at[a] * OC, one, sizeof one) != 0 && bad++ < 3)
                            CHECK_MSG(0, "%s C=%lld: row %lld of T=%lld with %d threads differs from T=1",
                                      dt_name(dts[d]), (long long)C, (long long)at[a], (long long)T, threads);
                    }
                free(x), free(y);
            }
            CHECK(bad == 0);
            free(wf), free(xr), free(mem);
        }
    omp_set_num_threads(nt0);
}

/* The 16-at-once reduction of the CPU kernels is the single-vector tree, bit for bit
 * (values of mixed magnitudes, so that any other pairing rounds differently). */
static void test_hsum16x16(void) {
    cpu_v16 v[16];
    float got[16];
    int same_as_serial = 0;
    for (int rep = 0; rep < 50; rep++) {
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) v[i][j] = frand() * powf(10.0f, (float)((i * 7 + j * 3 + rep) % 9) - 4);
        cpu_hsum16x16(v, got);
        for (int i = 0; i < 16; i++) {
            float one = cpu_hsum16(&v[i]), serial = 0;
            for (int j = 0; j < 16; j++) serial += v[i][j];
            CHECK(memcmp(&one, &got[i], sizeof one) == 0);
            same_as_serial += serial == one;
        }
    }
    CHECK(same_as_serial < 16 * 50); /* the tree is not the serial sum: the inputs can tell */
}

static void test_embedding(void) {
    int64_t V = 11, C = 13, T = 6;
    int32_t ids[] = {0, 10, 3, 3, 7, 1};
    for (int d = 0; d < 2; d++) {
        float *wf = malloc((size_t)(V * C) * sizeof(float));
        void *mem;
        ops_weight_t w = make_weight(d ? DT_BF16 : DT_F32, V, C, wf, &mem);
        float *y = guarded(T * C);
        g_ops->vt->embedding(g_ops, y, ids, &w, T);
        for (int64_t t = 0; t < T; t++)
            for (int64_t i = 0; i < C; i++) CHECK(y[t * C + i] == wf[ids[t] * C + i]);
        CHECK(guards_intact(y, T * C));
        guarded_free(y), free(wf), free(mem);
    }
}

static void test_rmsnorm(void) {
    const int64_t shapes[][2] = {{1, 1}, {3, 7}, {5, 64}, {2, 1000}};
    for (size_t s = 0; s < 4; s++) {
        int64_t T = shapes[s][0], C = shapes[s][1];
        float *x = rand_vec(T * C), *wf = malloc((size_t)C * sizeof(float));
        void *mem;
        ops_weight_t w = make_weight(DT_BF16, 1, C, wf, &mem);
        float *y = guarded(T * C);
        g_ops->vt->rmsnorm(g_ops, y, x, &w, 1e-6f, T, C);
        for (int64_t t = 0; t < T; t++) {
            double ss = 0;
            for (int64_t i = 0; i < C; i++) ss += (double)x[t * C + i] * x[t * C + i];
            double r = 1.0 / sqrt(ss / C + 1e-6);
            for (int64_t i = 0; i < C; i++) CHECK_NEAR(y[t * C + i], wf[i] * x[t * C + i] * r, 2e-6);
        }
        CHECK(guards_intact(y, T * C));
        guarded_free(y), free(x), free(wf), free(mem);
    }
}

static void test_rope(void) {
    int64_t T = 5;
    int nh = 3, D = 8;
    int32_t pos[] = {0, 1, 7, 100, 4095};
    float inv[4];
    ops_rope_cfg_t cfg = {.theta = 10000.0};
    ops_rope_inv_freq(inv, D, &cfg);
    for (int j = 0; j < 4; j++) CHECK_NEAR(inv[j], pow(10000.0, -2.0 * j / D), 1e-7);
    float *x = guarded(T * nh * D), *x0 = malloc((size_t)(T * nh * D) * sizeof(float));
    for (int64_t i = 0; i < T * nh * D; i++) x0[i] = x[i] = frand();
    g_ops->vt->rope(g_ops, x, pos, inv, T, nh, D);
    for (int64_t t = 0; t < T; t++)
        for (int h = 0; h < nh; h++)
            for (int j = 0; j < D / 2; j++) {
                double a = pos[t] * (double)inv[j];
                const float *v0 = x0 + (t * nh + h) * D;
                const float *v = x + (t * nh + h) * D;
                CHECK_NEAR(v[j], v0[j] * cos(a) - v0[j + D / 2] * sin(a), 2e-3 * (1 + fabs(a) * 1e-3));
                CHECK_NEAR(v[j + D / 2], v0[j + D / 2] * cos(a) + v0[j] * sin(a), 2e-3 * (1 + fabs(a) * 1e-3));
            }
    CHECK(pos[0] == 0 && x[0] == x0[0]); /* position 0 is the identity */
    CHECK(guards_intact(x, T * nh * D));
    guarded_free(x), free(x0);
}

/* Llama-3.1 scaling: high-frequency dims untouched, low-frequency ones divided by the
 * factor, a smooth blend between (transformers' _compute_llama3_parameters). */
static void test_rope_llama3(void) {
    int D = 128;
    float base[64], scaled[64];
    ops_rope_cfg_t plain = {.theta = 500000.0};
    ops_rope_cfg_t l3 = {.theta = 500000.0, .type = OPS_ROPE_LLAMA3, .factor = 8, .low_freq_factor = 1,
                         .high_freq_factor = 4, .original_max_pos = 8192};
    ops_rope_inv_freq(base, D, &plain);
    ops_rope_inv_freq(scaled, D, &l3);
    int n_hi = 0, n_lo = 0, n_mid = 0;
    for (int j = 0; j < 64; j++) {
        double wl = 2 * M_PI / base[j];
        if (wl < 8192.0 / 4) {
            n_hi++;
            CHECK(scaled[j] == base[j]);
        } else if (wl > 8192.0) {
            n_lo++;
            CHECK_NEAR(scaled[j], base[j] / 8, 1e-12);
        } else {
            n_mid++;
            double s = (8192.0 / wl - 1) / 3;
            CHECK_NEAR(scaled[j], (1 - s) * base[j] / 8 + s * base[j], 1e-6 * base[j]);
        }
    }
    CHECK(n_hi > 0 && n_lo > 0 && n_mid > 0);
}

static void test_swiglu_add(void) {
    int64_t n = 1001;
    float *g = rand_vec(n), *u = rand_vec(n), *y = guarded(n);
    for (int64_t i = 0; i < n; i++) g[i] *= 8;
    g_ops->vt->swiglu(g_ops, y, g, u, n);
    for (int64_t i = 0; i < n; i++) CHECK_NEAR(y[i], g[i] / (1 + exp(-g[i])) * u[i], 1e-5);
    CHECK(guards_intact(y, n));
    g_ops->vt->add(g_ops, y, g, u, n);
    for (int64_t i = 0; i < n; i++) CHECK(y[i] == g[i] + u[i]);
    CHECK(guards_intact(y, n));
    guarded_free(y), free(g), free(u);
}

/* Sequences of every kind in one call: a prefill, a decode step, a short chunk, and
 * prefills long enough for the GEMM path (one over several row blocks, one continuing
 * over cached tokens), over a cache whose blocks are scattered; against full attention
 * on contiguous K/V in double. */
static void check_attention(int D) {
    enum { B = 5, H = 4, HKV = 2, BS = 3, NBLK = 64, MAXB = 32 };
    int32_t n_new[B] = {4, 1, 2, 70, 20}, n_ctx[B] = {4, 7, 9, 70, 31};
    int32_t tables[B][MAXB];
    ops_attn_seq_t seqs[B];
    for (int b = 0, next = 0; b < B; b++) {
        for (int i = 0; i * BS < n_ctx[b]; i++, next++) tables[b][i] = (next * 37) % NBLK; /* scattered, distinct */
        seqs[b] = (ops_attn_seq_t){n_new[b], n_ctx[b], tables[b]};
    }
    size_t cache_n = (size_t)NBLK * BS * HKV * D;
    float *kc = guarded((int64_t)cache_n), *vc = guarded((int64_t)cache_n);
    ops_kv_t kv = {kc, vc, BS, NBLK, HKV, D};
    /* full per-sequence K/V [n_ctx, Hkv, D]: old tokens written straight into the cache,
     * new ones through kv_store */
    float *kfull[B], *vfull[B];
    int64_t T = 0;
    for (int b = 0; b < B; b++) T += n_new[b];
    float *knew = malloc((size_t)T * HKV * D * sizeof(float)), *vnew = malloc((size_t)T * HKV * D * sizeof(float));
    int64_t t = 0;
    for (int b = 0; b < B; b++) {
        kfull[b] = rand_vec((int64_t)n_ctx[b] * HKV * D);
        vfull[b] = rand_vec((int64_t)n_ctx[b] * HKV * D);
        for (int32_t p = 0; p < n_ctx[b]; p++) {
            int32_t blk = tables[b][p / BS], slot = p % BS;
            for (int i = 0; i < HKV * D; i++) {
                float kval = kfull[b][p * HKV * D + i], vval = vfull[b][p * HKV * D + i];
                if (p < n_ctx[b] - n_new[b]) {
                    kc[((size_t)blk * BS + slot) * HKV * D + i] = kval;
                    vc[((size_t)blk * BS + slot) * HKV * D + i] = vval;
                } else {
                    knew[(t + p - (n_ctx[b] - n_new[b])) * HKV * D + i] = kval;
                    vnew[(t + p - (n_ctx[b] - n_new[b])) * HKV * D + i] = vval;
                }
            }
        }
        t += n_new[b];
    }
    g_ops->vt->kv_store(g_ops, &kv, knew, vnew, seqs, B);
    CHECK(guards_intact(kc, (int64_t)cache_n) && guards_intact(vc, (int64_t)cache_n));
    float *q = rand_vec(T * H * D), *y = guarded(T * H * D);
    float scale = 1.0f / sqrtf((float)D);
    g_ops->vt->attention(g_ops, y, q, &kv, seqs, B, H, scale);
    t = 0;
    double sc[128];
    for (int b = 0; b < B; b++)
        for (int32_t i = 0; i < n_new[b]; i++, t++)
            for (int h = 0; h < H; h++) {
                int32_t npos = n_ctx[b] - n_new[b] + i + 1;
                int kvh = h / (H / HKV);
                double mx = -1e300, sum = 0;
                for (int32_t p = 0; p < npos; p++) {
                    double d = 0;
                    for (int j = 0; j < D; j++) d += (double)q[(t * H + h) * D + j] * kfull[b][(p * HKV + kvh) * D + j];
                    sc[p] = d * scale;
                    if (sc[p] > mx) mx = sc[p];
                }
                for (int32_t p = 0; p < npos; p++) sum += (sc[p] = exp(sc[p] - mx));
                for (int j = 0; j < D; j++) {
                    double ref = 0;
                    for (int32_t p = 0; p < npos; p++) ref += sc[p] / sum * vfull[b][(p * HKV + kvh) * D + j];
                    CHECK_MSG(fabs(y[(t * H + h) * D + j] - ref) <= 1e-5, "D=%d seq %d row %d head %d: %g vs %g", D,
                              b, i, h, y[(t * H + h) * D + j], ref);
                }
            }
    CHECK(guards_intact(y, T * H * D));
    for (int b = 0; b < B; b++) free(kfull[b]), free(vfull[b]);
    free(knew), free(vnew), free(q);
    guarded_free(y), guarded_free(kc), guarded_free(vc);
}

/* One sequence's attention rows, bit for bit: whole prefill, chunked prefill beside
 * another sequence, and one decode step per token, with 1 and 2 threads (a preempted
 * sequence is recomputed by prefill and must get back the cache it had). D = 5 has a
 * padded dot tail, D = 64 none. */
static void test_attention_batch_invariant(void) {
    enum { N = 37, H = 6, HKV = 2, BS = 4, NBLK = 32 };
    const int Ds[] = {5, 64};
    int nt0 = omp_get_max_threads();
    for (int di = 0; di < 2; di++) {
        int D = Ds[di];
        int32_t blocks[2][NBLK / 2];
        for (int i = 0; i < NBLK / 2; i++) blocks[0][i] = (i * 7) % NBLK, blocks[1][i] = (i * 7 + 3) % NBLK;
        size_t cache_n = (size_t)NBLK * BS * HKV * D;
        float *kc = rand_vec((int64_t)cache_n), *vc = rand_vec((int64_t)cache_n); /* both sequences' pages filled */
        ops_kv_t kv = {kc, vc, BS, NBLK, HKV, D};
        float scale = 1.0f / sqrtf((float)D);
        int64_t row = (int64_t)H * D;
        float *q = rand_vec(2 * N * row), *whole = malloc((size_t)(N * row) * sizeof(float));
        float *y = malloc((size_t)(2 * N * row) * sizeof(float));
        omp_set_num_threads(2);
        ops_attn_seq_t s0 = {N, N, blocks[0]};
        g_ops->vt->attention(g_ops, whole, q, &kv, &s0, 1, H, scale);
        int bad = 0;
        for (int threads = 1; threads <= 2; threads++) {
            omp_set_num_threads(threads);
            /* decode: token i alone, after a cache of i tokens */
            for (int32_t i = 0; i < N; i++) {
                ops_attn_seq_t s = {1, i + 1, blocks[0]};
                g_ops->vt->attention(g_ops, y, q + i * row, &kv, &s, 1, H, scale);
                bad += memcmp(y, whole + i * row, (size_t)row * sizeof(float)) != 0;
            }
            /* chunks of 9 beside a second sequence decoding one token at position 20 */
            for (int32_t c0 = 0; c0 < N; c0 += 9) {
                int32_t n = N - c0 < 9 ? N - c0 : 9;
                ops_attn_seq_t ss[2] = {{1, 21, blocks[1]}, {n, c0 + n, blocks[0]}};
                float *qb = malloc((size_t)((n + 1) * row) * sizeof(float)); /* the decode row, then the chunk */
                memcpy(qb, q + N * row, (size_t)row * sizeof(float));
                memcpy(qb + row, q + c0 * row, (size_t)(n * row) * sizeof(float));
                g_ops->vt->attention(g_ops, y, qb, &kv, ss, 2, H, scale);
                bad += memcmp(y + row, whole + c0 * row, (size_t)(n * row) * sizeof(float)) != 0;
                free(qb);
            }
        }
        CHECK_MSG(bad == 0, "D=%d: %d attention calls differ from the whole prefill", D, bad);
        free(kc), free(vc), free(q), free(whole), free(y);
    }
    omp_set_num_threads(nt0);
}

/* D = 5: padded dot tail, values through memory; 64 and 128: register paths */
static void test_attention(void) {
    check_attention(5);
    check_attention(64);
    check_attention(128);
}

static void test_sample(void) {
    float l[] = {0.0f, logf(2.0f), logf(3.0f), -100.0f}; /* p = 1/6, 2/6, 3/6, ~0 */
    void *scr = malloc(ops_sample_scratch_size(4));
    CHECK_EQ_INT(ops_argmax(l, 4), 2);
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){0.0f, 1.0f, 0.0f, 0}, 0.99, scr), 2); /* greedy ignores u */
    /* descending order 2, 1, 0 with cumulative 0.5, 0.833, 1 */
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 1.0f, 0.0f, 0}, 0.10, scr), 2);
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 1.0f, 0.0f, 0}, 0.60, scr), 1);
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 1.0f, 0.0f, 0}, 0.90, scr), 0);
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 1.0f, 0.0f, 1}, 0.90, scr), 2); /* top-k 1 */
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 1.0f, 0.0f, 2}, 0.90, scr), 1); /* top-k 2: {2: .6, 1: .4} */
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 0.5f, 0.0f, 0}, 0.90, scr), 2); /* cum 1/6+2/6 <= 0.5 removed */
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 0.6f, 0.0f, 0}, 0.59, scr), 2); /* keeps {2, 1}: 0.6 / 0.4 */
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 0.6f, 0.0f, 0}, 0.61, scr), 1);
    /* the -100 token is never drawn, even with u close to 1 */
    CHECK(ops_sample(l, 4, &(ops_sampling_t){1.0f, 1.0f, 0.0f, 0}, 0.9999999, scr) != 3);
    /* ties with the k-th logit are kept, and ties are ordered by id */
    float tie[] = {1.0f, 2.0f, 2.0f, 0.5f};
    CHECK_EQ_INT(ops_sample(tie, 4, &(ops_sampling_t){1.0f, 1.0f, 0.0f, 1}, 0.0, scr), 1);
    CHECK_EQ_INT(ops_sample(tie, 4, &(ops_sampling_t){1.0f, 1.0f, 0.0f, 1}, 0.75, scr), 2);
    /* temperature sharpens: at T=0.5, p ∝ 1, 4, 9 */
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){0.5f, 1.0f, 0.0f, 0}, 9.0 / 14 - 1e-6, scr), 2);
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){0.5f, 1.0f, 0.0f, 0}, 9.0 / 14 + 1e-6, scr), 1);
    /* min-p 0.5 keeps tokens with p >= 0.5 * 3/6: {2, 1} -> 0.6 / 0.4 */
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 1.0f, 0.5f, 0}, 0.59, scr), 2);
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 1.0f, 0.5f, 0}, 0.61, scr), 1);
    CHECK_EQ_INT(ops_sample(l, 4, &(ops_sampling_t){1.0f, 1.0f, 0.7f, 0}, 0.99, scr), 2);
    free(scr);
}

int main(void) {
    err_t e;
    if (ops_cpu_init(&g_ops, &e) != R1D_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    RUN(test_matmul);
    RUN(test_matmul_batch_invariant);
    RUN(test_hsum16x16);
    RUN(test_embedding);
    RUN(test_rmsnorm);
    RUN(test_rope);
    RUN(test_rope_llama3);
    RUN(test_swiglu_add);
    RUN(test_attention);
    RUN(test_attention_batch_invariant);
    RUN(test_sample);
    CHECK(ops_status(g_ops, &e) == R1D_OK);
    ops_free(g_ops);
    return test_summary("test_ops");
}
