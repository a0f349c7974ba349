/* Dense engine speed on the GPU (--backend cuda) for Qwen2.5-1.5B- and 7B-shaped models with
 * random bf16 weights, each figure beside its ceiling measured in the same run:
 *   prefill (512-token prompts) tok/s  vs  cuBLASLt's bf16 GEMM time for the same matmul shapes
 *                                          (the engine's own GEMM path, timed alone)
 *   decode tok/s at batch 1, 32, 256   vs  (weight + KV bytes read per step) / HBM copy bandwidth
 * Decode runs twice: the engine path (tch_forward: logits [B, V] downloaded every step, as
 * teacher/generate.c samples on the host), and with --cuda-graphs the same ops captured once
 * per batch size and replayed, with GPU sampling (ops_cuda_sample) in place of the download.
 * Prints markdown rows for bench/RESULTS.md. Usage: bench_cuda [--cuda-graphs] [--model 1.5b|7b] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "kernels/cuda.h"
#include "teacher/forward.h"

#ifdef R1D_CUDA
#include <cuda_runtime_api.h>

typedef struct shape {
    const char *name;
    int64_t C, F, V;
    int L, H, Hkv, D, tied;
} shape_t;

static const shape_t shapes[] = {
    {"qwen2.5-1.5b", 1536, 8960, 151936, 28, 12, 2, 128, 1},
    {"qwen2.5-7b", 3584, 18944, 152064, 28, 28, 4, 128, 0},
};

#define PROMPT 512
#define DECODE_STEPS 32
#define STEP_TOKENS 8192 /* prefill tokens per forward pass */
#define POOL ((size_t)1 << 26)

#define DIE(e) do { fprintf(stderr, "bench_cuda: %s\n", (e)->msg); exit(1); } while (0)
#define CK(call) do { cudaError_t rc_ = (call); if (rc_ != cudaSuccess) { \
    fprintf(stderr, "bench_cuda: %s: %s\n", #call, cudaGetErrorString(rc_)); exit(1); } } while (0)

typedef struct bench {
    const shape_t *s;
    ops_t *o;
    tch_model_t m;
    char *arena;
    size_t weight_bytes;
    uint16_t *pool, *ones; /* host random bf16: weights around 0, norms around 1 */
} bench_t;

static void put(bench_t *b, cplan_arena_t *a, ops_weight_t *w, int64_t rows, int64_t cols, int norm, size_t *salt) {
    size_t n = (size_t)(rows * cols), off = cplan_arena_take(a, n * 2);
    *w = (ops_weight_t){b->arena + off, DT_BF16, rows, cols};
    const uint16_t *src = norm ? b->ones : b->pool;
    for (size_t i = 0; i < n; i += POOL / 2) { /* a different window of the pool for every tensor */
        size_t k = n - i < POOL / 2 ? n - i : POOL / 2, start = (*salt = *salt * 6364136223846793005ull + 1) % (POOL / 2);
        b->o->vt->upload(b->o, (char *)w->data + i * 2, src + start, k * 2);
    }
    if (!norm) b->weight_bytes += n * 2;
}

static float *put_vec(bench_t *b, cplan_arena_t *a, const float *src, size_t n) {
    float *d = (float *)(b->arena + cplan_arena_take(a, n * 4));
    b->o->vt->upload(b->o, d, src, n * 4);
    return d;
}

static void model_build(bench_t *b) {
    const shape_t *s = b->s;
    tch_model_t *m = &b->m;
    memset(m, 0, sizeof *m);
    cfg_model_t *c = &m->cfg;
    c->arch = CFG_ARCH_QWEN2;
    c->model_type = "qwen2";
    c->hidden_size = s->C, c->intermediate_size = s->F, c->vocab_size = s->V;
    c->n_layers = s->L, c->n_heads = s->H, c->n_kv_heads = s->Hkv, c->head_dim = s->D, c->v_head_dim = s->D;
    c->rms_norm_eps = 1e-6, c->max_position_embeddings = 32768, c->tie_word_embeddings = s->tied, c->qkv_bias = 1;
    int64_t qd = (int64_t)s->H * s->D, kd = (int64_t)s->Hkv * s->D;
    size_t total = (size_t)s->V * s->C * (s->tied ? 1 : 2) + (size_t)s->C +
                   (size_t)s->L * (2 * s->C + 2 * qd * s->C + 2 * kd * s->C + 3 * s->F * s->C);
    size_t bytes = total * 2 + (size_t)s->L * (qd + 2 * kd) * 4 + (size_t)(s->L * 12 + 8) * CPLAN_ALIGN + s->D * 2;
    b->arena = b->o->vt->alloc(b->o, bytes);
    err_t e;
    if (ops_status(b->o, &e)) DIE(&e);
    m->layers = calloc((size_t)s->L, sizeof *m->layers);
    cplan_arena_t a = {0};
    size_t salt = 7;
    float *bias = malloc((size_t)qd * 4), inv[256];
    rng_fill_uniform(1, 2, 0, bias, (size_t)qd);
    put(b, &a, &m->embed, s->V, s->C, 0, &salt);
    put(b, &a, &m->norm, 1, s->C, 1, &salt);
    if (s->tied) m->head = m->embed;
    else put(b, &a, &m->head, s->V, s->C, 0, &salt);
    b->weight_bytes -= s->tied ? 0 : (size_t)s->V * s->C * 2; /* embedding rows are gathered, not streamed */
    for (int l = 0; l < s->L; l++) {
        tch_layer_t *L = &m->layers[l];
        put(b, &a, &L->attn_norm, 1, s->C, 1, &salt);
        put(b, &a, &L->q, qd, s->C, 0, &salt);
        put(b, &a, &L->k, kd, s->C, 0, &salt);
        put(b, &a, &L->v, kd, s->C, 0, &salt);
        put(b, &a, &L->o, s->C, qd, 0, &salt);
        put(b, &a, &L->mlp_norm, 1, s->C, 1, &salt);
        put(b, &a, &L->gate, s->F, s->C, 0, &salt);
        put(b, &a, &L->up, s->F, s->C, 0, &salt);
        put(b, &a, &L->down, s->C, s->F, 0, &salt);
        L->q_bias = put_vec(b, &a, bias, (size_t)qd);
        L->k_bias = put_vec(b, &a, bias, (size_t)kd);
        L->v_bias = put_vec(b, &a, bias, (size_t)kd);
    }
    ops_rope_cfg_t rc = {.theta = 1e6};
    ops_rope_inv_freq(inv, s->D, &rc);
    m->inv_freq = put_vec(b, &a, inv, (size_t)s->D / 2);
    m->attn_scale = 1.0f / sqrtf((float)s->D);
    free(bias);
    if (a.used > bytes) {
        fprintf(stderr, "bench_cuda: arena sized %zu, used %zu\n", bytes, a.used);
        exit(1);
    }
    if (ops_cuda_sync(b->o, &e)) DIE(&e);
}

static float elapsed_ms(cudaEvent_t a, cudaEvent_t b) {
    float ms = 0;
    CK(cudaEventSynchronize(b));
    CK(cudaEventElapsedTime(&ms, a, b));
    return ms;
}

/* Device-to-device copy of 2 GiB: bytes read + written per second. */
static double hbm_bandwidth(ops_t *o) {
    size_t n = (size_t)2 << 30;
    void *x = o->vt->alloc(o, n), *y = o->vt->alloc(o, n);
    err_t e;
    if (ops_status(o, &e)) DIE(&e);
    cudaStream_t st = (cudaStream_t)ops_cuda_stream(o);
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaMemsetAsync(x, 0x3c, n, st));
    double best = 0;
    for (int r = 0; r < 6; r++) {
        CK(cudaEventRecord(a, st));
        CK(cudaMemcpyAsync(y, x, n, cudaMemcpyDeviceToDevice, st));
        CK(cudaEventRecord(b, st));
        double bw = 2.0 * (double)n / (elapsed_ms(a, b) * 1e-3);
        if (r > 0 && bw > best) best = bw;
    }
    cudaEventDestroy(a), cudaEventDestroy(b);
    o->vt->dealloc(o, x), o->vt->dealloc(o, y);
    return best;
}

/* Median time (ms) of one forward's matmuls alone for T rows (head over `rows` rows). */
static double gemm_ms(bench_t *b, int64_t T, int64_t rows) {
    const shape_t *s = b->s;
    const tch_layer_t *L = &b->m.layers[0];
    int64_t big = s->F > s->H * s->D ? s->F : s->H * s->D;
    void *x = b->o->vt->alloc(b->o, (size_t)(T * big) * 2), *y = b->o->vt->alloc(b->o, (size_t)(T * (big > s->V ? big : s->V)) * 2);
    err_t e;
    if (ops_status(b->o, &e)) DIE(&e);
    cudaStream_t st = (cudaStream_t)ops_cuda_stream(b->o);
    CK(cudaMemsetAsync(x, 0x3c, (size_t)(T * big) * 2, st)); /* 1.17 in bf16: not zeros */
    cudaEvent_t ev[2];
    CK(cudaEventCreate(&ev[0]));
    CK(cudaEventCreate(&ev[1]));
    double times[7];
    for (int r = 0; r < 7; r++) {
        CK(cudaEventRecord(ev[0], st));
        const ops_weight_t *ws[] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
        const float *bs[] = {L->q_bias, L->k_bias, L->v_bias, NULL, NULL, NULL, NULL};
        for (int i = 0; i < 7; i++) b->o->vt->matmul(b->o, y, x, ws[i], bs[i], T);
        CK(cudaEventRecord(ev[1], st));
        double layer = elapsed_ms(ev[0], ev[1]);
        CK(cudaEventRecord(ev[0], st));
        b->o->vt->matmul(b->o, y, x, &b->m.head, NULL, rows);
        CK(cudaEventRecord(ev[1], st));
        times[r] = layer * s->L + elapsed_ms(ev[0], ev[1]);
    }
    if (ops_status(b->o, &e)) DIE(&e);
    for (int i = 0; i < 7; i++) /* median */
        for (int j = i + 1; j < 7; j++)
            if (times[j] < times[i]) { double t = times[i]; times[i] = times[j]; times[j] = t; }
    cudaEventDestroy(ev[0]), cudaEventDestroy(ev[1]);
    b->o->vt->dealloc(b->o, x), b->o->vt->dealloc(b->o, y);
    return times[3];
}

static double matmul_flops(const shape_t *s, int64_t T, int64_t rows) {
    double per_tok = 2.0 * (double)s->C * (2.0 * s->H * s->D + 2.0 * s->Hkv * s->D + 3.0 * s->F) * s->L;
    return per_tok * (double)T + 2.0 * (double)s->C * (double)s->V * (double)rows;
}

/* The device part of one decode step, as teacher/forward.c runs it (for graph capture). */
typedef struct step_bufs {
    void *x, *h, *q, *k, *v, *att, *g, *u, *last, *logits_bf16;
    float *logits;
    int32_t *ids, *pos;
} step_bufs_t;

static void device_step(bench_t *b, step_bufs_t *w, tch_kv_t *kv, const ops_attn_seq_t *seqs, int B) {
    const ops_vtable_t *vt = b->o->vt;
    ops_t *o = b->o;
    const cfg_model_t *c = &b->m.cfg;
    int64_t T = B, C = c->hidden_size;
    float eps = (float)c->rms_norm_eps;
    vt->embedding(o, w->x, w->ids, &b->m.embed, T);
    for (int l = 0; l < c->n_layers; l++) {
        const tch_layer_t *L = &b->m.layers[l];
        vt->rmsnorm(o, w->h, w->x, &L->attn_norm, eps, T, C);
        vt->matmul(o, w->q, w->h, &L->q, L->q_bias, T);
        vt->matmul(o, w->k, w->h, &L->k, L->k_bias, T);
        vt->matmul(o, w->v, w->h, &L->v, L->v_bias, T);
        vt->rope(o, w->q, w->pos, b->m.inv_freq, T, c->n_heads, c->head_dim);
        vt->rope(o, w->k, w->pos, b->m.inv_freq, T, c->n_kv_heads, c->head_dim);
        vt->kv_store(o, &kv->layers[l], w->k, w->v, seqs, B);
        vt->attention(o, w->att, w->q, &kv->layers[l], seqs, B, c->n_heads, b->m.attn_scale);
        vt->matmul(o, w->h, w->att, &L->o, NULL, T);
        vt->add(o, w->x, w->x, w->h, T * C);
        vt->rmsnorm(o, w->h, w->x, &L->mlp_norm, eps, T, C);
        vt->matmul(o, w->g, w->h, &L->gate, NULL, T);
        vt->matmul(o, w->u, w->h, &L->up, NULL, T);
        vt->swiglu(o, w->g, w->g, w->u, T * c->intermediate_size);
        vt->matmul(o, w->h, w->g, &L->down, NULL, T);
        vt->add(o, w->x, w->x, w->h, T * C);
    }
    vt->rmsnorm(o, w->last, w->x, &b->m.norm, eps, T, C);
    vt->matmul(o, w->logits_bf16, w->last, &b->m.head, NULL, T);
    vt->to_f32(o, w->logits, w->logits_bf16, T * c->vocab_size);
}

static void run_batch(bench_t *b, int B, int graphs, double bw) {
    const shape_t *s = b->s;
    err_t e;
    ops_t *o = b->o;
    int ctx_max = PROMPT + DECODE_STEPS + 1;
    size_t kv_tok = tch_kv_bytes_per_token(&b->m, o);
    tch_kv_t kv;
    ops_cuda_set_ctx_hint(o, ctx_max);
    if (tch_kv_init(&kv, o, s->L, s->Hkv, s->D, 16, kv_tok * (size_t)B * (size_t)(ctx_max + 16), &e)) DIE(&e);
    tch_ws_t ws;
    tch_ws_init(&ws, o);
    tch_pages_t *pg = calloc((size_t)B, sizeof *pg);
    ops_attn_seq_t *seqs = malloc((size_t)B * sizeof *seqs);
    int per_step = STEP_TOKENS / PROMPT;
    int32_t *tok = malloc((size_t)STEP_TOKENS * sizeof(int32_t));
    float *logits = malloc((size_t)B * (size_t)s->V * sizeof(float));
    for (int i = 0; i < STEP_TOKENS; i++) tok[i] = (int32_t)(rng_u32(3, 4, (uint64_t)i) % (uint32_t)s->V);
    for (int i = 0; i < B; i++)
        if (!tch_kv_reserve(&kv, &pg[i], ctx_max)) {
            fprintf(stderr, "bench_cuda: KV pool too small\n");
            exit(1);
        }
    /* prefill: whole prompts, STEP_TOKENS per pass */
    double t0 = time_now();
    for (int i = 0; i < B; i += per_step) {
        int k = B - i < per_step ? B - i : per_step;
        for (int j = 0; j < k; j++) seqs[j] = (ops_attn_seq_t){PROMPT, PROMPT, pg[i + j].ids};
        if (tch_forward(&b->m, &ws, &kv, seqs, k, tok, 0, logits, &e)) DIE(&e);
    }
    double prefill_s = time_now() - t0;
    int64_t T_step = (int64_t)(B < per_step ? B : per_step) * PROMPT;
    double g_ms = gemm_ms(b, T_step, T_step / PROMPT) * ((double)B * PROMPT / (double)T_step);
    double pre_tps = B * PROMPT / prefill_s, ceil_tps = B * PROMPT / (g_ms * 1e-3);
    double gemm_tflops = matmul_flops(s, (int64_t)B * PROMPT, B) / (g_ms * 1e-3) / 1e12;
    printf("| %s | prefill | %d x %d | %.0f tok/s | cuBLASLt bf16 GEMMs alone: %.0f tok/s (%.0f TFLOP/s) | %.0f%% |\n",
           s->name, B, PROMPT, pre_tps, ceil_tps, gemm_tflops, 100.0 * pre_tps / ceil_tps);

    /* decode through the engine path */
    int32_t *ids = malloc((size_t)B * sizeof(int32_t));
    for (int j = 0; j < B; j++) ids[j] = tok[j];
    double dec_t = 0;
    for (int st = 0; st < DECODE_STEPS; st++) {
        for (int j = 0; j < B; j++) seqs[j] = (ops_attn_seq_t){1, PROMPT + st + 1, pg[j].ids};
        double t = time_now();
        if (tch_forward(&b->m, &ws, &kv, seqs, B, ids, 0, logits, &e)) DIE(&e);
        for (int j = 0; j < B; j++) ids[j] = ops_argmax(logits + (size_t)j * s->V, s->V);
        if (st >= 2) dec_t += time_now() - t; /* two warm-up steps (GEMM plans) */
    }
    int timed = DECODE_STEPS - 2;
    double avg_ctx = PROMPT + 1 + (DECODE_STEPS + 1) / 2.0;
    double bytes = (double)b->weight_bytes + (double)B * avg_ctx * (double)kv_tok;
    double dec_tps = B * timed / dec_t, ideal_tps = B / (bytes / bw);
    printf("| %s | decode (engine, logits to host) | batch %d, ctx %d | %.0f tok/s | (%.2f GB weights + %.2f GB KV)/step at %.0f GB/s: %.0f tok/s | %.0f%% |\n",
           s->name, B, PROMPT, dec_tps, b->weight_bytes / 1e9, (bytes - b->weight_bytes) / 1e9, bw / 1e9, ideal_tps,
           100.0 * dec_tps / ideal_tps);

    if (graphs) { /* the same step captured once and replayed, sampling on the GPU */
        step_bufs_t w;
        int64_t C = s->C, F = s->F, qd = (int64_t)s->H * s->D, kd = (int64_t)s->Hkv * s->D;
        void **bufs[] = {&w.x, &w.h, &w.q, &w.k, &w.v, &w.att, &w.g, &w.u, &w.last, &w.logits_bf16};
        int64_t sizes[] = {C, C, qd, kd, kd, qd, F, F, C, s->V};
        for (int i = 0; i < 10; i++) *bufs[i] = o->vt->alloc(o, (size_t)(B * sizes[i]) * 2);
        w.logits = o->vt->alloc(o, (size_t)B * (size_t)s->V * 4);
        w.ids = o->vt->alloc(o, (size_t)B * 4);
        w.pos = o->vt->alloc(o, (size_t)B * 4);
        int32_t *pos = malloc((size_t)B * 4);
        cplan_sample_row_t *rows = calloc((size_t)B, sizeof *rows);
        cuda_graph_t *g = NULL;
        cplan_attn_t plan0 = {0}, plan = {0};
        double gt = 0;
        /* the last step's plan is the largest: size the plan buffer for it before capturing */
        for (int j = 0; j < B; j++) seqs[j] = (ops_attn_seq_t){1, PROMPT + DECODE_STEPS, pg[j].ids};
        if (ops_cuda_attn_prepare(o, &kv.layers[0], seqs, B, s->H, NULL, &e)) DIE(&e);
        for (int st = 0; st < DECODE_STEPS; st++) {
            /* overwrite the cache from PROMPT on: the same contexts as the engine run */
            for (int j = 0; j < B; j++) seqs[j] = (ops_attn_seq_t){1, PROMPT + st + 1, pg[j].ids}, pos[j] = PROMPT + st;
            double t = time_now();
            o->vt->upload(o, w.ids, ids, (size_t)B * 4);
            o->vt->upload(o, w.pos, pos, (size_t)B * 4);
            if (ops_cuda_attn_prepare(o, &kv.layers[0], seqs, B, s->H, &plan, &e)) DIE(&e);
            if (!g) {
                plan0 = plan;
                device_step(b, &w, &kv, seqs, B); /* sizes every scratch buffer before the capture */
                if (ops_cuda_capture_begin(o, &e)) DIE(&e);
                device_step(b, &w, &kv, seqs, B);
                if (ops_cuda_capture_end(o, &g, &e)) DIE(&e);
            }
            if (plan.n_splits != plan0.n_splits || plan.n_dec != plan0.n_dec) {
                fprintf(stderr, "bench_cuda: the decode grid changed under the graph\n");
                exit(1);
            }
            if (ops_cuda_graph_launch(o, g, &e)) DIE(&e);
            if (ops_cuda_sample(o, ids, w.logits, s->V, B, rows, &e)) DIE(&e); /* greedy rows */
            if (st >= 2) gt += time_now() - t;
        }
        double gtps = B * timed / gt;
        printf("| %s | decode (CUDA graph + GPU sampling) | batch %d, ctx %d | %.0f tok/s | same ceiling: %.0f tok/s | %.0f%% |\n",
               s->name, B, PROMPT, gtps, ideal_tps, 100.0 * gtps / ideal_tps);
        cuda_graph_free(g);
        for (int i = 0; i < 10; i++) o->vt->dealloc(o, *bufs[i]);
        o->vt->dealloc(o, w.logits), o->vt->dealloc(o, w.ids), o->vt->dealloc(o, w.pos);
        free(pos), free(rows);
    }
    ops_cuda_set_ctx_hint(o, 0);
    for (int i = 0; i < B; i++) free(pg[i].ids);
    free(pg), free(seqs), free(tok), free(logits), free(ids);
    tch_ws_free(&ws);
    tch_kv_free(&kv);
}

int main(int argc, char **argv) {
    int graphs = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cuda-graphs")) graphs = 1;
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) only = argv[++i];
        else return fprintf(stderr, "usage: bench_cuda [--cuda-graphs] [--model 1.5b|7b]\n"), 2;
    }
    err_t e;
    int n = 0;
    if (cuda_device_count(&n, &e)) DIE(&e);
    if (n == 0) {
        printf("bench_cuda: skipped: no CUDA device\n");
        return 0;
    }
    log_set_level(LOG_WARN);
    cuda_device_info_t info;
    if (cuda_device_info(0, &info, &e)) DIE(&e);
    bench_t b = {0};
    if (ops_cuda_init(&b.o, 0, &e)) DIE(&e);
    b.pool = malloc(POOL * 2);
    b.ones = malloc(POOL * 2);
    float *tmp = malloc(POOL * sizeof(float));
    rng_fill_uniform(5, 6, 0, tmp, POOL);
    for (size_t i = 0; i < POOL; i++) {
        b.pool[i] = dt_f32_to_bf16((tmp[i] - 0.5f) * 0.06f);
        b.ones[i] = dt_f32_to_bf16(0.9f + tmp[i] * 0.2f);
    }
    free(tmp);
    double bw = hbm_bandwidth(b.o);
    printf("bench_cuda: %s, %d SMs, %.1f GiB; device-to-device copy %.0f GB/s (read + write); %s\n", info.name,
           info.sm_count, info.total_mem / 1073741824.0, bw / 1e9, graphs ? "with CUDA graphs" : "eager only");
    printf("| model | phase | shape | achieved | ceiling (same run) | of ceiling |\n|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        if (only && !strstr(shapes[i].name, only)) continue;
        b.s = &shapes[i];
        b.weight_bytes = 0;
        model_build(&b);
        static const int batches[] = {1, 32, 256};
        for (int k = 0; k < 3; k++) run_batch(&b, batches[k], graphs, bw);
        b.o->vt->dealloc(b.o, b.arena);
        free(b.m.layers);
    }
    free(b.pool), free(b.ones);
    ops_cuda_free(b.o);
    return 0;
}

#else

int main(void) {
    printf("bench_cuda: skipped: no CUDA device (built without CUDA)\n");
    return 0;
}

#endif
