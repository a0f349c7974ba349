/* deepseek_v3 engine speed on a DeepSeek-V2-Lite-shaped model (hidden 2048, 27 layers
 * (the first dense, F 10944), 16 heads, q_lora_rank null, kv_lora_rank 512, qk 128+64,
 * v 128, 64 routed experts top-6, 2 shared, moe_intermediate 1408, vocab 102400) with
 * random FP8 weights (128x128 block scales; embedding, head, router in BF16), memory-mapped:
 *   prefill (PROMPT-token prompt) tokens/s
 *   decode at batch 1 and 16: tokens/s, and the weight bytes the forward actually read per
 *   step (the engine's counter: the routed experts the batch chose, not all 64) against the
 *   read bandwidth measured in the same run (all cores summing a 1 GiB buffer)
 * and MTP speculative greedy decoding through the continuous-batching scheduler on a small
 * model built so that its MTP layer drafts well (see write_mtp_model): acceptance and
 * tokens per main-model forward, draft 1..3, batch 1 and 16.
 * Usage: bench_deepseek [DIR [LAYERS]]  (DIR is created with random weights when absent;
 * LAYERS < 27 writes a shallower model of the same width, for machines without ~16 GB of
 * page cache; the figures are per layer-count as printed). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "teacher/deepseek.h"
#include "teacher/forward.h"
#include "teacher/generate.h"

#define C_ 2048
#define FD_ 10944
#define FE_ 1408
#define E_ 64
#define H_ 16
#define DN_ 128
#define DR_ 64
#define DV_ 128
#define R_ 512
#define V_ 102400
#define BLK 128
#define PROMPT 64
#define CTX 16   /* cached tokens per sequence before the timed decode steps */
#define STEPS 4

static r1d_status write_model(const char *dir, int layers, err_t *e) {
    TRY(file_mkdirs(dir, e));
    char path[4200], cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"deepseek_v3\", \"architectures\": [\"DeepseekV3ForCausalLM\"], \"hidden_size\": %d, "
             "\"intermediate_size\": %d, \"moe_intermediate_size\": %d, \"num_hidden_layers\": %d, "
             "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"q_lora_rank\": null, \"kv_lora_rank\": %d, "
             "\"qk_nope_head_dim\": %d, \"qk_rope_head_dim\": %d, \"v_head_dim\": %d, \"n_routed_experts\": %d, "
             "\"n_shared_experts\": 2, \"num_experts_per_tok\": 6, \"n_group\": 1, \"topk_group\": 1, "
             "\"first_k_dense_replace\": 1, \"moe_layer_freq\": 1, \"norm_topk_prob\": false, "
             "\"routed_scaling_factor\": 1.0, \"scoring_func\": \"sigmoid\", \"topk_method\": \"noaux_tc\", "
             "\"vocab_size\": %d, \"max_position_embeddings\": 4096, \"rope_theta\": 10000.0, "
             "\"rms_norm_eps\": 1e-06, \"tie_word_embeddings\": false, \"num_nextn_predict_layers\": 0, "
             "\"hidden_act\": \"silu\", \"torch_dtype\": \"bfloat16\", \"quantization_config\": {\"quant_method\": "
             "\"fp8\", \"fmt\": \"e4m3\", \"activation_scheme\": \"dynamic\", \"weight_block_size\": [%d, %d]}}\n",
             C_, FD_, FE_, layers, H_, H_, R_, DN_, DR_, DV_, E_, V_, BLK, BLK);
    st_writer_t *w = st_writer_init();
    /* every FP8 tensor reads the same random bytes (N(0,1) in E4M3); its scales 1/sqrt(cols)
     * keep the activations at unit size; BF16 tensors share a N(0, 0.02) pool */
    size_t fp8_n = (size_t)FD_ * C_, bf_n = (size_t)V_ * C_;
    uint8_t *fp8 = malloc(fp8_n);
    uint16_t *bf = malloc(bf_n * 2), *ones = malloc(C_ * 2);
    float *bias = calloc(E_, sizeof(float)), *tmp = malloc(sizeof(float) * 4096);
    /* each scale tensor [ceil(rows/128), ceil(cols/128)] holds one constant, 1/sqrt(cols):
     * buffers of each constant, as long as the largest scale tensor */
    const int64_t max_scales = (int64_t)((FD_ + BLK - 1) / BLK) * ((C_ + BLK - 1) / BLK);
    const float cols[] = {C_, R_, FD_, FE_, 2 * FE_};
    float *sc[5];
    for (int k = 0; k < 5; k++)
        if ((sc[k] = malloc(sizeof(float) * (size_t)max_scales)))
            for (int64_t i = 0; i < max_scales; i++) sc[k][i] = 1.0f / sqrtf(cols[k]);
    if (!fp8 || !bf || !ones || !bias || !tmp || !sc[0] || !sc[1] || !sc[2] || !sc[3] || !sc[4])
        return ERR(e, R1D_ENOMEM, "out of memory");
    for (size_t i = 0; i < fp8_n; i += 4096) {
        size_t n = fp8_n - i < 4096 ? fp8_n - i : 4096;
        rng_fill_normal(2, 0, i, 0.0f, 1.0f, tmp, n);
        for (size_t k = 0; k < n; k++) fp8[i + k] = dt_f32_to_e4m3(tmp[k]);
    }
    for (size_t i = 0; i < bf_n; i += 4096) {
        size_t n = bf_n - i < 4096 ? bf_n - i : 4096;
        rng_fill_normal(1, 0, i, 0.0f, 0.02f, tmp, n);
        dt_convert_from_f32(bf + i, DT_BF16, tmp, n);
    }
    for (int i = 0; i < C_; i++) ones[i] = dt_f32_to_bf16(1.0f);
    for (int i = 0; i < E_; i++) bias[i] = 0.01f * (float)(i % 7);
    char n[256], ns[280];
    int64_t sh[2];
#define ADD8(name, r, c, scale_row)                                                                        \
    do {                                                                                                  \
        int64_t nr_ = ((r) + BLK - 1) / BLK, nc_ = ((c) + BLK - 1) / BLK;                               \
        sh[0] = (r), sh[1] = (c);                                                                         \
        TRY(st_writer_add(w, name, DT_F8_E4M3, 2, sh, fp8, e));                                          \
        if (nr_ * nc_ > max_scales) return ERR(e, R1D_EINVAL, "scale buffer too small for '%s'", name);   \
        snprintf(ns, sizeof ns, "%s_scale_inv", name);                                                    \
        sh[0] = nr_, sh[1] = nc_;                                                                         \
        TRY(st_writer_add(w, ns, DT_F32, 2, sh, scale_row, e));                                          \
    } while (0)
    sh[0] = V_, sh[1] = C_;
    TRY(st_writer_add(w, "model.embed_tokens.weight", DT_BF16, 2, sh, bf, e));
    TRY(st_writer_add(w, "lm_head.weight", DT_BF16, 2, sh, bf, e));
    sh[0] = C_;
    TRY(st_writer_add(w, "model.norm.weight", DT_BF16, 1, sh, ones, e));
    for (int l = 0; l < layers; l++) {
#define NM(suffix) (snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix), n)
        ADD8(NM("self_attn.q_proj.weight"), H_ * (DN_ + DR_), C_, sc[0]);
        ADD8(NM("self_attn.kv_a_proj_with_mqa.weight"), R_ + DR_, C_, sc[0]);
        ADD8(NM("self_attn.kv_b_proj.weight"), H_ * (DN_ + DV_), R_, sc[1]);
        ADD8(NM("self_attn.o_proj.weight"), C_, H_ * DV_, sc[0]);
        sh[0] = R_;
        TRY(st_writer_add(w, NM("self_attn.kv_a_layernorm.weight"), DT_BF16, 1, sh, ones, e));
        sh[0] = C_;
        TRY(st_writer_add(w, NM("input_layernorm.weight"), DT_BF16, 1, sh, ones, e));
        TRY(st_writer_add(w, NM("post_attention_layernorm.weight"), DT_BF16, 1, sh, ones, e));
        if (l == 0) {
            ADD8(NM("mlp.gate_proj.weight"), FD_, C_, sc[0]);
            ADD8(NM("mlp.up_proj.weight"), FD_, C_, sc[0]);
            ADD8(NM("mlp.down_proj.weight"), C_, FD_, sc[2]);
            continue;
        }
        sh[0] = E_, sh[1] = C_;
        TRY(st_writer_add(w, NM("mlp.gate.weight"), DT_BF16, 2, sh, bf + (size_t)l * 4096, e));
        sh[0] = E_;
        TRY(st_writer_add(w, NM("mlp.gate.e_score_correction_bias"), DT_F32, 1, sh, bias, e));
        for (int x = -1; x < E_; x++) {
            char p[96];
            int64_t f = x < 0 ? 2 * FE_ : FE_;
            if (x < 0) snprintf(p, sizeof p, "mlp.shared_experts");
            else snprintf(p, sizeof p, "mlp.experts.%d", x);
            char q[128];
            snprintf(q, sizeof q, "%s.gate_proj.weight", p);
            ADD8(NM(q), f, C_, sc[0]);
            snprintf(q, sizeof q, "%s.up_proj.weight", p);
            ADD8(NM(q), f, C_, sc[0]);
            snprintf(q, sizeof q, "%s.down_proj.weight", p);
            ADD8(NM(q), C_, f, x < 0 ? sc[4] : sc[3]);
        }
#undef NM
    }
#undef ADD8
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    r1d_status st = st_writer_write(w, path, e);
    snprintf(path, sizeof path, "%s/config.json", dir); /* last: its presence means the model is complete */
    if (st == R1D_OK) st = file_write_atomic(path, cfg, strlen(cfg), e);
    st_writer_free(w);
    free(fp8), free(bf), free(ones), free(bias), free(tmp);
    for (int k = 0; k < 5; k++) free(sc[k]);
    return st;
}

/* A small F32 deepseek_v3 whose next token is a fixed permutation of the current one: the
 * head is the embedding permuted (x3) and every block's output projections (o_proj,
 * down_proj) are 0.05x their random size, so the blocks only nudge the residual stream.
 * Its MTP layer is built to draft the token after next from the embedding of the next
 * one: eh_proj = [I | 0] (+ the same small noise) passes enorm(embed(t_{i+1})) through,
 * its block is as small as the main ones, and shared_head.head is the main head. */
static r1d_status write_mtp_model(const char *dir, err_t *e) {
    enum { V = 512, C = 64, F = 96, FE = 32, EX = 4, H = 2, R = 32, DN = 16, DR = 8, DV = 16, NL = 2 };
    TRY(file_mkdirs(dir, e));
    char path[4200], n[256];
    const char *cfg =
        "{\"model_type\": \"deepseek_v3\", \"hidden_size\": 64, \"intermediate_size\": 96, "
        "\"moe_intermediate_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
        "\"num_key_value_heads\": 2, \"q_lora_rank\": null, \"kv_lora_rank\": 32, \"qk_nope_head_dim\": 16, "
        "\"qk_rope_head_dim\": 8, \"v_head_dim\": 16, \"n_routed_experts\": 4, \"n_shared_experts\": 1, "
        "\"num_experts_per_tok\": 2, \"n_group\": 1, \"topk_group\": 1, \"first_k_dense_replace\": 1, "
        "\"norm_topk_prob\": true, \"routed_scaling_factor\": 1.0, \"vocab_size\": 512, "
        "\"max_position_embeddings\": 4096, \"rope_theta\": 10000.0, \"rms_norm_eps\": 1e-06, "
        "\"tie_word_embeddings\": false, \"num_nextn_predict_layers\": 1, \"torch_dtype\": \"float32\"}\n";
    st_writer_t *w = st_writer_init();
    /* every tensor gets its own random block from one buffer, freed after the write */
    size_t cap = (size_t)8 << 20, used = 0;
    float *pool = malloc(cap * sizeof(float));
    if (!pool) return ERR(e, R1D_ENOMEM, "out of memory");
    uint64_t stream = 0;
    int64_t sh[2];
#define T_(name, r, c, scale, fill)                                                              \
    do {                                                                                        \
        size_t k_ = (size_t)(r) * (size_t)(c);                                                  \
        if (used + k_ > cap) return ERR(e, R1D_ENOMEM, "mtp model pool too small");            \
        float *p_ = pool + used;                                                                \
        used += k_;                                                                             \
        rng_fill_normal(3, stream++, 0, 0.0f, (float)(scale) / sqrtf((float)(c)), p_, k_);      \
        fill;                                                                                   \
        sh[0] = (r), sh[1] = (c);                                                               \
        TRY(st_writer_add(w, name, DT_F32, (r) == 1 ? 1 : 2, (r) == 1 ? sh + 1 : sh, p_, e));  \
    } while (0)
#define ONES(name, c) T_(name, 1, c, 0, for (size_t i_ = 0; i_ < k_; i_++) p_[i_] = 1.0f)
    float *embed = pool;
    T_("model.embed_tokens.weight", V, C, 8.0, (void)0); /* N(0, 1) rows */
    T_("lm_head.weight", V, C, 0, for (int v = 0; v < V; v++) for (int c = 0; c < C; c++)
                                      p_[v * C + c] = 3.0f * embed[((v * 193 + 71) % V) * C + c]);
    float *head = pool + (size_t)V * C;
    ONES("model.norm.weight", C);
    for (int l = 0; l <= NL; l++) {
#define NM(suffix) (snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix), n)
        ONES(NM("input_layernorm.weight"), C);
        ONES(NM("post_attention_layernorm.weight"), C);
        T_(NM("self_attn.q_proj.weight"), H * (DN + DR), C, 1.0, (void)0);
        T_(NM("self_attn.kv_a_proj_with_mqa.weight"), R + DR, C, 1.0, (void)0);
        ONES(NM("self_attn.kv_a_layernorm.weight"), R);
        T_(NM("self_attn.kv_b_proj.weight"), H * (DN + DV), R, 1.0, (void)0);
        T_(NM("self_attn.o_proj.weight"), C, H * DV, 0.05, (void)0);
        if (l == 0) {
            T_(NM("mlp.gate_proj.weight"), F, C, 1.0, (void)0);
            T_(NM("mlp.up_proj.weight"), F, C, 1.0, (void)0);
            T_(NM("mlp.down_proj.weight"), C, F, 0.05, (void)0);
            continue;
        }
        T_(NM("mlp.gate.weight"), EX, C, 1.0, (void)0);
        T_(NM("mlp.gate.e_score_correction_bias"), 1, EX, 0.0, (void)0);
        for (int x = -1; x < EX; x++) {
            char q[128], p[64];
            if (x < 0) snprintf(p, sizeof p, "mlp.shared_experts");
            else snprintf(p, sizeof p, "mlp.experts.%d", x);
            snprintf(q, sizeof q, "%s.gate_proj.weight", p);
            T_(NM(q), FE, C, 1.0, (void)0);
            snprintf(q, sizeof q, "%s.up_proj.weight", p);
            T_(NM(q), FE, C, 1.0, (void)0);
            snprintf(q, sizeof q, "%s.down_proj.weight", p);
            T_(NM(q), C, FE, 0.05, (void)0);
        }
        if (l < NL) continue;
        T_(NM("embed_tokens.weight"), V, C, 0, memcpy(p_, embed, k_ * sizeof(float)));
        ONES(NM("enorm.weight"), C);
        ONES(NM("hnorm.weight"), C);
        T_(NM("eh_proj.weight"), C, 2 * C, 0.05, for (int c = 0; c < C; c++) p_[(size_t)c * 2 * C + c] += 1.0f);
        ONES(NM("shared_head.norm.weight"), C);
        T_(NM("shared_head.head.weight"), V, C, 0, memcpy(p_, head, k_ * sizeof(float)));
#undef NM
    }
#undef ONES
#undef T_
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    r1d_status st = st_writer_write(w, path, e);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (st == R1D_OK) st = file_write_atomic(path, cfg, strlen(cfg), e);
    st_writer_free(w);
    free(pool);
    return st;
}

/* Process CPU time over the thread count: the wall time an idle machine would take. On a
 * shared machine (other jobs' load) wall time measures the scheduler, so every figure
 * below is given both ways and the bandwidth ratios use this one. */
static double core_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ((double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec) / omp_get_max_threads();
}

/* Speculative greedy decoding through the scheduler on the model above, against plain
 * greedy decoding (same tokens): MTP_SEQS prompts, MTP_NEW tokens each, at batch 1 and 16. */
#define MTP_SEQS 16
#define MTP_NEW 64
typedef struct mtp_run {
    int given;
    int32_t out[MTP_SEQS][MTP_NEW];
    int n_out[MTP_SEQS];
} mtp_run_t;

static r1d_status mtp_src(void *ctx, tch_request_t *q, int *has, err_t *e) {
    (void)e;
    mtp_run_t *r = ctx;
    static int32_t prompts[MTP_SEQS][4];
    *has = r->given < MTP_SEQS;
    if (!*has) return R1D_OK;
    int i = r->given++;
    for (int k = 0; k < 4; k++) prompts[i][k] = (int32_t)((i * 97 + k * 31 + 7) % 512);
    *q = (tch_request_t){.id = (uint64_t)i, .prompt = prompts[i], .n_prompt = 4, .max_new = MTP_NEW};
    return R1D_OK;
}

static r1d_status mtp_sink(void *ctx, const tch_result_t *res, err_t *e) {
    (void)e;
    mtp_run_t *r = ctx;
    memcpy(r->out[res->id], res->ids, (size_t)res->n_ids * sizeof(int32_t));
    r->n_out[res->id] = res->n_ids;
    return R1D_OK;
}

static int bench_mtp(const char *dir) {
    err_t e = {0};
    char cfgp[4200];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    if (!file_exists(cfgp) && write_mtp_model(dir, &e) != R1D_OK) return fprintf(stderr, "%s\n", e.msg), 1;
    tch_model_t *m;
    ops_t *o;
    if (tch_model_load(&m, dir, &e) != R1D_OK || ops_cpu_init(&o, &e) != R1D_OK) return fprintf(stderr, "%s\n", e.msg), 1;
    printf("MTP model (V 512, C 64, 2 layers + MTP; %d prompts x %d greedy tokens):\n", MTP_SEQS, MTP_NEW);
    static mtp_run_t plain, spec;
    for (int batch = 1; batch <= 16; batch += 15)
        for (int d = 0; d <= 3; d++) {
            tch_gen_opts_t g;
            tch_gen_opts_default(&g);
            g.max_batch = batch;
            g.kv_bytes = (size_t)64 << 20;
            g.spec_draft = d;
            mtp_run_t *r = d ? &spec : &plain;
            memset(r, 0, sizeof *r);
            tch_gen_stats_t st;
            double t = core_now();
            if (tch_generate(m, o, &g, mtp_src, mtp_sink, r, &st, &e) != R1D_OK) return fprintf(stderr, "%s\n", e.msg), 1;
            t = core_now() - t;
            if (!d) {
                printf("  batch %2d plain greedy: %lld main forwards, %.0f tok/s (core time)\n", batch, (long long)st.steps,
                       (double)st.new_tokens / t);
                continue;
            }
            int same = !memcmp(spec.out, plain.out, sizeof plain.out) && !memcmp(spec.n_out, plain.n_out, sizeof plain.n_out);
            printf("  batch %2d draft %d: acceptance %.3f (%lld/%lld), %.2f tokens per main forward per sequence, %lld "
                   "main forwards, %.0f tok/s (core time)%s\n", batch, d, (double)st.accepted / (double)st.drafted,
                   (long long)st.accepted, (long long)st.drafted,
                   (double)(st.accepted + st.verifies) / (double)st.verifies, (long long)st.steps,
                   (double)st.new_tokens / t, same ? ", output = plain greedy" : ", OUTPUT DIFFERS FROM PLAIN GREEDY");
        }
    ops_free(o);
    tch_model_free(m);
    return 0;
}

/* Read bandwidth: all cores sum a 1 GiB buffer (best of 4, in core time). */
static double read_gbs(void) {
    size_t n = (size_t)256 << 20;
    float *a = malloc(n * sizeof(float));
    if (!a) return 0;
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 1e9, sink = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = core_now(), s = 0;
        #pragma omp parallel for simd reduction(+ : s)
        for (size_t i = 0; i < n; i++) s += a[i];
        double dt = core_now() - t0;
        sink += s;
        if (dt < best) best = dt;
    }
    free(a);
    return sink < 0 ? 0 : n * sizeof(float) / best / 1e9;
}

#define DIE(e) return fprintf(stderr, "%s\n", (e)->msg), 1

/* Warm-up pass: reads every page of the weights once, so the timed passes find the file in
 * the page cache (as a long generation run does after its first steps). Returns GB read. */
static double warm_page_cache(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static char buf[1 << 20];
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) total += n;
    fclose(f);
    return total / 1e9;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* figures appear as they are measured */
    const char *dir = argc > 1 ? argv[1] : "/tmp/r1d-bench-dsv2lite";
    int layers = argc > 2 ? atoi(argv[2]) : 27;
    if (argc > 1 && !strcmp(argv[1], "--mtp")) /* only the MTP part: bench_deepseek --mtp [DIR] */
        return bench_mtp(argc > 2 ? argv[2] : "/tmp/r1d-bench-ds-mtp");
    err_t e = {0};
    char cfgp[4200];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    if (layers < 2 || layers > 27) return fprintf(stderr, "LAYERS: expected 2..27, got '%s'\n", argv[2]), 2;
    if (!file_exists(cfgp)) {
        fprintf(stderr, "writing a random FP8 DeepSeek-V2-Lite-shaped model (%d layers) to %s\n", layers, dir);
        if (write_model(dir, layers, &e) != R1D_OK) DIE(&e);
    }
    tch_model_t *m;
    ops_t *o;
    if (tch_model_load(&m, dir, &e) != R1D_OK || ops_cpu_init(&o, &e) != R1D_OK) DIE(&e);
    layers = m->cfg.n_layers;
    tch_kv_t kv;
    if (tch_kv_init_model(&kv, o, m, 16, (size_t)256 << 20, &e) != R1D_OK) DIE(&e);
    tch_ws_t ws;
    tch_ws_init(&ws, o);
    double t_warm = time_now(), gb = warm_page_cache(dir);
    t_warm = time_now() - t_warm;
    double bw = read_gbs();
    double load[3] = {0};
    if (getloadavg(load, 3) < 0) load[0] = -1;
    printf("DeepSeek-V2-Lite shape, %d layers, FP8 128x128 blocks; warm-up read %.1f GB in %.1f s; read bandwidth "
           "%.1f GB/s; load average %.1f on %d threads\n", layers, gb, t_warm, bw, load[0], omp_get_max_threads());
    float *logits = malloc(sizeof(float) * 16 * (size_t)V_);
    int32_t *ids = malloc(sizeof(int32_t) * PROMPT);
    for (int i = 0; i < PROMPT; i++) ids[i] = (i * 7919) % V_;

    /* prefill: one prompt, best of 2 */
    tch_pages_t pg = {0};
    tch_kv_reserve(&kv, &pg, PROMPT);
    ops_attn_seq_t s = {PROMPT, PROMPT, pg.ids};
    double best = 1e9, best_core = 1e9;
    int64_t pre_bytes = 0;
    for (int r = 0; r < 2; r++) {
        tch_ds_take_bytes_read(m);
        double t0 = time_now(), c0 = core_now();
        if (tch_forward(m, &ws, &kv, &s, 1, ids, 0, logits, &e) != R1D_OK) DIE(&e);
        if (time_now() - t0 < best) best = time_now() - t0;
        if (core_now() - c0 < best_core) best_core = core_now() - c0;
        pre_bytes = tch_ds_take_bytes_read(m);
    }
    printf("prefill %d tokens: %.1f tok/s in core time (%.1f wall; %.0f MB of weights read)\n", PROMPT,
           PROMPT / best_core, PROMPT / best, pre_bytes / 1e6);
    tch_kv_release(&kv, &pg);
    free(pg.ids);

    /* decode: B sequences of CTX cached tokens, STEPS steps */
    const int Bs[] = {1, 16};
    for (int bi = 0; bi < 2; bi++) {
        int B = Bs[bi], steps = STEPS;
        tch_pages_t *p = calloc((size_t)B, sizeof *p);
        ops_attn_seq_t *seqs = calloc((size_t)B, sizeof *seqs);
        int32_t *tok = malloc(sizeof(int32_t) * CTX * (size_t)B);
        for (int i = 0; i < CTX * B; i++) tok[i] = (i * 104729 + 17) % V_;
        for (int b = 0; b < B; b++) {
            tch_kv_reserve(&kv, &p[b], CTX);
            seqs[b] = (ops_attn_seq_t){CTX, CTX, p[b].ids};
        }
        if (tch_forward(m, &ws, &kv, seqs, B, tok, 0, logits, &e) != R1D_OK) DIE(&e); /* fills the caches */
        tch_ds_take_bytes_read(m);
        double t0 = time_now(), c0 = core_now();
        for (int k = 0; k < steps; k++) {
            for (int b = 0; b < B; b++) {
                tch_kv_reserve(&kv, &p[b], CTX + 1 + k);
                seqs[b] = (ops_attn_seq_t){1, CTX + 1 + k, p[b].ids};
                tok[b] = (tok[b] * 31 + k) % V_; /* different tokens each step route differently */
            }
            if (tch_forward(m, &ws, &kv, seqs, B, tok, 0, logits, &e) != R1D_OK) DIE(&e);
        }
        double wall = (time_now() - t0) / steps, dt = (core_now() - c0) / steps;
        double bytes = (double)tch_ds_take_bytes_read(m) / steps, bound = bw * 1e9 / bytes;
        printf("decode batch %2d: %.2f tok/s in core time (%.2f wall); %.0f MB of weights read per step (%.0f MB per "
               "token) -> bandwidth bound %.2f steps/s at %.1f GB/s: %.0f%% of bound\n",
               B, B / dt, B / wall, bytes / 1e6, bytes / B / 1e6, bound, bw, 100 * (1 / dt) / bound);
        for (int b = 0; b < B; b++) tch_kv_release(&kv, &p[b]), free(p[b].ids);
        free(p), free(seqs), free(tok);
    }
    free(logits), free(ids);
    tch_ws_free(&ws);
    tch_kv_free(&kv);
    ops_free(o);
    tch_model_free(m);
    return 0;
}
