/* Dense engine speed on a Qwen2.5-0.5B-shaped model with random bf16 weights, each
 * figure beside its limit measured in the same run:
 *   prefill (512-token prompt)  vs  OpenBLAS sgemm GFLOP/s on the same matmul shapes
 *   decode, batch 1 and 32      vs  weight bytes read per step / read bandwidth (all cores)
 * Each figure is the best of its repeats (the machine may be shared).
 * Usage: bench_engine [DIR]   (DIR is created with random weights when absent;
 * bench/bench_engine_torch.py runs the same folder through transformers). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "teacher/forward.h"

#define C_ 896
#define F_ 4864
#define L_ 24
#define H_ 14
#define HKV_ 2
#define D_ 64
#define V_ 151936

static r1d_status write_model(const char *dir, err_t *e) {
    TRY(file_mkdirs(dir, e));
    char path[4200];
    const char *cfg = "{\"model_type\": \"qwen2\", \"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 896, "
                      "\"intermediate_size\": 4864, \"num_hidden_layers\": 24, \"num_attention_heads\": 14, "
                      "\"num_key_value_heads\": 2, \"vocab_size\": 151936, \"max_position_embeddings\": 32768, "
                      "\"rope_theta\": 1000000.0, \"rms_norm_eps\": 1e-06, \"tie_word_embeddings\": true, "
                      "\"torch_dtype\": \"bfloat16\", \"hidden_act\": \"silu\", \"use_sliding_window\": false}\n";
    snprintf(path, sizeof path, "%s/config.json", dir);
    TRY(file_write_atomic(path, cfg, strlen(cfg), e));
    st_writer_t *w = st_writer_init();
    /* [rows, cols] of each tensor; all share one random pool to keep memory low */
    size_t pool_n = (size_t)V_ * C_;
    uint16_t *pool = malloc(pool_n * 2);
    float tmp[4096];
    for (size_t i = 0; i < pool_n; i += 4096) {
        size_t n = pool_n - i < 4096 ? pool_n - i : 4096;
        rng_fill_normal(1, 0, i, 0.0f, 0.02f, tmp, n);
        dt_convert_from_f32(pool + i, DT_BF16, tmp, n);
    }
    uint16_t *ones = malloc(F_ * 2);
    for (int i = 0; i < F_; i++) ones[i] = dt_f32_to_bf16(1.0f);
    char n[128];
    int64_t sh[2];
#define ADD(name, r, c, data)                                                          \
    do {                                                                               \
        sh[0] = (r), sh[1] = (c);                                                      \
        TRY(st_writer_add(w, name, DT_BF16, (c) ? 2 : 1, (c) ? sh : sh, data, e));     \
    } while (0)
    ADD("model.embed_tokens.weight", V_, C_, pool);
    sh[0] = C_;
    TRY(st_writer_add(w, "model.norm.weight", DT_BF16, 1, sh, ones, e));
    for (int l = 0; l < L_; l++) {
        const struct { const char *s; int64_t r, c; } t[] = {
            {"self_attn.q_proj.weight", H_ * D_, C_}, {"self_attn.k_proj.weight", HKV_ * D_, C_},
            {"self_attn.v_proj.weight", HKV_ * D_, C_}, {"self_attn.o_proj.weight", C_, H_ * D_},
            {"mlp.gate_proj.weight", F_, C_}, {"mlp.up_proj.weight", F_, C_}, {"mlp.down_proj.weight", C_, F_}};
        for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
            snprintf(n, sizeof n, "model.layers.%d.%s", l, t[k].s);
            ADD(n, t[k].r, t[k].c, pool + (size_t)(l * 7 + k) * 65536);
        }
        const char *b[] = {"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"};
        const int64_t bn[] = {H_ * D_, HKV_ * D_, HKV_ * D_};
        for (int k = 0; k < 3; k++) {
            snprintf(n, sizeof n, "model.layers.%d.%s", l, b[k]);
            sh[0] = bn[k];
            TRY(st_writer_add(w, n, DT_BF16, 1, sh, pool, e));
        }
        const char *norms[] = {"input_layernorm.weight", "post_attention_layernorm.weight"};
        for (int k = 0; k < 2; k++) {
            snprintf(n, sizeof n, "model.layers.%d.%s", l, norms[k]);
            sh[0] = C_;
            TRY(st_writer_add(w, n, DT_BF16, 1, sh, ones, e));
        }
    }
#undef ADD
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    /* transformers 4.x (Debian's python3-torch era) refuses a file without it */
    r1d_status st = st_writer_set_metadata(w, "format", "pt", e);
    if (st == R1D_OK) st = st_writer_write(w, path, e);
    st_writer_free(w);
    free(pool), free(ones);
    return st;
}

/* Read bandwidth: what decode is bound by (it streams every weight once per step).
 * All cores sum a buffer far larger than the caches. */
static double read_gbs(void) {
    size_t n = (size_t)256 << 20; /* floats: 1 GiB */
    float *a = malloc(n * sizeof(float));
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 1e9, sink = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = time_now(), s = 0;
        #pragma omp parallel for simd reduction(+ : s)
        for (size_t i = 0; i < n; i++) s += a[i];
        double dt = time_now() - t0;
        sink += s;
        if (dt < best) best = dt;
    }
    free(a);
    return sink < 0 ? 0 : n * sizeof(float) / best / 1e9;
}

/* sgemm over the shapes of one layer's projections at T rows, f32. */
static double sgemm_gflops(int T) {
    const int shp[][2] = {{H_ * D_, C_}, {HKV_ * D_, C_}, {HKV_ * D_, C_}, {C_, H_ * D_}, {F_, C_}, {F_, C_}, {C_, F_}};
    float *x = calloc((size_t)T * F_, 4), *w = calloc((size_t)F_ * C_, 4), *y = calloc((size_t)T * F_, 4);
    double flop = 0, best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = time_now();
        flop = 0;
        for (int k = 0; k < 7; k++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, shp[k][0], shp[k][1], 1.0f, x, shp[k][1], w,
                        shp[k][1], 0.0f, y, shp[k][0]);
            flop += 2.0 * T * shp[k][0] * shp[k][1];
        }
        double dt = time_now() - t0;
        if (dt < best) best = dt;
    }
    free(x), free(w), free(y);
    return flop / best / 1e9;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp/r1d-bench-qwen2.5-0.5b";
    err_t e = {0};
    char cfgp[4200];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    if (!file_exists(cfgp)) {
        fprintf(stderr, "writing random Qwen2.5-0.5B-shaped model to %s\n", dir);
        if (write_model(dir, &e) != R1D_OK) return fprintf(stderr, "%s\n", e.msg), 1;
    }
    tch_model_t *m;
    ops_t *o;
    if (tch_model_load(&m, dir, &e) != R1D_OK || ops_cpu_init(&o, &e) != R1D_OK) return fprintf(stderr, "%s\n", e.msg), 1;
    tch_kv_t kv;
    if (tch_kv_init(&kv, o, L_, HKV_, D_, 16, (size_t)512 << 20, &e) != R1D_OK) return fprintf(stderr, "%s\n", e.msg), 1;
    tch_ws_t ws;
    tch_ws_init(&ws, o);
    double bw = read_gbs(), gf = sgemm_gflops(512);
    double layer_flop_tok = 2.0 * ((double)C_ * (H_ + 2 * HKV_) * D_ + (double)H_ * D_ * C_ + 3.0 * C_ * F_);
    double weight_bytes = 2.0 * (L_ * layer_flop_tok / 2 + (double)V_ * C_);
    float *logits = malloc(sizeof(float) * 32 * (size_t)V_);
    /* the prompt (512) and the caches of 32 sequences x 64 tokens filled in one pass */
    int32_t *ids = malloc(sizeof(int32_t) * 32 * 64);
    for (int i = 0; i < 32 * 64; i++) ids[i] = (i * 7919) % V_;

    /* prefill: one 512-token prompt */
    tch_pages_t pg = {0};
    tch_kv_reserve(&kv, &pg, 512);
    ops_attn_seq_t s = {512, 512, pg.ids};
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = time_now();
        if (tch_forward(m, &ws, &kv, &s, 1, ids, 0, logits, &e) != R1D_OK) return fprintf(stderr, "%s\n", e.msg), 1;
        if (time_now() - t0 < best) best = time_now() - t0;
    }
    double pre_gflops = (512.0 * L_ * layer_flop_tok + 2.0 * V_ * C_) / best / 1e9;
    printf("prefill 512: %.1f tok/s, %.2f GFLOP/s = %.0f%% of sgemm %.2f GFLOP/s on the same shapes\n", 512 / best,
           pre_gflops, 100 * pre_gflops / gf, gf);
    tch_kv_release(&kv, &pg);

    /* decode: B sequences of 64 cached tokens, 16 steps */
    const int Bs[] = {1, 32};
    for (int bi = 0; bi < 2; bi++) {
        int B = Bs[bi];
        tch_pages_t *p = calloc((size_t)B, sizeof *p);
        ops_attn_seq_t *seqs = calloc((size_t)B, sizeof *seqs);
        for (int b = 0; b < B; b++) {
            tch_kv_reserve(&kv, &p[b], 64);
            seqs[b] = (ops_attn_seq_t){64, 64, p[b].ids};
        }
        if (tch_forward(m, &ws, &kv, seqs, B, ids, 0, logits, &e) != R1D_OK) /* fills the caches; not timed */
            return fprintf(stderr, "%s\n", e.msg), 1;
        /* the fastest of 16 steps: on a shared machine the others measure the neighbours */
        int steps = 16;
        double dt = 1e9;
        for (int k = 0; k < steps; k++) {
            for (int b = 0; b < B; b++) {
                tch_kv_reserve(&kv, &p[b], 65 + k);
                seqs[b] = (ops_attn_seq_t){1, 65 + k, p[b].ids};
            }
            double t0 = time_now();
            if (tch_forward(m, &ws, &kv, seqs, B, ids, 0, logits, &e) != R1D_OK) return fprintf(stderr, "%s\n", e.msg), 1;
            if (time_now() - t0 < dt) dt = time_now() - t0;
        }
        double bound = bw * 1e9 / weight_bytes;
        printf("decode batch %2d: %.1f tok/s (%.1f steps/s); bandwidth bound %.1f steps/s "
               "(%.0f MB of weights per step at %.1f GB/s read) -> %.0f%% of bound\n",
               B, B / dt, 1 / dt, bound, weight_bytes / 1e6, bw, 100 * (1 / dt) / bound);
        for (int b = 0; b < B; b++) tch_kv_release(&kv, &p[b]), free(p[b].ids);
        free(p), free(seqs);
    }
    free(logits), free(ids);
    tch_ws_free(&ws);
    tch_kv_free(&kv);
    ops_free(o);
    tch_model_free(m);
    return 0;
}
