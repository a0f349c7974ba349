/* FP8 E4M3 weights with DeepSeek's block scales (weight_scale_inv): y = x W^T where
 * W[r,c] = f32(fp8[r,c]) * scale[r/br, c/bc], the same single f32 product as the
 * reference dequantisation, so results match a matmul on the dequantised weights.
 * The weight is never widened as a whole: the batch-invariant kernel of matmul.c
 * dequantises it row by row into its per-thread panels (fp8_row). Also the activation
 * quantisation that the GPU path applies before its FP8 GEMMs, for comparing the two
 * backends. */
#include <math.h>

#include "kernels/cpu/cpu.h"

/* Widening is this kernel's own cost (the dot products are matmul.c's): at decode a
 * table lookup per byte took 3x the multiply-adds, so x86 CPUs widen 16 (AVX-512) or 8
 * (AVX2) bytes at once by bit arithmetic. Every path gives the table's exact values
 * (E4M3 normal: exponent + 120 and mantissa moved into place; subnormal: m * 2^-9; 0x7f:
 * NaN) times the block scale, so results never depend on the CPU's ISA. */

/* dst[n] = e4m3(src[n]) * s, one block's span of a row */
typedef void (*fp8_span_fn)(float *dst, const uint8_t *src, float s, int64_t n);

static void span_table(float *dst, const uint8_t *src, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = dt_e4m3_to_f32(src[i]) * s;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static void span_avx512(float *dst, const uint8_t *src, float s, int64_t n) {
    const __m512 vs = _mm512_set1_ps(s), sub_scale = _mm512_set1_ps(0x1p-9f);
    const __m512i m7f = _mm512_set1_epi32(0x7f), bias = _mm512_set1_epi32(120 << 23), eight = _mm512_set1_epi32(8);
    const __m512i qnan = _mm512_set1_epi32(0x7fc00000), m80 = _mm512_set1_epi32(0x80);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        __m512i em = _mm512_and_si512(b, m7f);
        __m512i normal = _mm512_add_epi32(_mm512_slli_epi32(em, 20), bias);
        __m512 sub = _mm512_mul_ps(_mm512_cvtepi32_ps(em), sub_scale);
        __m512i bits = _mm512_mask_blend_epi32(_mm512_cmpge_epu32_mask(em, eight), _mm512_castps_si512(sub), normal);
        bits = _mm512_mask_blend_epi32(_mm512_cmpeq_epi32_mask(em, m7f), bits, qnan);
        bits = _mm512_or_si512(bits, _mm512_slli_epi32(_mm512_and_si512(b, m80), 24));
        _mm512_storeu_ps(dst + i, _mm512_mul_ps(_mm512_castsi512_ps(bits), vs));
    }
    span_table(dst + i, src + i, s, n - i);
}

__attribute__((target("avx2"))) static void span_avx2(float *dst, const uint8_t *src, float s, int64_t n) {
    const __m256 vs = _mm256_set1_ps(s), sub_scale = _mm256_set1_ps(0x1p-9f);
    const __m256i m7f = _mm256_set1_epi32(0x7f), bias = _mm256_set1_epi32(120 << 23), seven = _mm256_set1_epi32(7);
    const __m256i qnan = _mm256_set1_epi32(0x7fc00000), m80 = _mm256_set1_epi32(0x80);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + i)));
        __m256i em = _mm256_and_si256(b, m7f);
        __m256i normal = _mm256_add_epi32(_mm256_slli_epi32(em, 20), bias);
        __m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(em), sub_scale);
        __m256i bits = _mm256_blendv_epi8(_mm256_castps_si256(sub), normal, _mm256_cmpgt_epi32(em, seven));
        bits = _mm256_blendv_epi8(bits, qnan, _mm256_cmpeq_epi32(em, m7f));
        bits = _mm256_or_si256(bits, _mm256_slli_epi32(_mm256_and_si256(b, m80), 24));
        _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_castsi256_ps(bits), vs));
    }
    span_table(dst + i, src + i, s, n - i);
}
#endif

static fp8_span_fn span_best(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return span_avx512;
    if (__builtin_cpu_supports("avx2")) return span_avx2;
#endif
    return span_table;
}

/* Row r of W as f32 into dst[cols]; ctx is the span function. */
static void fp8_row(const ops_weight_t *w, const void *ctx, int64_t r, float *dst) {
    fp8_span_fn span = *(const fp8_span_fn *)ctx;
    const uint8_t *src = (const uint8_t *)w->data + (size_t)r * (size_t)w->cols;
    int64_t bc = w->block_cols, ncb = (w->cols + bc - 1) / bc;
    const float *srow = w->scale + (r / w->block_rows) * ncb;
    for (int64_t cb = 0; cb < ncb; cb++) {
        int64_t c0 = cb * bc, c1 = c0 + bc < w->cols ? c0 + bc : w->cols;
        span(dst + c0, src + c0, srow[cb], c1 - c0);
    }
}

void cpu_matmul_fp8(ops_t *o, float *y, const float *x, const ops_weight_t *w, int64_t T) {
    fp8_span_fn span = span_best();
    cpu_matmul_packed(o, y, x, w, T, fp8_row, &span);
}

void cpu_act_quant_fp8(ops_t *o, void *xin, int64_t T, int64_t C, int block) {
    (void)o;
    float *x = xin; /* [T, C] */
    #pragma omp parallel for if (T > 4)
    for (int64_t t = 0; t < T; t++) {
        float *xr = x + t * C;
        for (int64_t c0 = 0; c0 < C; c0 += block) {
            int64_t c1 = c0 + block < C ? c0 + block : C;
            float amax = 1e-4f; /* the reference clamps the amax, so all-zero tiles stay zero */
            for (int64_t c = c0; c < c1; c++) amax = fmaxf(amax, fabsf(xr[c]));
            float s = amax / 448.0f;
            for (int64_t c = c0; c < c1; c++) xr[c] = dt_e4m3_to_f32(dt_f32_to_e4m3(xr[c] / s)) * s;
        }
    }
}
