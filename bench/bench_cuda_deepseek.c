/* DeepSeek-V3 kernels on the GPU (kernels/cuda_deepseek.h) against their ceilings,
 * measured in the same run:
 *  - FP8 block-scaled GEMM (cuBLASLt, 128x128 weight + 1x128 activation scales) TFLOP/s on
 *    the real shapes (M = 64, 128, 4096; N x K of q_b, kv_b, o_proj, expert gate/up and
 *    down) beside cuBLASLt bf16 on the same shapes;
 *  - the grouped FP8 expert GEMM (256 experts of gate_proj's shape, 8 routes per token,
 *    64 and 4096 tokens) in TFLOP/s and in GB/s of expert weights read;
 *  - MLA absorbed decode (batch 64, 4k context, 128 heads, 576-wide bf16 latent cache)
 *    in GB/s of cache read, beside the measured device-to-device copy bandwidth.
 * Weights rotate over copies that outgrow the L2 cache; inputs are random (never zeros);
 * each figure is the median of 20 timed runs after warm-up (CUDA events).
 * Usage: bench_cuda_deepseek. Prints "skipped: no CUDA device" without a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "kernels/cuda_deepseek.h"

#ifdef R1D_CUDA
#include <cuda_runtime_api.h>

#define REPS 20

static uint64_t rs = 42;
static float frand(void) {
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (float)((z ^ (z >> 31)) >> 40) * 0x1p-24f * 2.0f - 1.0f;
}

static void *dev_random(size_t bytes, int kind) { /* kind 0: fp8 weights, 1: bf16, 2: f32 scales */
    uint8_t *h = malloc(bytes);
    if (kind == 0)
        for (size_t i = 0; i < bytes; i++) h[i] = dt_f32_to_e4m3(frand() * 200.0f);
    else if (kind == 1)
        for (size_t i = 0; i < bytes / 2; i++) ((uint16_t *)h)[i] = dt_f32_to_bf16(frand());
    else
        for (size_t i = 0; i < bytes / 4; i++) ((float *)h)[i] = 1e-3f * (1.5f + frand());
    void *d = NULL;
    if (cudaMalloc(&d, bytes) != cudaSuccess || cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice) != cudaSuccess) {
        fprintf(stderr, "bench: cannot place %zu bytes on the device\n", bytes);
        exit(1);
    }
    free(h);
    return d;
}

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

typedef int (*run_fn)(void *ctx, int rep);

/* Median milliseconds of REPS runs after 3 warm-ups. */
static float time_ms(run_fn f, void *ctx) {
    cudaEvent_t a, b;
    cudaEventCreate(&a), cudaEventCreate(&b);
    for (int i = 0; i < 3; i++)
        if (f(ctx, i)) exit(1);
    float t[REPS];
    for (int i = 0; i < REPS; i++) {
        cudaEventRecord(a, NULL);
        if (f(ctx, i)) exit(1);
        cudaEventRecord(b, NULL);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&t[i], a, b);
    }
    cudaEventDestroy(a), cudaEventDestroy(b);
    qsort(t, REPS, sizeof t[0], cmp_f);
    return t[REPS / 2];
}

typedef struct gemm_ctx {
    cds_t *c;
    int ncopy;
    cds_fp8_weight_t w[16];
    void *wb[16];            /* bf16 copies */
    uint8_t *q;
    float *s;
    void *x, *y;
    int64_t M, N, K;
} gemm_ctx_t;

static int run_fp8(void *p, int rep) {
    gemm_ctx_t *g = p;
    err_t e;
    if (cds_fp8_gemm(g->c, g->y, g->q, g->s, &g->w[rep % g->ncopy], g->M, &e) != R1D_OK)
        return fprintf(stderr, "%s\n", e.msg), 1;
    return 0;
}

static int run_bf16(void *p, int rep) {
    gemm_ctx_t *g = p;
    err_t e;
    if (cds_bf16_gemm(g->c, g->y, DT_BF16, g->x, g->wb[rep % g->ncopy], g->M, g->N, g->K, &e) != R1D_OK)
        return fprintf(stderr, "%s\n", e.msg), 1;
    return 0;
}

static void bench_gemm(cds_t *c) {
    static const struct { const char *name; int64_t N, K; } shapes[] = {
        {"q_b", 24576, 1536}, {"kv_b", 32768, 512}, {"o_proj", 7168, 16384},
        {"expert gate/up", 2048, 7168}, {"expert down", 7168, 2048},
    };
    static const int64_t Ms[] = {64, 128, 4096};
    printf("%-15s %5s %6s %6s | %9s %9s | %6s | %s\n", "weight", "M", "N", "K", "FP8 TF/s", "bf16 TF/s", "ratio",
           "FP8 path");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        gemm_ctx_t g = {.c = c, .N = shapes[si].N, .K = shapes[si].K};
        size_t wbytes = (size_t)(g.N * g.K);
        g.ncopy = (int)(400e6 / (double)(wbytes * 3)) + 1; /* fp8 + bf16 copies past the 50 MB L2 */
        if (g.ncopy > 16) g.ncopy = 16;
        int64_t nb = (g.N + 127) / 128, kb = (g.K + 127) / 128;
        for (int i = 0; i < g.ncopy; i++) {
            g.w[i] = (cds_fp8_weight_t){dev_random(wbytes, 0), dev_random((size_t)(nb * kb) * 4, 2), g.N, g.K, kb, NULL};
            g.wb[i] = dev_random(wbytes * 2, 1);
        }
        for (size_t mi = 0; mi < 3; mi++) {
            g.M = Ms[mi];
            g.q = dev_random((size_t)(g.M * g.K), 0);
            g.s = dev_random((size_t)(kb * g.M) * 4, 2);
            g.x = dev_random((size_t)(g.M * g.K) * 2, 1);
            cudaMalloc(&g.y, (size_t)(g.M * g.N) * 2);
            int64_t fb = cds_fallback_count(c);
            float t8 = time_ms(run_fp8, &g), t16 = time_ms(run_bf16, &g);
            double fl = 2.0 * (double)g.M * (double)g.N * (double)g.K;
            printf("%-15s %5lld %6lld %6lld | %9.1f %9.1f | %6.2f | %s\n", shapes[si].name, (long long)g.M,
                   (long long)g.N, (long long)g.K, fl / t8 / 1e9, fl / t16 / 1e9, t16 / t8,
                   cds_fallback_count(c) == fb ? "cuBLASLt block-scaled" : "FALLBACK (bf16)");
            cudaFree(g.q), cudaFree(g.s), cudaFree(g.x), cudaFree(g.y);
        }
        for (int i = 0; i < g.ncopy; i++) cudaFree((void *)g.w[i].d_w), cudaFree((void *)g.w[i].d_scale), cudaFree(g.wb[i]);
    }
}

typedef struct moe_ctx {
    cds_t *c;
    cds_moe_dev_plan_t p;
    uint8_t *xp;
    float *sp;
    void *y, *w_ptrs, *s_ptrs;
    int64_t TK, N, K;
} moe_ctx_t;

static int run_moe(void *p, int rep) {
    moe_ctx_t *m = p;
    err_t e;
    (void)rep;
    if (cds_moe_gemm(m->c, m->y, m->xp, m->sp, m->w_ptrs, m->s_ptrs, &m->p, m->TK, m->N, m->K, &e) != R1D_OK)
        return fprintf(stderr, "%s\n", e.msg), 1;
    return 0;
}

static void bench_moe(cds_t *c) {
    enum { E = 256, TOPK = 8 };
    int64_t N = 2048, K = 7168, kb = K / 128;
    uint8_t *w = dev_random((size_t)E * N * K, 0);
    float *s = dev_random((size_t)E * (N / 128) * kb * 4, 2);
    const void *wp[E], *sp[E];
    for (int x = 0; x < E; x++) wp[x] = w + (size_t)x * N * K, sp[x] = s + (size_t)x * (N / 128) * kb;
    moe_ctx_t m = {.c = c, .N = N, .K = K};
    cudaMalloc(&m.w_ptrs, sizeof wp), cudaMalloc(&m.s_ptrs, sizeof sp);
    cudaMemcpy(m.w_ptrs, wp, sizeof wp, cudaMemcpyHostToDevice), cudaMemcpy(m.s_ptrs, sp, sizeof sp, cudaMemcpyHostToDevice);
    printf("\n%-28s %6s | %8s %9s | %s\n", "grouped FP8 GEMM (E=256)", "tokens", "TF/s", "GB/s w", "experts hit");
    static const int64_t Ts[] = {64, 4096};
    for (int ti = 0; ti < 2; ti++) {
        int64_t T = Ts[ti], TK = T * TOPK;
        int32_t *ids = malloc((size_t)TK * 4);
        int hit[E] = {0}, n_hit = 0;
        for (int64_t t = 0; t < T; t++) /* 8 distinct experts per token */
            for (int k = 0; k < TOPK; k++) {
                int32_t x;
                int dup;
                do {
                    x = (int32_t)((frand() * 0.5f + 0.5f) * E) % E;
                    dup = 0;
                    for (int j = 0; j < k; j++) dup |= ids[t * TOPK + j] == x;
                } while (dup);
                ids[t * TOPK + k] = x;
                n_hit += !hit[x], hit[x] = 1;
            }
        err_t e;
        cds_moe_plan_t hp;
        if (cds_moe_plan_ref(&hp, ids, T, TOPK, E, 0, E, CDS_MOE_BM, &e) != R1D_OK) exit(1);
        m.TK = TK;
        m.p.max_tiles = cds_moe_max_tiles(TK, E, CDS_MOE_BM);
        cudaMalloc((void **)&m.p.d_off, (E + 1) * 4), cudaMalloc((void **)&m.p.d_tiles, (size_t)m.p.max_tiles * 8);
        cudaMalloc((void **)&m.p.d_n_tiles, 4);
        int32_t *tiles = malloc((size_t)m.p.max_tiles * 8);
        for (int i = 0; i < hp.n_tiles; i++) tiles[2 * i] = hp.tile_expert[i], tiles[2 * i + 1] = hp.tile_row[i];
        cudaMemcpy(m.p.d_off, hp.off, (E + 1) * 4, cudaMemcpyHostToDevice);
        cudaMemcpy(m.p.d_tiles, tiles, (size_t)hp.n_tiles * 8, cudaMemcpyHostToDevice);
        cudaMemcpy(m.p.d_n_tiles, &hp.n_tiles, 4, cudaMemcpyHostToDevice);
        m.xp = dev_random((size_t)(TK * K), 0);
        m.sp = dev_random((size_t)(TK * kb) * 4, 2);
        cudaMalloc(&m.y, (size_t)(TK * N) * 2);
        float t = time_ms(run_moe, &m);
        double fl = 2.0 * (double)TK * (double)N * (double)K, wbytes = (double)n_hit * (double)(N * K);
        printf("%-28s %6lld | %8.1f %9.0f | %d\n", "gate_proj 2048 x 7168", (long long)T, fl / t / 1e9, wbytes / t / 1e6,
               n_hit);
        cudaFree(m.p.d_off), cudaFree(m.p.d_tiles), cudaFree(m.p.d_n_tiles), cudaFree(m.xp), cudaFree(m.sp), cudaFree(m.y);
        cds_moe_plan_free(&hp);
        free(ids), free(tiles);
    }
    cudaFree(w), cudaFree(s), cudaFree(m.w_ptrs), cudaFree(m.s_ptrs);
}

typedef struct copy_ctx {
    void *a, *b;
    size_t bytes;
} copy_ctx_t;

static int run_copy(void *p, int rep) {
    copy_ctx_t *k = p;
    (void)rep;
    return cudaMemcpyAsync(k->b, k->a, k->bytes, cudaMemcpyDeviceToDevice, NULL) != cudaSuccess;
}

typedef struct mla_ctx {
    cds_t *c;
    void *olat, *qabs, *cache;
    cds_mla_dev_t dv;
    cds_mla_dims_t d;
    int32_t bs;
} mla_ctx_t;

static int run_mla(void *p, int rep) {
    mla_ctx_t *m = p;
    err_t e;
    (void)rep;
    if (cds_mla_decode(m->c, m->olat, m->qabs, m->cache, m->bs, &m->dv, &m->d, &e) != R1D_OK)
        return fprintf(stderr, "%s\n", e.msg), 1;
    return 0;
}

static void bench_mla(cds_t *c) {
    enum { B = 64, CTX = 4096, H = 128, R = 512, P = 64, W = R + P, BS = 64 };
    copy_ctx_t k = {.bytes = (size_t)1 << 30};
    cudaMalloc(&k.a, k.bytes), cudaMalloc(&k.b, k.bytes);
    cudaMemset(k.a, 1, k.bytes);
    float tc = time_ms(run_copy, &k);
    double copy_gbs = 2.0 * (double)k.bytes / tc / 1e6; /* bytes read + written */
    cudaFree(k.a), cudaFree(k.b);
    int32_t nblk = B * CTX / BS, *blocks = malloc((size_t)nblk * 4);
    for (int i = 0; i < nblk; i++) blocks[i] = (int32_t)((i * 7919L) % nblk); /* scattered pages */
    ops_attn_seq_t seqs[B];
    for (int b = 0; b < B; b++) seqs[b] = (ops_attn_seq_t){1, CTX, blocks + b * (CTX / BS)};
    mla_ctx_t m = {.c = c, .d = {H, 128, P, 128, R, 0.1352338f}, .bs = BS};
    cds_mla_plan_t plan;
    err_t e;
    if (cds_mla_plan(&plan, seqs, B, BS, cds_sm_count(c), (H + CDS_MLA_HEADS_PER_CTA - 1) / CDS_MLA_HEADS_PER_CTA, 256,
                     &e) != R1D_OK ||
        cds_mla_dev_upload(c, &m.dv, &plan, H, R, &e) != R1D_OK) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    size_t cache_bytes = (size_t)nblk * BS * W * 2;
    m.cache = dev_random(cache_bytes, 1);
    m.qabs = dev_random((size_t)B * H * W * 2, 1);
    cudaMalloc(&m.olat, (size_t)B * H * R * 2);
    float t = time_ms(run_mla, &m);
    double bytes = (double)cache_bytes + (double)B * H * (W + R) * 2;
    double flop = 2.0 * B * H * (double)CTX * (W + R);
    printf("\nMLA decode B=%d ctx=%d H=%d (splits per row %d): %.3f ms, %.0f GB/s = %.0f%% of the %.0f GB/s D2D copy; %.1f TFLOP/s\n",
           B, CTX, H, plan.row_nsplit[0], t, bytes / t / 1e6, 100.0 * bytes / t / 1e6 / copy_gbs, copy_gbs,
           flop / t / 1e9);
    cudaFree(m.cache), cudaFree(m.qabs), cudaFree(m.olat);
    cds_mla_dev_free(&m.dv);
    cds_mla_plan_free(&plan);
    free(blocks);
}

int main(void) {
    err_t e;
    int n = 0;
    if (cuda_device_count(&n, &e) != R1D_OK || n < 1) {
        printf("bench_cuda_deepseek: skipped: no CUDA device\n");
        return 0;
    }
    cuda_device_info_t info;
    cds_t *c;
    if (cuda_set_device(0, &e) != R1D_OK || cuda_device_info(0, &info, &e) != R1D_OK || cds_init(&c, NULL, &e) != R1D_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    printf("%s, %d SMs, CUDA runtime %d\n\n", info.name, info.sm_count, info.runtime_version);
    bench_gemm(c);
    bench_moe(c);
    bench_mla(c);
    cds_free(c);
    return 0;
}
#else
int main(void) {
    printf("bench_cuda_deepseek: skipped: no CUDA device (built without CUDA)\n");
    return 0;
}
#endif
