/* MLA with the absorbed weights over the paged latent cache (kernels/cuda_deepseek.h):
 *   q_abs[h] = [q_nope[h] W_UK[h] | rope(q_pe[h])]        (R + P per head)
 *   o_lat[h] = softmax(scale * q_abs[h] . cache[p]) . cache[p][:R]
 *   att[h]   = o_lat[h] W_UV[h]^T
 * Every head reads the same latent rows, so one CTA serves CDS_MLA_HEADS_PER_CTA heads from
 * one copy of a chunk of rows in shared memory, and the CTAs of one piece of work are
 * launched next to each other (head group fastest in the grid) so that the chunk comes
 * from HBM once and from L2 for the other head groups. DeepSeek-V3's shape (R = 512,
 * P = 64) runs on the tensor cores: 16 heads are the M = 16 of mma.sync m16n8k16 bf16,
 * scores S = Q K^T and output O = P V as in FlashAttention-2 (f32 accumulators, online
 * softmax per head); at 128 heads decode does ~1,000 FLOP per cache byte, so CUDA cores
 * alone would be compute-bound far under the HBM rate. Other widths (the tiny test
 * models) take a general CUDA-core kernel, a warp per head. Long contexts are split
 * over the sequence (cds_mla_plan): each piece writes its unnormalised output with its
 * running max and sum, and a combine kernel merges the pieces of a row exactly (the
 * log-sum-exp rescaling), so the split changes rounding only. */
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cds_internal.h"

namespace {

constexpr int HPC = CDS_MLA_HEADS_PER_CTA; /* heads (warps) per CTA */
constexpr int CH = 32;                      /* cache rows per shared-memory chunk (one per lane) */
constexpr int WMAX = 576, RMAX = 512;       /* R + P and R bounds: per-lane register arrays */
constexpr int QJ = WMAX / 32, OJ = RMAX / 32;

/* Cache row of position p of sequence `seq`. */
__device__ __forceinline__ const uint16_t *cache_row(const uint16_t *cache, const int32_t *bt, int32_t max_blocks,
                                                    int32_t seq, int32_t p, int32_t bs, int W) {
    int32_t blk = bt[(int64_t)seq * max_blocks + p / bs];
    return cache + ((int64_t)blk * bs + p % bs) * W;
}

__device__ __forceinline__ void rope_pair(float &a, float &b, float ang, float mscale) {
    float c = cosf(ang) * mscale, s = sinf(ang) * mscale;
    float x = a, y = b;
    a = x * c - y * s;
    b = y * c + x * s;
}

/* One block per new token: [rmsnorm(c) | rope(k_pe)] into its cache slot. */
__global__ void store_kernel(uint16_t *cache, int32_t bs, const uint16_t *kva, const uint16_t *norm_w, float eps,
                             const float *inv_freq, float mscale, int interleave, const int32_t *row_len,
                             const int32_t *row_seq, const int32_t *bt, int32_t max_blocks, int R, int P) {
    int64_t t = blockIdx.x;
    int W = R + P;
    const uint16_t *x = kva + t * W;
    int32_t pos = row_len[t] - 1;
    uint16_t *dst = (uint16_t *)cache_row(cache, bt, max_blocks, row_seq[t], pos, bs, W);
    __shared__ float part[32];
    float ss = 0.0f;
    for (int i = threadIdx.x; i < R; i += blockDim.x) {
        float v = cds_bf16_f32(x[i]);
        ss += v * v;
    }
    for (int o = 16; o; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x / 32] = ss;
    __syncthreads();
    float tot = 0.0f;
    for (int i = 0; i < (int)(blockDim.x / 32); i++) tot += part[i];
    float r = 1.0f / sqrtf(tot / (float)R + eps);
    for (int i = threadIdx.x; i < R; i += blockDim.x) {
        float nb = cds_bf16_f32(cds_f32_bf16(cds_bf16_f32(x[i]) * r));
        dst[i] = cds_f32_bf16(cds_bf16_f32(norm_w[i]) * nb);
    }
    int half = P / 2;
    for (int j = threadIdx.x; j < half; j += blockDim.x) {
        int ia = interleave ? 2 * j : j, ib = interleave ? 2 * j + 1 : j + half;
        float a = cds_bf16_f32(x[R + ia]), b = cds_bf16_f32(x[R + ib]);
        rope_pair(a, b, (float)pos * inv_freq[j], mscale);
        dst[R + ia] = cds_f32_bf16(a);
        dst[R + ib] = cds_f32_bf16(b);
    }
}

/* q_abs[t][h][R + i] = rope(q[t][h][Dn + i]): one block per token, threads over (head, pair). */
__global__ void qpe_kernel(uint16_t *qabs, const uint16_t *q, const float *inv_freq, float mscale, int interleave,
                           const int32_t *row_len, int H, int Dn, int P, int R) {
    int64_t t = blockIdx.x;
    int half = P / 2;
    float pos = (float)(row_len[t] - 1);
    for (int i = threadIdx.x; i < H * half; i += blockDim.x) {
        int h = i / half, j = i % half;
        int ia = interleave ? 2 * j : j, ib = interleave ? 2 * j + 1 : j + half;
        const uint16_t *src = q + (t * H + h) * (Dn + P) + Dn;
        uint16_t *dst = qabs + (t * H + h) * (R + P) + R;
        float a = cds_bf16_f32(src[ia]), b = cds_bf16_f32(src[ib]);
        rope_pair(a, b, pos * inv_freq[j], mscale);
        dst[ia] = cds_f32_bf16(a);
        dst[ib] = cds_f32_bf16(b);
    }
}

/* Grid: work item x head group (head group fastest); warp w serves head hg * HPC + w. Lane l holds the
 * query dims l + 32j and accumulates the output dims l + 32j; lane i also holds the score
 * of the chunk's row i. */
__global__ void __launch_bounds__(HPC * 32) decode_kernel(uint16_t *olat, float *part, const uint16_t *qabs,
                                                           const uint16_t *cache, int32_t bs,
                                                           const cds_mla_work_t *work, const int32_t *bt,
                                                           int32_t max_blocks, int H, int R, int P, float scale) {
    __shared__ __align__(16) uint16_t lat[CH * WMAX];
    int n_hg = (H + HPC - 1) / HPC;
    const cds_mla_work_t wk = work[blockIdx.x / n_hg];
    int W = R + P, warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    int h = (int)(blockIdx.x % n_hg) * HPC + warp;
    bool active = h < H;
    float q[QJ], o[OJ];
    for (int j = 0; j < QJ; j++) {
        int d = lane + 32 * j;
        q[j] = active && d < W ? cds_bf16_f32(qabs[((int64_t)wk.row * H + h) * W + d]) : 0.0f;
    }
    for (int j = 0; j < OJ; j++) o[j] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    const int vec = (W % 8) == 0 ? 8 : 2; /* bf16 per copy: 16-byte rows when they allow it */
    for (int32_t c0 = wk.start; c0 < wk.end; c0 += CH) {
        int n = min(CH, wk.end - c0);
        int per_row = W / vec;
        for (int i = threadIdx.x; i < n * per_row; i += blockDim.x) {
            int r = i / per_row, cidx = (i % per_row) * vec;
            const uint16_t *src = cache_row(cache, bt, max_blocks, wk.seq, c0 + r, bs, W) + cidx;
            if (vec == 8) *(uint4 *)(lat + r * W + cidx) = *(const uint4 *)src;
            else *(uint32_t *)(lat + r * W + cidx) = *(const uint32_t *)src;
        }
        __syncthreads();
        if (active) {
            float my = -INFINITY; /* lane i: score of row i */
            for (int i = 0; i < n; i++) {
                const uint16_t *row = lat + i * W;
                float s = 0.0f;
                for (int j = 0; j < QJ; j++) {
                    int d = lane + 32 * j;
                    if (d < W) s += q[j] * cds_bf16_f32(row[d]);
                }
                for (int off = 16; off; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
                if (lane == i) my = s * scale;
            }
            float cm = my;
            for (int off = 16; off; off >>= 1) cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, off));
            float mn = fmaxf(m, cm), alpha = expf(m - mn);
            float p = lane < n ? expf(my - mn) : 0.0f, ps = p;
            for (int off = 16; off; off >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, off);
            l = l * alpha + ps;
            m = mn;
            for (int j = 0; j < OJ; j++) o[j] *= alpha;
            for (int i = 0; i < n; i++) {
                float pi = __shfl_sync(0xffffffffu, p, i);
                const uint16_t *row = lat + i * W;
                for (int j = 0; j < OJ; j++) {
                    int d = lane + 32 * j;
                    if (d < R) o[j] += pi * cds_bf16_f32(row[d]);
                }
            }
        }
        __syncthreads();
    }
    if (!active) return;
    if (wk.part < 0) {
        float inv = 1.0f / l;
        for (int j = 0; j < OJ; j++) {
            int d = lane + 32 * j;
            if (d < R) olat[((int64_t)wk.row * H + h) * R + d] = cds_f32_bf16(o[j] * inv);
        }
    } else {
        float *dst = part + ((int64_t)wk.part * H + h) * (R + 2);
        for (int j = 0; j < OJ; j++) {
            int d = lane + 32 * j;
            if (d < R) dst[d] = o[j];
        }
        if (lane == 0) dst[R] = m, dst[R + 1] = l;
    }
}

/* ---- tensor-core kernel for R = 512, P = 64 ---- */

constexpr int TW = 576, TR = 512, TCH = 64;         /* row width, latent width, rows per chunk */
constexpr int TLD = TW + 8, TPLD = TCH + 8;          /* padded smem rows (bf16): conflict-free fragments */
constexpr size_t TC_SMEM = (size_t)(HPC + TCH) * TLD * 2 + (size_t)HPC * TPLD * 2 + 2 * 4 * HPC * 4;

__device__ __forceinline__ void mma_bf16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ uint32_t ld32(const uint16_t *p) { return *(const uint32_t *)p; }
__device__ __forceinline__ uint32_t pack(uint16_t lo, uint16_t hi) { return (uint32_t)lo | ((uint32_t)hi << 16); }

/* 4 warps, 16 heads (rows of Q, S, P, O). Per 64-row chunk: warp w computes S for rows
 * [16w, 16w+16) (36 k-steps over the 576 dims), the heads' chunk max and sum go through
 * shared memory, P (bf16) is shared, and warp w accumulates O's dims [128w, 128w+128).
 * Thread (g = lane/4, t = lane%4) holds heads g and g+8 of every fragment. */
__global__ void __launch_bounds__(128) decode_tc_kernel(uint16_t *olat, float *part, const uint16_t *qabs,
                                                         const uint16_t *cache, int32_t bs,
                                                         const cds_mla_work_t *work, const int32_t *bt,
                                                         int32_t max_blocks, int H, float scale) {
    extern __shared__ __align__(16) uint8_t smem[];
    uint16_t *sQ = (uint16_t *)smem, *sKV = sQ + HPC * TLD, *sP = sKV + TCH * TLD;
    float *red = (float *)(sP + HPC * TPLD); /* [2][4 warps][16 heads]: maxima, then sums */
    int n_hg = (H + HPC - 1) / HPC;
    const cds_mla_work_t wk = work[blockIdx.x / n_hg];
    int h0 = (int)(blockIdx.x % n_hg) * HPC;
    int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane / 4, t = lane % 4;
    for (int i = threadIdx.x; i < HPC * (TW / 8); i += blockDim.x) {
        int r = i / (TW / 8), col = (i % (TW / 8)) * 8;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (h0 + r < H) v = *(const uint4 *)(qabs + ((int64_t)wk.row * H + h0 + r) * TW + col);
        *(uint4 *)(sQ + r * TLD + col) = v;
    }
    float o[16][4];
    for (int j = 0; j < 16; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
    float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.0f, l_hi = 0.0f;
    for (int32_t c0 = wk.start; c0 < wk.end; c0 += TCH) {
        int n = min(TCH, wk.end - c0);
        for (int i = threadIdx.x; i < TCH * (TW / 8); i += blockDim.x) {
            int r = i / (TW / 8), col = (i % (TW / 8)) * 8;
            uint4 v = make_uint4(0, 0, 0, 0);
            if (r < n) v = *(const uint4 *)(cache_row(cache, bt, max_blocks, wk.seq, c0 + r, bs, TW) + col);
            *(uint4 *)(sKV + r * TLD + col) = v;
        }
        __syncthreads();
        float sc[2][4] = {};
        for (int k0 = 0; k0 < TW; k0 += 16) {
            uint32_t a[4] = {ld32(sQ + g * TLD + k0 + 2 * t), ld32(sQ + (g + 8) * TLD + k0 + 2 * t),
                             ld32(sQ + g * TLD + k0 + 8 + 2 * t), ld32(sQ + (g + 8) * TLD + k0 + 8 + 2 * t)};
            for (int nt = 0; nt < 2; nt++) {
                const uint16_t *kr = sKV + (warp * 16 + nt * 8 + g) * TLD + k0 + 2 * t;
                uint32_t b[2] = {ld32(kr), ld32(kr + 8)};
                mma_bf16(sc[nt], a, b);
            }
        }
        float mx_lo = -INFINITY, mx_hi = -INFINITY;
        for (int nt = 0; nt < 2; nt++)
            for (int j = 0; j < 2; j++) {
                bool valid = warp * 16 + nt * 8 + 2 * t + j < n;
                sc[nt][j] = valid ? sc[nt][j] * scale : -INFINITY;
                sc[nt][2 + j] = valid ? sc[nt][2 + j] * scale : -INFINITY;
                mx_lo = fmaxf(mx_lo, sc[nt][j]);
                mx_hi = fmaxf(mx_hi, sc[nt][2 + j]);
            }
        for (int off = 1; off < 4; off <<= 1) {
            mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, off));
            mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, off));
        }
        if (t == 0) red[warp * HPC + g] = mx_lo, red[warp * HPC + g + 8] = mx_hi;
        __syncthreads();
        float cm_lo = red[g], cm_hi = red[g + 8];
        for (int w = 1; w < 4; w++) cm_lo = fmaxf(cm_lo, red[w * HPC + g]), cm_hi = fmaxf(cm_hi, red[w * HPC + g + 8]);
        float mn_lo = fmaxf(m_lo, cm_lo), mn_hi = fmaxf(m_hi, cm_hi);
        float al_lo = expf(m_lo - mn_lo), al_hi = expf(m_hi - mn_hi);
        float sum_lo = 0.0f, sum_hi = 0.0f;
        for (int nt = 0; nt < 2; nt++) {
            float p0 = expf(sc[nt][0] - mn_lo), p1 = expf(sc[nt][1] - mn_lo);
            float p2 = expf(sc[nt][2] - mn_hi), p3 = expf(sc[nt][3] - mn_hi);
            sum_lo += p0 + p1, sum_hi += p2 + p3;
            int col = warp * 16 + nt * 8 + 2 * t;
            *(uint32_t *)(sP + g * TPLD + col) = pack(cds_f32_bf16(p0), cds_f32_bf16(p1));
            *(uint32_t *)(sP + (g + 8) * TPLD + col) = pack(cds_f32_bf16(p2), cds_f32_bf16(p3));
        }
        for (int off = 1; off < 4; off <<= 1) {
            sum_lo += __shfl_xor_sync(0xffffffffu, sum_lo, off);
            sum_hi += __shfl_xor_sync(0xffffffffu, sum_hi, off);
        }
        if (t == 0) red[4 * HPC + warp * HPC + g] = sum_lo, red[4 * HPC + warp * HPC + g + 8] = sum_hi;
        __syncthreads();
        float cs_lo = 0.0f, cs_hi = 0.0f;
        for (int w = 0; w < 4; w++) cs_lo += red[4 * HPC + w * HPC + g], cs_hi += red[4 * HPC + w * HPC + g + 8];
        l_lo = l_lo * al_lo + cs_lo, l_hi = l_hi * al_hi + cs_hi;
        m_lo = mn_lo, m_hi = mn_hi;
        for (int j = 0; j < 16; j++) o[j][0] *= al_lo, o[j][1] *= al_lo, o[j][2] *= al_hi, o[j][3] *= al_hi;
        for (int k0 = 0; k0 < TCH; k0 += 16) {
            uint32_t a[4] = {ld32(sP + g * TPLD + k0 + 2 * t), ld32(sP + (g + 8) * TPLD + k0 + 2 * t),
                             ld32(sP + g * TPLD + k0 + 8 + 2 * t), ld32(sP + (g + 8) * TPLD + k0 + 8 + 2 * t)};
            const uint16_t *v0 = sKV + (k0 + 2 * t) * TLD, *v8 = v0 + 8 * TLD;
            for (int j = 0; j < 16; j++) {
                int dim = warp * 128 + j * 8 + g;
                uint32_t b[2] = {pack(v0[dim], v0[TLD + dim]), pack(v8[dim], v8[TLD + dim])};
                mma_bf16(o[j], a, b);
            }
        }
        __syncthreads(); /* sKV, sP and red are rewritten by the next chunk */
    }
    int hl = h0 + g, hh = h0 + g + 8;
    if (wk.part < 0) {
        float il = 1.0f / l_lo, ih = 1.0f / l_hi;
        for (int j = 0; j < 16; j++) {
            int dim = warp * 128 + j * 8 + 2 * t;
            if (hl < H)
                *(uint32_t *)(olat + ((int64_t)wk.row * H + hl) * TR + dim) =
                    pack(cds_f32_bf16(o[j][0] * il), cds_f32_bf16(o[j][1] * il));
            if (hh < H)
                *(uint32_t *)(olat + ((int64_t)wk.row * H + hh) * TR + dim) =
                    pack(cds_f32_bf16(o[j][2] * ih), cds_f32_bf16(o[j][3] * ih));
        }
    } else {
        float *pl = part + ((int64_t)wk.part * H + hl) * (TR + 2), *ph = part + ((int64_t)wk.part * H + hh) * (TR + 2);
        for (int j = 0; j < 16; j++) {
            int dim = warp * 128 + j * 8 + 2 * t;
            if (hl < H) pl[dim] = o[j][0], pl[dim + 1] = o[j][1];
            if (hh < H) ph[dim] = o[j][2], ph[dim + 1] = o[j][3];
        }
        if (warp == 0 && t == 0) {
            if (hl < H) pl[TR] = m_lo, pl[TR + 1] = l_lo;
            if (hh < H) ph[TR] = m_hi, ph[TR + 1] = l_hi;
        }
    }
}

/* Grid (row, head): merges a split row's pieces. */
__global__ void combine_kernel(uint16_t *olat, const float *part, const int32_t *row_part0,
                               const int32_t *row_nsplit, int H, int R) {
    int64_t t = blockIdx.x;
    int h = blockIdx.y, ns = row_nsplit[t];
    if (ns <= 1) return;
    int p0 = row_part0[t];
    float M = -INFINITY;
    for (int s = 0; s < ns; s++) M = fmaxf(M, part[((int64_t)(p0 + s) * H + h) * (R + 2) + R]);
    float L = 0.0f;
    for (int s = 0; s < ns; s++) {
        const float *ps = part + ((int64_t)(p0 + s) * H + h) * (R + 2);
        L += ps[R + 1] * expf(ps[R] - M);
    }
    for (int d = threadIdx.x; d < R; d += blockDim.x) {
        float acc = 0.0f;
        for (int s = 0; s < ns; s++) {
            const float *ps = part + ((int64_t)(p0 + s) * H + h) * (R + 2);
            acc += ps[d] * expf(ps[R] - M);
        }
        olat[(t * H + h) * R + d] = cds_f32_bf16(acc / L);
    }
}

} // namespace

r1d_status cds_mla_wkvb(cds_t *c, void *d_wkvb, const cds_fp8_weight_t *kv_b, err_t *e) {
    return cds_fp8_dequant(c, d_wkvb, kv_b, e);
}

void cds_mla_dev_free(cds_mla_dev_t *dv) {
    if (dv->mem) (void)cudaFree(dv->mem);
    memset(dv, 0, sizeof *dv);
}

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

r1d_status cds_mla_dev_upload(cds_t *c, cds_mla_dev_t *dv, const cds_mla_plan_t *p, int H, int R, err_t *e) {
    size_t T = (size_t)(p->T ? p->T : 1), B_blocks = 0;
    /* rows of the block table: the largest sequence index + 1 */
    for (int32_t w = 0; w < p->n_work; w++)
        if ((size_t)p->work[w].seq + 1 > B_blocks) B_blocks = (size_t)p->work[w].seq + 1;
    size_t sz[7] = {align256((size_t)(p->n_work ? p->n_work : 1) * sizeof(cds_mla_work_t)),
                    align256(T * 4), align256(T * 4), align256(T * 4), align256(T * 4),
                    align256((B_blocks ? B_blocks : 1) * (size_t)p->max_blocks * 4),
                    align256((size_t)p->n_parts * (size_t)H * (size_t)(R + 2) * 4)};
    size_t need = 0;
    for (int i = 0; i < 7; i++) need += sz[i];
    if (need > dv->cap) {
        CUDA_CHECK(e, cudaStreamSynchronize(c->stream)); /* the old copy may still be read */
        if (dv->mem) (void)cudaFree(dv->mem);
        dv->mem = NULL;
        dv->cap = 0;
        cudaError_t rc = cudaMalloc(&dv->mem, need);
        if (rc != cudaSuccess) {
            (void)cudaGetLastError();
            return ERR(e, R1D_ENOMEM, "MLA plan: cannot allocate %zu bytes of device memory", need);
        }
        dv->cap = need;
    }
    char *b = (char *)dv->mem;
    dv->d_work = (cds_mla_work_t *)b, b += sz[0];
    dv->d_row_len = (int32_t *)b, b += sz[1];
    dv->d_row_seq = (int32_t *)b, b += sz[2];
    dv->d_row_part0 = (int32_t *)b, b += sz[3];
    dv->d_row_nsplit = (int32_t *)b, b += sz[4];
    dv->d_block_table = (int32_t *)b, b += sz[5];
    dv->d_part = (float *)b;
    dv->n_work = p->n_work, dv->n_parts = p->n_parts, dv->max_blocks = p->max_blocks, dv->T = p->T;
    cudaStream_t s = c->stream;
    CUDA_CHECK(e, cudaMemcpyAsync(dv->d_work, p->work, (size_t)p->n_work * sizeof(cds_mla_work_t),
                                  cudaMemcpyHostToDevice, s));
    CUDA_CHECK(e, cudaMemcpyAsync(dv->d_row_len, p->row_len, (size_t)p->T * 4, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(e, cudaMemcpyAsync(dv->d_row_seq, p->row_seq, (size_t)p->T * 4, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(e, cudaMemcpyAsync(dv->d_row_part0, p->row_part0, (size_t)p->T * 4, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(e, cudaMemcpyAsync(dv->d_row_nsplit, p->row_nsplit, (size_t)p->T * 4, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(e, cudaMemcpyAsync(dv->d_block_table, p->block_table, B_blocks * (size_t)p->max_blocks * 4,
                                  cudaMemcpyHostToDevice, s));
    return R1D_OK;
}

r1d_status cds_mla_store(cds_t *c, void *d_cache, int32_t block_size, const void *d_kva, const void *d_norm_w,
                         float eps, const float *d_inv_freq, float mscale, int interleave, const cds_mla_dev_t *dv,
                         int R, int P, err_t *e) {
    if (dv->T == 0) return R1D_OK;
    store_kernel<<<(unsigned)dv->T, 256, 0, c->stream>>>((uint16_t *)d_cache, block_size, (const uint16_t *)d_kva,
                                                        (const uint16_t *)d_norm_w, eps, d_inv_freq, mscale,
                                                        interleave, dv->d_row_len, dv->d_row_seq, dv->d_block_table,
                                                        dv->max_blocks, R, P);
    CDS_LAUNCHED(e, "MLA latent store");
    return R1D_OK;
}

r1d_status cds_mla_absorb_q(cds_t *c, void *d_qabs, const void *d_q, const void *d_wkvb, const cds_mla_dims_t *d,
                            const float *d_inv_freq, float mscale, int interleave, const cds_mla_dev_t *dv, err_t *e) {
    int T = dv->T, H = d->H, Dqk = d->Dn + d->P, W = d->R + d->P;
    if (T == 0) return R1D_OK;
    float one = 1.0f, zero = 0.0f;
    /* per head h: q_abs[:, h, :R] (R x T, column-major) = W_UK[h] (R x Dn) . q_nope[:, h] (Dn x T) */
    CUBLAS_CHECK(e, cublasGemmStridedBatchedEx(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, d->R, T, d->Dn, &one, d_wkvb,
                                               CUDA_R_16BF, d->R, (long long)(d->Dn + d->Dv) * d->R, d_q,
                                               CUDA_R_16BF, H * Dqk, Dqk, &zero, d_qabs, CUDA_R_16BF, H * W, W, H,
                                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    qpe_kernel<<<(unsigned)T, 256, 0, c->stream>>>((uint16_t *)d_qabs, (const uint16_t *)d_q, d_inv_freq, mscale,
                                                  interleave, dv->d_row_len, H, d->Dn, d->P, d->R);
    CDS_LAUNCHED(e, "MLA q_pe rope");
    return R1D_OK;
}

r1d_status cds_mla_decode(cds_t *c, void *d_olat, const void *d_qabs, const void *d_cache, int32_t block_size,
                          const cds_mla_dev_t *dv, const cds_mla_dims_t *d, err_t *e) {
    int W = d->R + d->P;
    if (d->R > RMAX || W > WMAX || (W & 1) || d->H < 1)
        return ERR(e, R1D_EUNSUPPORTED, "MLA decode: kv_lora_rank %d + rope %d: the kernel takes R <= %d, R + P <= %d, even",
                   d->R, d->P, RMAX, WMAX);
    if (dv->n_work == 0) return R1D_OK;
    int64_t n_hg = (d->H + HPC - 1) / HPC, ctas = (int64_t)dv->n_work * n_hg;
    if (ctas > INT32_MAX) return ERR(e, R1D_EINVAL, "MLA decode: %lld CTAs", (long long)ctas);
    if (d->R == TR && W == TW) {
        static int smem_set; /* raising the limit once per process is enough */
        if (!smem_set) {
            CUDA_CHECK(e, cudaFuncSetAttribute(decode_tc_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               (int)TC_SMEM));
            smem_set = 1;
        }
        decode_tc_kernel<<<(unsigned)ctas, 128, TC_SMEM, c->stream>>>((uint16_t *)d_olat, dv->d_part,
                                                                      (const uint16_t *)d_qabs,
                                                                      (const uint16_t *)d_cache, block_size,
                                                                      dv->d_work, dv->d_block_table, dv->max_blocks,
                                                                      d->H, d->softmax_scale);
    } else {
        decode_kernel<<<(unsigned)ctas, HPC * 32, 0, c->stream>>>((uint16_t *)d_olat, dv->d_part,
                                                                  (const uint16_t *)d_qabs, (const uint16_t *)d_cache,
                                                                  block_size, dv->d_work, dv->d_block_table,
                                                                  dv->max_blocks, d->H, d->R, d->P, d->softmax_scale);
    }
    CDS_LAUNCHED(e, "MLA decode");
    if (dv->n_parts > 0) {
        combine_kernel<<<dim3((unsigned)dv->T, (unsigned)d->H), 128, 0, c->stream>>>(
            (uint16_t *)d_olat, dv->d_part, dv->d_row_part0, dv->d_row_nsplit, d->H, d->R);
        CDS_LAUNCHED(e, "MLA split combine");
    }
    return R1D_OK;
}

r1d_status cds_mla_out(cds_t *c, void *d_att, const void *d_olat, const void *d_wkvb, const cds_mla_dims_t *d,
                       int64_t T, err_t *e) {
    if (T == 0) return R1D_OK;
    float one = 1.0f, zero = 0.0f;
    int H = d->H;
    /* per head h: att[:, h] (Dv x T) = W_UV[h]^T-view (Dv x R) . o_lat[:, h] (R x T); W_UV[h] is [Dv][R] row-major */
    const uint16_t *wuv = (const uint16_t *)d_wkvb + (size_t)d->Dn * d->R;
    CUBLAS_CHECK(e, cublasGemmStridedBatchedEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, d->Dv, (int)T, d->R, &one, wuv,
                                               CUDA_R_16BF, d->R, (long long)(d->Dn + d->Dv) * d->R, d_olat,
                                               CUDA_R_16BF, H * d->R, d->R, &zero, d_att, CUDA_R_16BF, H * d->Dv,
                                               d->Dv, H, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return R1D_OK;
}
