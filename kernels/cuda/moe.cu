/* DeepSeekMoE on the GPU (kernels/cuda_deepseek.h): the noaux_tc router, the
 * permutation of (token, k) pairs by expert, the grouped FP8 expert GEMM, the weighted
 * combine. Nothing here waits for the host: expert sizes live in device memory and the
 * GEMM's CTAs read their (expert, rows) tile from the device-built list.
 *
 * Why a grouped kernel rather than cuBLASLt: cuBLASLt 13.1 has no grouped GEMM, and a
 * per-expert loop of block-scaled cuBLASLt calls needs each expert's row count on the
 * host at launch (one device-to-host copy and a stream synchronisation per layer), or
 * launches sized for the worst case (every expert over all T tokens: 256x the work of a
 * prefill). The grouped kernel runs FP8 tensor-core MMAs (mma.sync m16n8k32 e4m3,
 * f32 accumulation) with DeepSeek's promotion: each 128-wide K block is accumulated
 * apart and added to the f32 total times (activation scale x weight scale). */
#include "kernels/cuda/cds_internal.h"

namespace {

/* ---- router: one thread per token ---- */

__global__ void route_kernel(int32_t *ids, float *w, const float *logits, const float *bias, cds_route_cfg_t rc,
                             int64_t T) {
    int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= T) return;
    cds_route_one(&rc, logits + t * rc.E, bias, ids + t * rc.K, w + t * rc.K);
}

/* ---- plan ---- */

constexpr int PLAN_THREADS = 256;

/* Exclusive prefix of `flag` over the block's threads (in thread order); *total = the sum. */
__device__ int block_prefix(int flag, int *total) {
    __shared__ int warp_tot[PLAN_THREADS / 32];
    int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
    unsigned ball = __ballot_sync(0xffffffffu, flag);
    int before = __popc(ball & ((1u << lane) - 1u));
    if (lane == 0) warp_tot[warp] = __popc(ball);
    __syncthreads();
    int base = 0, all = 0;
    for (int i = 0; i < PLAN_THREADS / 32; i++) {
        if (i < warp) base += warp_tot[i];
        all += warp_tot[i];
    }
    __syncthreads(); /* warp_tot is reused by the next call */
    *total = all;
    return base + before;
}

/* Block e: off[e] = pairs routed below e; rows off[e] + (rank among e's pairs, in pair order). */
__global__ void plan_rows_kernel(int32_t *off, int32_t *row_pair, int32_t *pair_row, const int32_t *ids, int64_t TK,
                                 int E) {
    int e = blockIdx.x;
    int below = 0;
    for (int64_t i = threadIdx.x; i < TK; i += PLAN_THREADS) below += ids[i] < e;
    for (int o = 16; o; o >>= 1) below += __shfl_xor_sync(0xffffffffu, below, o);
    __shared__ int part[PLAN_THREADS / 32];
    if ((threadIdx.x & 31) == 0) part[threadIdx.x / 32] = below;
    __syncthreads();
    int base = 0;
    for (int i = 0; i < PLAN_THREADS / 32; i++) base += part[i];
    int n = 0;
    for (int64_t c0 = 0; c0 < TK; c0 += PLAN_THREADS) {
        int64_t i = c0 + threadIdx.x;
        int flag = i < TK && ids[i] == e, tot;
        int r = base + n + block_prefix(flag, &tot);
        if (flag) {
            row_pair[r] = (int32_t)i;
            pair_row[i] = r;
        }
        n += tot;
    }
    if (threadIdx.x == 0) {
        off[e] = base;
        if (e == E - 1) off[E] = base + n;
    }
}

/* One block: the tile list over experts [x0, x1). */
__global__ void plan_tiles_kernel(int32_t *tiles, int32_t *n_tiles, const int32_t *off, int x0, int x1, int BM) {
    __shared__ int scan[CDS_MAX_EXPERTS];
    int x = x0 + (int)threadIdx.x, n = x < x1 ? (off[x + 1] - off[x] + BM - 1) / BM : 0;
    scan[threadIdx.x] = n;
    __syncthreads();
    for (int d = 1; d < (int)blockDim.x; d <<= 1) { /* inclusive Hillis-Steele scan */
        int v = threadIdx.x >= (unsigned)d ? scan[threadIdx.x - d] : 0;
        __syncthreads();
        scan[threadIdx.x] += v;
        __syncthreads();
    }
    int first = scan[threadIdx.x] - n;
    for (int j = 0; j < n; j++) {
        tiles[2 * (first + j)] = x;
        tiles[2 * (first + j) + 1] = off[x] + j * BM;
    }
    if (threadIdx.x == blockDim.x - 1) *n_tiles = scan[threadIdx.x];
}

/* ---- gather ---- */

__global__ void gather_kernel(uint8_t *xp, float *sp, const uint8_t *xq, const float *sq, const int32_t *row_pair,
                              int K, int64_t C) {
    int64_t r = blockIdx.x, t = row_pair[r] / K, kbs = (C + CDS_BLOCK - 1) / CDS_BLOCK;
    const uint8_t *src = xq + t * C;
    uint8_t *dst = xp + r * C;
    if ((C & 15) == 0) {
        for (int64_t i = threadIdx.x; i < C / 16; i += blockDim.x) ((uint4 *)dst)[i] = ((const uint4 *)src)[i];
    } else {
        for (int64_t i = threadIdx.x; i < C; i += blockDim.x) dst[i] = src[i];
    }
    for (int64_t i = threadIdx.x; i < kbs; i += blockDim.x) sp[r * kbs + i] = sq[t * kbs + i];
}

/* ---- grouped FP8 GEMM ---- */

constexpr int BM = CDS_MOE_BM, BN = 128, BK = 128, ROW = BK + 16; /* padded smem rows: conflict-free fragments */

__device__ __forceinline__ void mma_e4m3(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* Copies rows [0, nrows) x columns [k0, k0 + BK) of src (row stride K) into smem rows
 * of ROW bytes; anything past `valid_rows` or K is zero. */
__device__ __forceinline__ void load_tile(uint8_t *s, const uint8_t *src, int nrows, int valid_rows, int64_t K,
                                          int64_t k0) {
    const int chunks = nrows * (BK / 16);
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
        int r = c / (BK / 16), col = (c % (BK / 16)) * 16;
        uint4 v = make_uint4(0, 0, 0, 0);
        int64_t k = k0 + col;
        if (r < valid_rows && k < K) {
            const uint8_t *p = src + (int64_t)r * K + k;
            if ((K & 15) == 0) {
                v = *(const uint4 *)p; /* k + 16 <= K since both are multiples of 16 */
            } else {
                uint8_t b[16];
                for (int j = 0; j < 16; j++) b[j] = k + j < K ? p[j] : 0;
                memcpy(&v, b, 16);
            }
        }
        *(uint4 *)(s + r * ROW + col) = v;
    }
}

__global__ void __launch_bounds__(128) moe_gemm_kernel(uint16_t *__restrict__ y, const uint8_t *__restrict__ xp,
                                                       const float *__restrict__ sp, const uint8_t *const *w,
                                                       const float *const *ws, const int32_t *__restrict__ tiles,
                                                       const int32_t *__restrict__ n_tiles,
                                                       const int32_t *__restrict__ off, int64_t N, int64_t K) {
    if ((int)blockIdx.y >= *n_tiles) return;
    __shared__ __align__(16) uint8_t sA[BM * ROW];
    __shared__ __align__(16) uint8_t sB[BN * ROW];
    int e = tiles[2 * blockIdx.y], row0 = tiles[2 * blockIdx.y + 1];
    int rows = min(BM, off[e + 1] - row0);
    int64_t n0 = (int64_t)blockIdx.x * BN;
    int ncols = (int)min((int64_t)BN, N - n0);
    int64_t kbs = (K + BK - 1) / BK, ld = (kbs + 3) / 4 * 4;
    const uint8_t *W = w[e] + n0 * K;
    const float *WS = ws[e] + (n0 / CDS_BLOCK) * ld;
    int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane / 4, tig = lane % 4;
    float acc[2][4][4] = {};
    for (int64_t kb = 0; kb < kbs; kb++) {
        load_tile(sA, xp + (int64_t)row0 * K, BM, rows, K, kb * BK);
        load_tile(sB, W, BN, ncols, K, kb * BK);
        __syncthreads();
        float part[2][4][4] = {};
        for (int ks = 0; ks < BK / 32; ks++) {
            uint32_t a[2][4], b[4][2];
            for (int mt = 0; mt < 2; mt++) {
                const uint8_t *pa = sA + (mt * 16 + g) * ROW + ks * 32 + tig * 4;
                a[mt][0] = *(const uint32_t *)pa;
                a[mt][1] = *(const uint32_t *)(pa + 8 * ROW);
                a[mt][2] = *(const uint32_t *)(pa + 16);
                a[mt][3] = *(const uint32_t *)(pa + 8 * ROW + 16);
            }
            for (int nt = 0; nt < 4; nt++) {
                const uint8_t *pb = sB + (warp * 32 + nt * 8 + g) * ROW + ks * 32 + tig * 4;
                b[nt][0] = *(const uint32_t *)pb;
                b[nt][1] = *(const uint32_t *)(pb + 16);
            }
            for (int mt = 0; mt < 2; mt++)
                for (int nt = 0; nt < 4; nt++) mma_e4m3(part[mt][nt], a[mt], b[nt]);
        }
        /* promotion: this K block's sums times its scales into the f32 totals */
        float sw = WS[kb];
        for (int mt = 0; mt < 2; mt++) {
            int r_lo = mt * 16 + g, r_hi = r_lo + 8;
            float s_lo = r_lo < rows ? sp[(int64_t)(row0 + r_lo) * kbs + kb] * sw : 0.0f;
            float s_hi = r_hi < rows ? sp[(int64_t)(row0 + r_hi) * kbs + kb] * sw : 0.0f;
            for (int nt = 0; nt < 4; nt++) {
                acc[mt][nt][0] += part[mt][nt][0] * s_lo;
                acc[mt][nt][1] += part[mt][nt][1] * s_lo;
                acc[mt][nt][2] += part[mt][nt][2] * s_hi;
                acc[mt][nt][3] += part[mt][nt][3] * s_hi;
            }
        }
        __syncthreads();
    }
    for (int mt = 0; mt < 2; mt++)
        for (int nt = 0; nt < 4; nt++)
            for (int h = 0; h < 2; h++) {
                int r = mt * 16 + g + 8 * h;
                int col = warp * 32 + nt * 8 + tig * 2;
                if (r >= rows) continue;
                uint16_t *dst = y + (int64_t)(row0 + r) * N + n0 + col;
                if (col < ncols) dst[0] = cds_f32_bf16(acc[mt][nt][2 * h]);
                if (col + 1 < ncols) dst[1] = cds_f32_bf16(acc[mt][nt][2 * h + 1]);
            }
}

/* ---- combine ---- */

template <typename O>
__global__ void combine_kernel(O *out, const uint16_t *y, const int32_t *ids, const float *w, const int32_t *pair_row,
                               const uint16_t *shared, int K, int64_t C, int x0, int x1) {
    int64_t t = blockIdx.x;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        float s = 0.0f;
        for (int k = 0; k < K; k++) {
            int32_t x = ids[t * K + k];
            if (x < x0 || x >= x1) continue;
            s += w[t * K + k] * cds_bf16_f32(y[(int64_t)pair_row[t * K + k] * C + c]);
        }
        if (shared) s += cds_bf16_f32(shared[t * C + c]);
        if constexpr (sizeof(O) == 4) out[t * C + c] = s;
        else out[t * C + c] = cds_f32_bf16(s);
    }
}

} // namespace

r1d_status cds_moe_route(cds_t *c, int32_t *d_ids, float *d_w, const float *d_logits, const float *d_bias,
                         const cds_route_cfg_t *rc, int64_t T, err_t *e) {
    if (T == 0) return R1D_OK;
    if (rc->E > CDS_MAX_EXPERTS || rc->G > CDS_MAX_GROUPS || rc->K > CDS_MAX_TOPK || rc->G < 1 || rc->E % rc->G)
        return ERR(e, R1D_EINVAL, "MoE router: E=%d G=%d K=%d outside the device router's bounds", rc->E, rc->G, rc->K);
    route_kernel<<<cds_blocks(T, 128, INT32_MAX), 128, 0, c->stream>>>(d_ids, d_w, d_logits, d_bias, *rc, T);
    CDS_LAUNCHED(e, "MoE router");
    return R1D_OK;
}

r1d_status cds_moe_plan(cds_t *c, const cds_moe_dev_plan_t *p, const int32_t *d_ids, int64_t T, int K, int E, int x0,
                        int x1, err_t *e) {
    if (E < 1 || E > CDS_MAX_EXPERTS || x0 < 0 || x1 > E || x0 > x1 || K < 1)
        return ERR(e, R1D_EINVAL, "MoE plan: E=%d experts [%d, %d) K=%d: bad sizes", E, x0, x1, K);
    if (p->max_tiles < cds_moe_max_tiles(T * K, E, CDS_MOE_BM))
        return ERR(e, R1D_EINVAL, "MoE plan: room for %lld tiles, %lld pairs may need %lld", (long long)p->max_tiles,
                   (long long)(T * K), (long long)cds_moe_max_tiles(T * K, E, CDS_MOE_BM));
    plan_rows_kernel<<<E, PLAN_THREADS, 0, c->stream>>>(p->d_off, p->d_row_pair, p->d_pair_row, d_ids, T * K, E);
    CDS_LAUNCHED(e, "MoE plan (rows)");
    unsigned th = (unsigned)((x1 - x0 + 31) / 32 * 32);
    plan_tiles_kernel<<<1, th ? th : 32, 0, c->stream>>>(p->d_tiles, p->d_n_tiles, p->d_off, x0, x1, CDS_MOE_BM);
    CDS_LAUNCHED(e, "MoE plan (tiles)");
    return R1D_OK;
}

r1d_status cds_moe_gather(cds_t *c, uint8_t *d_xp, float *d_sp, const uint8_t *d_xq, const float *d_sq,
                          const cds_moe_dev_plan_t *p, int64_t TK, int K, int64_t C, err_t *e) {
    if (TK == 0) return R1D_OK;
    gather_kernel<<<(unsigned)TK, 128, 0, c->stream>>>(d_xp, d_sp, d_xq, d_sq, p->d_row_pair, K, C);
    CDS_LAUNCHED(e, "MoE gather");
    return R1D_OK;
}

r1d_status cds_moe_gemm(cds_t *c, void *d_y, const uint8_t *d_xp, const float *d_sp, const uint8_t *const *d_w,
                        const float *const *d_ws, const cds_moe_dev_plan_t *p, int64_t TK, int64_t N, int64_t Kd,
                        err_t *e) {
    if (TK == 0) return R1D_OK;
    if (N < 1 || Kd < 1) return ERR(e, R1D_EINVAL, "MoE GEMM: N=%lld K=%lld", (long long)N, (long long)Kd);
    if (p->max_tiles > 65535)
        return ERR(e, R1D_EUNSUPPORTED, "MoE GEMM: %lld tiles exceed the grid's 65535 rows: split the batch",
                   (long long)p->max_tiles);
    dim3 grid((unsigned)((N + BN - 1) / BN), (unsigned)p->max_tiles);
    moe_gemm_kernel<<<grid, 128, 0, c->stream>>>((uint16_t *)d_y, d_xp, d_sp, d_w, d_ws, p->d_tiles, p->d_n_tiles,
                                                 p->d_off, N, Kd);
    CDS_LAUNCHED(e, "MoE grouped FP8 GEMM");
    return R1D_OK;
}

r1d_status cds_moe_combine(cds_t *c, void *d_out, dtype_t ot, const void *d_y, const int32_t *d_ids,
                           const float *d_w, const cds_moe_dev_plan_t *p, const void *d_shared, int64_t T, int K,
                           int64_t C, int x0, int x1, err_t *e) {
    if (T == 0) return R1D_OK;
    if (ot == DT_F32)
        combine_kernel<float><<<(unsigned)T, 256, 0, c->stream>>>((float *)d_out, (const uint16_t *)d_y, d_ids, d_w,
                                                                  p->d_pair_row, (const uint16_t *)d_shared, K, C,
                                                                  x0, x1);
    else if (ot == DT_BF16)
        combine_kernel<uint16_t><<<(unsigned)T, 256, 0, c->stream>>>((uint16_t *)d_out, (const uint16_t *)d_y, d_ids,
                                                                     d_w, p->d_pair_row, (const uint16_t *)d_shared,
                                                                     K, C, x0, x1);
    else
        return ERR(e, R1D_EUNSUPPORTED, "MoE combine into %s: expected F32 or BF16", dt_name(ot));
    CDS_LAUNCHED(e, "MoE combine");
    return R1D_OK;
}
