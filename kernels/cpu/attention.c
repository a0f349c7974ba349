/* Causal GQA attention over a paged KV cache, batch-invariant: a query row's output is
 * the same sequence of f32 operations whether its token comes in a prefill chunk of
 * any length, alone in a decode step, or among other sequences, so a sequence that was
 * preempted and recomputed by prefill gets back bit for bit the cache it had. Per
 * (token, head) row at position i:
 *   s_p = scale * (q . k_p)  for p = 0..i, the dot in 16 lanes over D (the last block
 *                            zero-padded) summed by cpu_hsum16's tree (16 keys at once);
 *   m = max s_p;  e_p = expf(s_p - m);  sum = e_0 + e_1 + ... in order of p;
 *   out = sum over p in order of (e_p * (1/sum)) v_p, one fused multiply-add per element.
 * Work items are (token, kv head): the H/Hkv query heads that share a kv head read each
 * cached key and value once; no [T x T] matrix is formed. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

/* y[D] += w x[D] */
static inline __attribute__((always_inline)) void head_axpy(float *y, float w, const float *x, int D) {
    int i = 0;
    for (; i + 16 <= D; i += 16) {
        cpu_v16 r = CPU_LD16(y + i) + w * CPU_LD16(x + i);
        memcpy(y + i, &r, sizeof r);
    }
    for (; i < D; i++) y[i] += w * x[i];
}

static inline size_t kv_offset(const ops_kv_t *kv, const int32_t *blocks, int32_t pos, int h) {
    int32_t b = blocks[pos / kv->block_size], slot = pos % kv->block_size;
    return (((size_t)b * kv->block_size + slot) * kv->Hkv + h) * kv->D;
}

void cpu_kv_store(ops_t *o, ops_kv_t *kv, const void *kin, const void *vin, const ops_attn_seq_t *seqs, int B) {
    (void)o;
    const float *k = kin, *v = vin; /* [T, Hkv, D] */
    float *kc = kv->k, *vc = kv->v;
    size_t row = (size_t)kv->D * sizeof(float);
    int64_t t = 0;
    for (int b = 0; b < B; b++) {
        int32_t p0 = seqs[b].n_ctx - seqs[b].n_new;
        for (int32_t i = 0; i < seqs[b].n_new; i++, t++)
            for (int h = 0; h < kv->Hkv; h++) {
                size_t at = kv_offset(kv, seqs[b].blocks, p0 + i, h);
                memcpy(kc + at, k + (t * kv->Hkv + h) * kv->D, row);
                memcpy(vc + at, v + (t * kv->Hkv + h) * kv->D, row);
            }
    }
}

/* For ng heads h: y[h][D] = sum over p < npos, in order, of w[h][p] v[p][D], one fused
 * multiply-add per element; y rows D apart, w rows ws apart. nd = D / 16 and ng are
 * constants at the call sites, so the ng * nd accumulators stay in registers and each
 * value vector is loaded once for the ng heads. */
static inline __attribute__((always_inline)) void pv_heads(float *y, const float *w, int32_t ws, const float *vc,
                                                           const size_t *off, int32_t npos, int nd, int ng) {
    cpu_v16 acc[4][8];
    #pragma GCC unroll 4
    for (int h = 0; h < ng; h++)
        #pragma GCC unroll 8
        for (int i = 0; i < nd; i++) acc[h][i] = (cpu_v16){0};
    for (int32_t p = 0; p < npos; p++) {
        const float *vp = vc + off[p];
        cpu_v16 v[8];
        #pragma GCC unroll 8
        for (int i = 0; i < nd; i++) v[i] = CPU_LD16(vp + 16 * i);
        #pragma GCC unroll 4
        for (int h = 0; h < ng; h++) {
            float wh = w[(size_t)h * ws + p];
            #pragma GCC unroll 8
            for (int i = 0; i < nd; i++) acc[h][i] += wh * v[i];
        }
    }
    #pragma GCC unroll 4
    for (int h = 0; h < ng; h++) memcpy(y + (size_t)h * nd * 16, acc[h], (size_t)nd * sizeof(cpu_v16));
}

/* The `group` query heads of kv head kvh at one token (position npos - 1): q and y are
 * [group, D] with rows D apart; sc is [group, npos] scratch, off [npos] (the cache
 * offset of each position's key and value), zero [D] zeros. Cloned per ISA and called
 * from the omp region, so every row of a run uses the same clone. */
CPU_SIMD static void attn_rows(float *y, const float *q, const ops_kv_t *kv, const int32_t *blocks, int kvh,
                               int32_t npos, int group, float scale, float *sc, size_t *off, const float *zero) {
    int D = kv->D, bs = kv->block_size;
    const float *kc = kv->k, *vc = kv->v;
    for (int32_t p0 = 0; p0 < npos; p0 += bs) { /* one division per block, not per key */
        size_t base = ((size_t)blocks[p0 / bs] * bs * kv->Hkv + kvh) * D;
        for (int32_t p = p0; p < npos && p < p0 + bs; p++) off[p] = base + (size_t)(p - p0) * kv->Hkv * D;
    }
    /* scores, 16 keys at a time: one dot per lane set, reduced together (cpu_hsum16x16);
     * missing keys read zeros */
    for (int g = 0; g < group; g++) {
        const float *qg = q + (size_t)g * D;
        float *s = sc + (size_t)g * npos;
        for (int32_t p0 = 0; p0 < npos; p0 += 16) {
            const float *kp[16];
            for (int j = 0; j < 16; j++) kp[j] = p0 + j < npos ? kc + off[p0 + j] : zero;
            cpu_v16 acc[16];
            #pragma GCC unroll 16
            for (int j = 0; j < 16; j++) acc[j] = (cpu_v16){0};
            int i = 0;
            for (; i + 16 <= D; i += 16) {
                cpu_v16 qv = CPU_LD16(qg + i);
                #pragma GCC unroll 16
                for (int j = 0; j < 16; j++) acc[j] += qv * CPU_LD16(kp[j] + i);
            }
            if (i < D) { /* the last block zero-padded */
                cpu_v16 qv = {0};
                memcpy(&qv, qg + i, (size_t)(D - i) * sizeof(float));
                for (int j = 0; j < 16; j++) {
                    cpu_v16 kv16 = {0};
                    memcpy(&kv16, kp[j] + i, (size_t)(D - i) * sizeof(float));
                    acc[j] += qv * kv16;
                }
            }
            float dots[16];
            cpu_hsum16x16(acc, dots);
            for (int j = 0; j < 16 && p0 + j < npos; j++) s[p0 + j] = dots[j] * scale;
        }
    }
    for (int g = 0; g < group; g++) {
        float *s = sc + (size_t)g * npos, m = -FLT_MAX, sum = 0;
        for (int32_t p = 0; p < npos; p++) m = s[p] > m ? s[p] : m;
        for (int32_t p = 0; p < npos; p++) sum += (s[p] = expf(s[p] - m));
        float inv = 1.0f / sum;
        for (int32_t p = 0; p < npos; p++) s[p] *= inv;
    }
    /* out = sum of w_p v_p: register accumulators for the usual head sizes, the same
     * operations through memory for the others */
    for (int g = 0; g < group;) {
        float *yg = y + (size_t)g * D;
        const float *w = sc + (size_t)g * npos;
        int left = group - g;
        if (D == 64) {
            switch (left) {
            case 1: pv_heads(yg, w, npos, vc, off, npos, 4, 1); break;
            case 2: pv_heads(yg, w, npos, vc, off, npos, 4, 2); break;
            case 3: pv_heads(yg, w, npos, vc, off, npos, 4, 3); break;
            default: pv_heads(yg, w, npos, vc, off, npos, 4, 4); break;
            }
            g += left < 4 ? left : 4;
        } else if (D == 128) {
            if (left == 1) pv_heads(yg, w, npos, vc, off, npos, 8, 1);
            else pv_heads(yg, w, npos, vc, off, npos, 8, 2);
            g += left < 2 ? left : 2;
        } else {
            memset(yg, 0, (size_t)D * sizeof(float));
            for (int32_t p = 0; p < npos; p++) head_axpy(yg, w[p], vc + off[p], D);
            g++;
        }
    }
}

void cpu_attention(ops_t *o, void *out, const void *qin, const ops_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                   int H, float scale) {
    float *y = out;        /* [T, H, D] */
    const float *q = qin;  /* [T, H, D] */
    int D = kv->D, Hkv = kv->Hkv, group = H / Hkv;
    int64_t T = 0;
    int32_t max_ctx = 0;
    for (int b = 0; b < B; b++) {
        T += seqs[b].n_new;
        if (seqs[b].n_ctx > max_ctx) max_ctx = seqs[b].n_ctx;
    }
    int nt = omp_get_max_threads();
    /* per thread (an even number of floats, so the size_t offsets stay aligned): cache
     * offsets [max_ctx] (size_t), scores [group, max_ctx], zeros [D]; then token ->
     * sequence and position maps [T] */
    size_t per_thread = ((size_t)(group + 2) * (size_t)max_ctx + (size_t)D + 1) / 2 * 2;
    size_t work = (size_t)nt * per_thread;
    float *buf = cpu_scratch(o, work + 2 * (size_t)T);
    if (!buf) return;
    int32_t *tok_seq = (int32_t *)(buf + work), *tok_pos = tok_seq + T;
    for (int b = 0, t = 0; b < B; b++)
        for (int32_t i = 0; i < seqs[b].n_new; i++, t++) {
            tok_seq[t] = b;
            tok_pos[t] = seqs[b].n_ctx - seqs[b].n_new + i;
        }
    #pragma omp parallel if (T * H * (int64_t)max_ctx * D > CPU_PAR_MIN)
    {
        size_t *off = (size_t *)(buf + (size_t)omp_get_thread_num() * per_thread);
        float *sc = (float *)(off + max_ctx), *zero = sc + (size_t)group * max_ctx;
        memset(zero, 0, (size_t)D * sizeof(float));
        #pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t t = 0; t < T; t++)
            for (int kvh = 0; kvh < Hkv; kvh++) {
                size_t at = ((size_t)t * H + (size_t)kvh * group) * D;
                attn_rows(y + at, q + at, kv, seqs[tok_seq[t]].blocks, kvh, tok_pos[t] + 1, group, scale, sc, off,
                          zero);
            }
    }
}
