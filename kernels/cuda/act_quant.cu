/* Activation quantisation to E4M3 per 1 x 128 tile (kernels/cuda_deepseek.h), alone or
 * fused with the RMSNorm or the SwiGLU before it. One warp per tile: each lane holds 4
 * values, the warp's max gives the tile's amax, s = max(amax, 1e-4) / 448 and
 * q = e4m3(x / s) with IEEE division and core/dtype.c's rounding: bit-exact with
 * cds_act_quant_ref and the CPU backend's emulation. Rows M..Mpad-1 (cuBLASLt's padding)
 * are written as zeros with scale 0. */
#include "kernels/cuda/cds_internal.h"

namespace {

constexpr int WARPS = 8; /* tiles per block */

struct tile_out {
    uint8_t *q;
    float *s;
    int64_t s_row, s_col, M, Mpad, K;
};

/* Quantises the tile (row m, tile kb) whose lane values are v[4] (columns kb*128 + lane*4 + j). */
__device__ __forceinline__ void quant_tile(const tile_out &o, int64_t m, int64_t kb, const float v[4], int n) {
    int lane = threadIdx.x & 31;
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(v[j]));
    for (int off = 16; off; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
    float s = cds_act_scale(amax);
    uint8_t *dst = o.q + m * o.K + kb * CDS_BLOCK + lane * 4;
    for (int j = 0; j < n; j++) dst[j] = cds_e4m3_encode(__fdiv_rn(v[j], s));
    if (lane == 0) o.s[m * o.s_row + kb * o.s_col] = s;
}

/* Columns of this lane in tile kb: n of them (0..4), from kb*128 + lane*4. */
__device__ __forceinline__ int lane_cols(int64_t K, int64_t kb) {
    int64_t c0 = kb * CDS_BLOCK + (threadIdx.x & 31) * 4, n = K - c0;
    return n <= 0 ? 0 : (n >= 4 ? 4 : (int)n);
}

/* true when this warp's tile is a padding row: written as zeros here */
__device__ __forceinline__ bool pad_tile(const tile_out &o, int64_t m, int64_t kb) {
    if (m < o.M) return false;
    int n = lane_cols(o.K, kb);
    uint8_t *dst = o.q + m * o.K + kb * CDS_BLOCK + (threadIdx.x & 31) * 4;
    for (int j = 0; j < n; j++) dst[j] = 0;
    if ((threadIdx.x & 31) == 0) o.s[m * o.s_row + kb * o.s_col] = 0.0f;
    return true;
}

template <typename T> __device__ __forceinline__ float load(const T *p, int64_t i);
template <> __device__ __forceinline__ float load<float>(const float *p, int64_t i) { return p[i]; }
template <> __device__ __forceinline__ float load<uint16_t>(const uint16_t *p, int64_t i) { return cds_bf16_f32(p[i]); }

template <typename T>
__global__ void act_quant_kernel(tile_out o, const T *__restrict__ x) {
    int64_t kbs = (o.K + CDS_BLOCK - 1) / CDS_BLOCK;
    int64_t tile = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    if (tile >= o.Mpad * kbs) return;
    int64_t m = tile / kbs, kb = tile % kbs;
    if (pad_tile(o, m, kb)) return;
    int n = lane_cols(o.K, kb);
    int64_t c0 = m * o.K + kb * CDS_BLOCK + (threadIdx.x & 31) * 4;
    float v[4];
    for (int j = 0; j < n; j++) v[j] = load(x, c0 + j);
    quant_tile(o, m, kb, v, n);
}

/* One block per row: the row's inverse rms, then its tiles, a warp each. */
__global__ void rmsnorm_quant_kernel(tile_out o, uint16_t *__restrict__ y, const uint16_t *__restrict__ x,
                                     const uint16_t *__restrict__ w, float eps) {
    int64_t m = blockIdx.x, kbs = (o.K + CDS_BLOCK - 1) / CDS_BLOCK;
    int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    if (m >= o.M) {
        for (int64_t kb = warp; kb < kbs; kb += WARPS) pad_tile(o, m, kb);
        return;
    }
    const uint16_t *xr = x + m * o.K;
    __shared__ float part[WARPS];
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < o.K; i += blockDim.x) {
        float v = cds_bf16_f32(xr[i]);
        ss += v * v;
    }
    for (int off = 16; off; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
    if (lane == 0) part[warp] = ss;
    __syncthreads();
    float tot = 0.0f;
    for (int i = 0; i < WARPS; i++) tot += part[i];
    float r = 1.0f / sqrtf(tot / (float)o.K + eps);
    for (int64_t kb = warp; kb < kbs; kb += WARPS) {
        int n = lane_cols(o.K, kb);
        int64_t c0 = kb * CDS_BLOCK + lane * 4;
        float v[4];
        for (int j = 0; j < n; j++) {
            /* normalise in f32, cast, multiply by the weight, cast: the bf16 value the
             * unfused rmsnorm would store */
            float nb = cds_bf16_f32(cds_f32_bf16(cds_bf16_f32(xr[c0 + j]) * r));
            uint16_t yb = cds_f32_bf16(cds_bf16_f32(w[c0 + j]) * nb);
            if (y) y[m * o.K + c0 + j] = yb;
            v[j] = cds_bf16_f32(yb);
        }
        quant_tile(o, m, kb, v, n);
    }
}

__global__ void swiglu_quant_kernel(tile_out o, const uint16_t *__restrict__ g, const uint16_t *__restrict__ u,
                                    int64_t ld) {
    int64_t kbs = (o.K + CDS_BLOCK - 1) / CDS_BLOCK;
    int64_t tile = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    if (tile >= o.Mpad * kbs) return;
    int64_t m = tile / kbs, kb = tile % kbs;
    if (pad_tile(o, m, kb)) return;
    int n = lane_cols(o.K, kb);
    int64_t c0 = kb * CDS_BLOCK + (threadIdx.x & 31) * 4;
    float v[4];
    for (int j = 0; j < n; j++) {
        float gv = cds_bf16_f32(g[m * ld + c0 + j]), uv = cds_bf16_f32(u[m * ld + c0 + j]);
        v[j] = gv / (1.0f + expf(-gv)) * uv;
    }
    quant_tile(o, m, kb, v, n);
}

r1d_status check_args(int64_t M, int64_t Mpad, int64_t K, err_t *e) {
    if (M < 0 || Mpad < M || K < 1)
        return ERR(e, R1D_EINVAL, "FP8 activation quantisation: M=%lld Mpad=%lld K=%lld: expected 0 <= M <= Mpad, K >= 1",
                   (long long)M, (long long)Mpad, (long long)K);
    return R1D_OK;
}

unsigned tile_blocks(int64_t Mpad, int64_t K) {
    int64_t tiles = Mpad * ((K + CDS_BLOCK - 1) / CDS_BLOCK);
    return (unsigned)((tiles + WARPS - 1) / WARPS);
}

} // namespace

r1d_status cds_act_quant(cds_t *c, uint8_t *d_q, float *d_s, int64_t s_row, int64_t s_col, const void *d_x,
                         dtype_t xt, int64_t M, int64_t Mpad, int64_t K, err_t *e) {
    TRY(check_args(M, Mpad, K, e));
    if (Mpad == 0) return R1D_OK;
    tile_out o = {d_q, d_s, s_row, s_col, M, Mpad, K};
    if (xt == DT_F32)
        act_quant_kernel<float><<<tile_blocks(Mpad, K), WARPS * 32, 0, c->stream>>>(o, (const float *)d_x);
    else if (xt == DT_BF16)
        act_quant_kernel<uint16_t><<<tile_blocks(Mpad, K), WARPS * 32, 0, c->stream>>>(o, (const uint16_t *)d_x);
    else
        return ERR(e, R1D_EUNSUPPORTED, "FP8 activation quantisation of %s: expected F32 or BF16", dt_name(xt));
    CDS_LAUNCHED(e, "FP8 activation quantisation");
    return R1D_OK;
}

r1d_status cds_rmsnorm_quant(cds_t *c, uint8_t *d_q, float *d_s, int64_t s_row, int64_t s_col, void *d_y,
                             const void *d_x, const void *d_w, float eps, int64_t M, int64_t Mpad, int64_t K,
                             err_t *e) {
    TRY(check_args(M, Mpad, K, e));
    if (Mpad == 0) return R1D_OK;
    tile_out o = {d_q, d_s, s_row, s_col, M, Mpad, K};
    rmsnorm_quant_kernel<<<(unsigned)Mpad, WARPS * 32, 0, c->stream>>>(o, (uint16_t *)d_y, (const uint16_t *)d_x,
                                                                      (const uint16_t *)d_w, eps);
    CDS_LAUNCHED(e, "RMSNorm + FP8 quantisation");
    return R1D_OK;
}

r1d_status cds_swiglu_quant(cds_t *c, uint8_t *d_q, float *d_s, int64_t s_row, int64_t s_col, const void *d_gate,
                            const void *d_up, int64_t ld, int64_t M, int64_t Mpad, int64_t F, err_t *e) {
    TRY(check_args(M, Mpad, F, e));
    if (ld < F) return ERR(e, R1D_EINVAL, "SwiGLU + FP8 quantisation: row stride %lld < width %lld", (long long)ld,
                           (long long)F);
    if (Mpad == 0) return R1D_OK;
    tile_out o = {d_q, d_s, s_row, s_col, M, Mpad, F};
    swiglu_quant_kernel<<<tile_blocks(Mpad, F), WARPS * 32, 0, c->stream>>>(o, (const uint16_t *)d_gate,
                                                                           (const uint16_t *)d_up, ld);
    CDS_LAUNCHED(e, "SwiGLU + FP8 quantisation");
    return R1D_OK;
}
