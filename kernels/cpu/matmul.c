/* out[T,OC] = x[T,C] W^T + bias, batch-invariant: every output y[t,r] is the same
 * sequence of f32 operations whatever T is, wherever row t sits in the batch, however
 * OC is split and however many threads run, so a request's logits never depend on what
 * shares its step (and a preempted sequence recomputed by prefill gets the KV it had).
 * That sequence (cpu.h, "the dot order"): 16 lane accumulators over C, lane j summing
 * x[c] w[c] for c = j mod 16 in increasing c with one fused multiply-add each (C
 * zero-padded to a multiple of 16), then the fixed tree of cpu_hsum16; the bias is
 * added after. Blocking only chooses which outputs are computed together, never that
 * sequence, which is what lets one kernel serve decode and prefill:
 *  - prefill: W is widened (exactly: bf16, f16, fp8 times its block scale, f32 copied)
 *    panel by panel into a per-thread L2-sized buffer that every row of x then passes;
 *    micro-tiles of up to MR rows of x by NR rows of W keep MR*NR vector accumulators in
 *    registers over C (about 90-96% of OpenBLAS sgemm on one core, bench/bench_matmul.c);
 *  - decode (T <= MR): bf16 and f32 rows are read in place, each weight byte once, as
 *    one sequential stream (a bandwidth-bound pass, like the row kernel it replaces);
 *  - threads split OC into panels.
 * OpenBLAS sgemm is not used: it blocks its reduction by T and by thread count, so its
 * results move with the batch; it stays in the benchmarks as the peer figure. */
#include <omp.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

#define MR 4            /* rows of x per micro-tile */
#define NR 5            /* rows of W per micro-tile: 20 accumulators + 5 + 1 of 32 AVX-512 registers (with 6, gcc
                         * stops keeping W in registers and reloads it for every FMA: half the speed) */
#define NR_NARROW 2     /* with 16 registers (AVX2) a 16-lane vector takes two: 2 x 2 tiles */
#define PANEL_DECODE_BYTES (64 << 10)   /* decode: rows per scheduling unit */
#define PANEL_PREFILL_BYTES (384 << 10) /* stays in L2 while every row of x passes */

typedef uint16_t u16x16 __attribute__((vector_size(32), aligned(2)));
typedef uint32_t u32x16 __attribute__((vector_size(64), aligned(4)));

/* How a micro-tile reads W: a panel of widened rows interleaved by 16 columns
 * ([Cp/16][nr][16], so that one pointer and constant offsets address every row), f32
 * rows in place, or bf16 rows in place widened in registers (decode: each weight is used
 * once, so widening into a panel would only add a store and a load; the values, hence
 * the results, are the same). */
enum { W_PANEL, W_F32, W_BF16 };

/* y[i, j] = x_i . w_j for i < mr, j < nv (of nr computed); x rows ldx apart, w rows ldw
 * apart (in place), y rows ldy apart. mr, nr and kind are constants at every call site,
 * so the accumulators live in registers. */
static inline __attribute__((always_inline)) void mm_tile(int mr, int nr, int kind, const float *x, int64_t ldx,
                                                          const void *w, int64_t ldw, int64_t Cp, float *y,
                                                          int64_t ldy, int nv) {
    cpu_v16 acc[MR][NR];
    #pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
        #pragma GCC unroll 8
        for (int j = 0; j < nr; j++) acc[i][j] = (cpu_v16){0};
    for (int64_t k = 0; k < Cp; k += 16) {
        cpu_v16 wv[NR];
        #pragma GCC unroll 8
        for (int j = 0; j < nr; j++) {
            if (kind == W_BF16)
                wv[j] = (cpu_v16)(__builtin_convertvector(*(const u16x16 *)((const uint16_t *)w + j * ldw + k), u32x16)
                                  << 16);
            else if (kind == W_F32)
                wv[j] = CPU_LD16((const float *)w + j * ldw + k);
            else
                wv[j] = CPU_LD16((const float *)w + k * nr + j * 16);
        }
        #pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            cpu_v16 xv = CPU_LD16(x + i * ldx + k);
            #pragma GCC unroll 8
            for (int j = 0; j < nr; j++) acc[i][j] += xv * wv[j];
        }
    }
    #pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nv; j++) y[i * ldy + j] = cpu_hsum16(&acc[i][j]);
}

typedef struct mm_job {
    const float *x;          /* [T, ldx], C valid, zero to Cp */
    int64_t ldx, T, C, Cp, OC;
    float *y;                /* [T, OC] */
    const ops_weight_t *w;
    cpu_pack_fn pack;
    const void *pack_ctx;
    int64_t panel_rows;      /* multiple of NR */
    int wide;                /* 32 vector registers: MR x NR tiles */
    int direct;              /* T <= MR: tiles read W in place (W_F32 or W_BF16), else 0 */
} mm_job_t;

/* mr (<= MR) rows of x at xt against nv (<= nr) rows of a panel group at w. */
static inline __attribute__((always_inline)) void mm_panel_tile(const mm_job_t *J, int mr, const float *xt,
                                                                const float *w, float *y, int nv) {
    int64_t ldx = J->ldx, Cp = J->Cp, OC = J->OC;
    if (J->wide) {
        switch (mr) {
        case 4: mm_tile(4, NR, W_PANEL, xt, ldx, w, 0, Cp, y, OC, nv); break;
        case 3: mm_tile(3, NR, W_PANEL, xt, ldx, w, 0, Cp, y, OC, nv); break;
        case 2: mm_tile(2, NR, W_PANEL, xt, ldx, w, 0, Cp, y, OC, nv); break;
        default: mm_tile(1, NR, W_PANEL, xt, ldx, w, 0, Cp, y, OC, nv); break;
        }
        return;
    }
    for (int i = 0; i < mr; i += 2) {
        const float *xi = xt + i * ldx;
        if (mr - i >= 2) mm_tile(2, NR_NARROW, W_PANEL, xi, ldx, w, 0, Cp, y + i * OC, OC, nv);
        else mm_tile(1, NR_NARROW, W_PANEL, xi, ldx, w, 0, Cp, y + i * OC, OC, nv);
    }
}

/* One panel of W (rows r0 .. r0+n-1) against every row of x. Cloned per ISA (CPU_SIMD);
 * the omp region calls it, so all of a run's panels use the same clone. */
CPU_SIMD static void mm_panel(const mm_job_t *J, int64_t r0, float *buf) {
    int64_t n = J->OC - r0 < J->panel_rows ? J->OC - r0 : J->panel_rows, Cp = J->Cp;
    if (J->direct) {
        /* one weight row at a time: the weight is read as one sequential stream, which the
         * hardware prefetcher follows (a few rows at once are short streams it does not) */
        size_t esz = dt_size(J->w->dtype);
        for (int64_t j = 0; j < n; j++) {
            const void *w = (const char *)J->w->data + (size_t)(r0 + j) * (size_t)J->C * esz;
            float *y = J->y + r0 + j;
#define MM_DIRECT(mr)                                                                                  \
    (J->direct == W_BF16 ? mm_tile(mr, 1, W_BF16, J->x, J->ldx, w, J->C, Cp, y, J->OC, 1)             \
                         : mm_tile(mr, 1, W_F32, J->x, J->ldx, w, J->C, Cp, y, J->OC, 1))
            switch (J->T) {
            case 4: MM_DIRECT(4); break;
            case 3: MM_DIRECT(3); break;
            case 2: MM_DIRECT(2); break;
            default: MM_DIRECT(1); break;
            }
#undef MM_DIRECT
        }
        return;
    }
    /* widen the panel into buf: groups of nr rows (the last padded with zero rows), each
     * interleaved by 16 columns; a row is widened first into the Cp floats after them */
    int nr = J->wide ? NR : NR_NARROW;
    int64_t n_pad = (n + nr - 1) / nr * nr;
    float *row = buf + n_pad * Cp;
    for (int64_t r = 0; r < n_pad; r++) {
        if (r < n) {
            J->pack(J->w, J->pack_ctx, r0 + r, row);
            memset(row + J->C, 0, (size_t)(Cp - J->C) * sizeof(float));
        } else {
            memset(row, 0, (size_t)Cp * sizeof(float));
        }
        float *g = buf + (r / nr) * nr * Cp + (r % nr) * 16;
        for (int64_t k = 0; k < Cp; k += 16) memcpy(g + k * nr, row + k, 16 * sizeof(float));
    }
    for (int64_t t0 = 0; t0 < J->T; t0 += MR) {
        int mr = J->T - t0 < MR ? (int)(J->T - t0) : MR;
        for (int64_t j = 0; j < n; j += nr)
            mm_panel_tile(J, mr, J->x + t0 * J->ldx, buf + j * Cp, J->y + t0 * J->OC + r0 + j,
                          n - j < nr ? (int)(n - j) : nr);
    }
}

/* bf16 is the top half of an f32 (vector types: gcc's -O2 cost model would leave the
 * plain loop scalar, and it runs at every decode step over every weight) */
CPU_SIMD static void pack_bf16(const ops_weight_t *w, const void *ctx, int64_t r, float *dst) {
    (void)ctx;
    int64_t n = w->cols, c = 0;
    const uint16_t *src = (const uint16_t *)w->data + r * n;
    for (; c + 16 <= n; c += 16) *(u32x16 *)(dst + c) = __builtin_convertvector(*(const u16x16 *)(src + c), u32x16) << 16;
    for (; c < n; c++) dst[c] = dt_bf16_to_f32(src[c]);
}

static void pack_any(const ops_weight_t *w, const void *ctx, int64_t r, float *dst) {
    (void)ctx;
    cpu_weight_row(w, r, dst);
}

void cpu_matmul_packed(ops_t *o, float *y, const float *x, const ops_weight_t *w, int64_t T, cpu_pack_fn pack,
                       const void *pack_ctx) {
    int64_t OC = w->rows, C = w->cols, Cp = (C + 15) / 16 * 16;
    if (T == 0 || OC == 0) return;
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f") != 0;
    int nr = wide ? NR : NR_NARROW;
    int nt = omp_get_max_threads();
    int64_t bytes = T <= MR ? PANEL_DECODE_BYTES : PANEL_PREFILL_BYTES;
    int64_t rows = bytes / (Cp * (int64_t)sizeof(float)) / nr * nr;
    if (rows < nr) rows = nr;
    /* every thread gets panels, unless the weight is smaller than one per thread */
    int64_t per_thread = (OC + nt - 1) / nt;
    per_thread = (per_thread + nr - 1) / nr * nr;
    if (rows > per_thread) rows = per_thread;
    int64_t n_panels = (OC + rows - 1) / rows;
    int64_t ldx = C % 16 ? Cp : C;
    /* per thread: the panel [rows, Cp] and one row being widened */
    size_t panel_n = (size_t)(rows + 1) * (size_t)Cp, xpad_n = ldx == C ? 0 : (size_t)T * (size_t)Cp;
    float *buf = cpu_scratch(o, (size_t)nt * panel_n + xpad_n);
    if (!buf) return;
    if (xpad_n) {
        float *xp = buf + (size_t)nt * panel_n;
        for (int64_t t = 0; t < T; t++) {
            memcpy(xp + t * Cp, x + t * C, (size_t)C * sizeof(float));
            memset(xp + t * Cp + C, 0, (size_t)(Cp - C) * sizeof(float));
        }
        x = xp;
    }
    int direct = 0;
    if (T <= MR && C % 16 == 0 && (w->dtype == DT_F32 || w->dtype == DT_BF16))
        direct = w->dtype == DT_BF16 ? W_BF16 : W_F32;
    mm_job_t J = {x, ldx, T, C, Cp, OC, y, w, pack, pack_ctx, rows, wide, direct};
    #pragma omp parallel if (OC * C * T > CPU_PAR_MIN)
    {
        float *mine = buf + (size_t)omp_get_thread_num() * panel_n;
        #pragma omp for schedule(static)
        for (int64_t p = 0; p < n_panels; p++) mm_panel(&J, p * rows, mine);
    }
}

void cpu_matmul(ops_t *o, void *out, const void *xin, const ops_weight_t *w, const float *bias, int64_t T) {
    float *y = out;       /* [T, OC] */
    const float *x = xin; /* [T, C] */
    int64_t OC = w->rows;
    if (T == 0) return;
    if (w->dtype == DT_F8_E4M3) cpu_matmul_fp8(o, y, x, w, T);
    else cpu_matmul_packed(o, y, x, w, T, w->dtype == DT_BF16 ? pack_bf16 : pack_any, NULL);
    if (bias) {
        #pragma omp parallel for if (T * OC > CPU_PAR_MIN)
        for (int64_t t = 0; t < T; t++)
            for (int64_t r = 0; r < OC; r++) y[t * OC + r] += bias[r];
    }
}
