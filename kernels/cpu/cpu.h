/* Internal to the CPU backend: its op implementations and shared scratch. */
#ifndef R1D_KERNELS_CPU_H
#define R1D_KERNELS_CPU_H

#include <stddef.h>
#include <string.h>

#include "kernels/ops.h"

/* Hot loops get AVX-512 and AVX2+FMA copies chosen at load time by ISA level (x86-64-v4/v3),
 * so one binary runs everywhere and still uses the wide units where they exist. ("arch=haswell"
 * would dispatch on the CPU model name, and miss every non-Intel CPU.) */
#define CPU_SIMD __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

/* 16-float vectors (GCC/clang vector extensions: one zmm on AVX-512, two ymm on AVX2).
 * The batch-invariant kernels fix their summation order in these lanes, so every
 * clone computes the same operations; CPU_LD16 is a macro because a vector-valued
 * function would change the ABI between clones. */
typedef float cpu_v16 __attribute__((vector_size(64)));
typedef float cpu_v16u __attribute__((vector_size(64), aligned(4)));
typedef float cpu_v8 __attribute__((vector_size(32)));
typedef float cpu_v4 __attribute__((vector_size(16)));
#define CPU_LD16(p) (*(const cpu_v16u *)(p))

/* The fixed tree over the 16 lanes: j + j+8, then j + j+4, then (0+2) + (1+3). */
static inline __attribute__((always_inline)) float cpu_hsum16(const cpu_v16 *v) {
    cpu_v8 a, b;
    memcpy(&a, v, sizeof a);
    memcpy(&b, (const char *)v + sizeof a, sizeof b);
    a += b;
    cpu_v4 c, d;
    memcpy(&c, &a, sizeof c);
    memcpy(&d, (const char *)&a + sizeof c, sizeof d);
    c += d;
    return (c[0] + c[2]) + (c[1] + c[3]);
}

/* cpu_hsum16 of 16 vectors at once: out[i] = cpu_hsum16(&v[i]), the same additions in
 * the same pairs (lanes 8 apart, then 4, 2, 1), done as a butterfly across the vectors:
 * 15 vector adds instead of 16 reductions inside one register each. */
static inline __attribute__((always_inline)) void cpu_hsum16x16(const cpu_v16 *v, float *out) {
    cpu_v16 s1[8], s2[4], s3[2], s4;
    #pragma GCC unroll 8
    for (int m = 0; m < 8; m++)
        s1[m] = __builtin_shufflevector(v[2 * m], v[2 * m + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                __builtin_shufflevector(v[2 * m], v[2 * m + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30,
                                        31);
    #pragma GCC unroll 4
    for (int m = 0; m < 4; m++)
        s2[m] = __builtin_shufflevector(s1[2 * m], s1[2 * m + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26,
                                        27) +
                __builtin_shufflevector(s1[2 * m], s1[2 * m + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30,
                                        31);
    #pragma GCC unroll 2
    for (int m = 0; m < 2; m++)
        s3[m] = __builtin_shufflevector(s2[2 * m], s2[2 * m + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28,
                                        29) +
                __builtin_shufflevector(s2[2 * m], s2[2 * m + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30,
                                        31);
    s4 = __builtin_shufflevector(s3[0], s3[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         __builtin_shufflevector(s3[0], s3[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    memcpy(out, &s4, sizeof s4);
}

/* Multiply-adds below which a loop stays on one thread: waking the team costs more
 * than the work for the tiny models of tests and demos (and spinning workers steal
 * the cores from other processes on a shared machine). */
#define CPU_PAR_MIN 65536

typedef struct cpu_state {
    float *scratch;      /* grows on demand; sized once by the first calls of a model */
    size_t scratch_n;    /* floats */
} cpu_state_t;

/* Scratch of at least n floats, or NULL (then o->status is set). */
float *cpu_scratch(ops_t *o, size_t n);
/* Row `r` of a weight as f32 into dst[cols]. */
void cpu_weight_row(const ops_weight_t *w, int64_t r, float *dst);

/* The dot order of every inference matmul (matmul.c): y[t,r] = x_t . w_r as 16 lane
 * accumulators over C (lane j: c = j mod 16 in increasing c, one fused multiply-add
 * each, C zero-padded to a multiple of 16) summed by one fixed tree, whatever T, the
 * row's place in the batch or the thread count. */
/* Writes row r of w widened to f32 into dst[w->cols]; must be exact (a pure function of
 * the stored row) so that how rows are grouped never shows in the results. */
typedef void (*cpu_pack_fn)(const ops_weight_t *w, const void *ctx, int64_t r, float *dst);
/* y[T,OC] = x[T,C] W^T in the dot order, W's rows widened by pack */
void cpu_matmul_packed(ops_t *o, float *y, const float *x, const ops_weight_t *w, int64_t T, cpu_pack_fn pack,
                       const void *pack_ctx);
/* F8_E4M3 weights with block scales (matmul_fp8.c): y[T,OC] = x[T,C] W^T, W dequantised
 * row by row as it is read */
void cpu_matmul_fp8(ops_t *o, float *y, const float *x, const ops_weight_t *w, int64_t T);
void cpu_act_quant_fp8(ops_t *o, void *x, int64_t T, int64_t C, int block);
void cpu_matmul(ops_t *o, void *out, const void *x, const ops_weight_t *w, const float *bias, int64_t T);
void cpu_rmsnorm(ops_t *o, void *out, const void *x, const ops_weight_t *w, float eps, int64_t T, int64_t C);
void cpu_rope(ops_t *o, void *x, const int32_t *pos, const float *inv_freq, int64_t T, int nh, int D);
void cpu_kv_store(ops_t *o, ops_kv_t *kv, const void *k, const void *v, const ops_attn_seq_t *seqs, int B);
void cpu_attention(ops_t *o, void *out, const void *q, const ops_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                   int H, float scale);

#endif
