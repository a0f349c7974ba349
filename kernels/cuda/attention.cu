/* Paged KV cache and causal GQA attention on the GPU (bf16 cache and activations, f32
 * softmax statistics). One plan per step (kernels/cuda_plan.h) lives in device memory:
 * the kernels read page tables, token slots, tiles and decode rows from it, so a captured
 * CUDA graph stays valid when the plan is re-uploaded with new contexts.
 *   prefill: flash-style, one CTA per (64-query tile, head); K/V tiles of 64 keys are
 *            gathered from the pages into shared memory; S = QK^T and O += PV on the tensor
 *            cores (WMMA bf16 -> f32); online softmax per row, so no [T x T] matrix exists.
 *   decode:  one CTA per (row, kv head, chunk of <= 8 query heads, split of the keys):
 *            K and V are read once for all query heads of a group; long contexts are split
 *            across CTAs (split-K) and merged by the combine kernel. */
#include <cuda_bf16.h>
#include <math.h>
#include <mma.h>

#include "kernels/cuda/ops_cuda.h"

using namespace nvcuda;
typedef __nv_bfloat16 bf16;

static_assert(sizeof(cplan_attn_t) <= PLAN_HEADER_WORDS * sizeof(int32_t), "plan header");

namespace {

struct plan_view {
    const cplan_attn_t *h;
    const int32_t *w;
    __device__ explicit plan_view(const int32_t *p) : h((const cplan_attn_t *)p), w(p + PLAN_HEADER_WORDS) {}
};

__device__ __forceinline__ size_t cache_row(const int32_t *pages, int32_t pos, int bs, int Hkv, int kvh, int D) {
    return (((size_t)pages[pos / bs] * bs + pos % bs) * Hkv + kvh) * (size_t)D;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Copies row[0..D) (NULL: zeros) into dst[0..D16), zero-padding; 16-byte chunks when D % 8 == 0.
 * Threads `lane` of `width` share the row. */
__device__ __forceinline__ void copy_row(bf16 *dst, const bf16 *row, int D, int D16, int lane, int width) {
    if (row && (D & 7) == 0) {
        for (int c = lane * 8; c < D16; c += width * 8) {
            uint4 v = c < D ? *(const uint4 *)(row + c) : make_uint4(0, 0, 0, 0);
            *(uint4 *)(dst + c) = v;
        }
    } else {
        for (int c = lane; c < D16; c += width) dst[c] = (row && c < D) ? row[c] : __float2bfloat16(0.0f);
    }
}

__global__ void kv_store_kernel(bf16 *__restrict__ kc, bf16 *__restrict__ vc, const bf16 *__restrict__ k,
                                const bf16 *__restrict__ v, const int32_t *__restrict__ plan, int Hkv, int D) {
    plan_view P(plan);
    const int32_t *slot = P.w + P.h->off_slot;
    int64_t row = (int64_t)Hkv * D, n = (int64_t)P.h->T * row;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t t = i / row, r = i - t * row;
        size_t at = (size_t)slot[t] * (size_t)row + (size_t)r;
        kc[at] = k[i];
        vc[at] = v[i];
    }
}

/* grid (n_tiles, H), 128 threads = 4 warps of 16 query rows each. */
__global__ void __launch_bounds__(128) prefill_kernel(bf16 *__restrict__ out, const bf16 *__restrict__ q,
                                                      const bf16 *__restrict__ kc, const bf16 *__restrict__ vc,
                                                      const int32_t *__restrict__ plan, cplan_prefill_t L, int H,
                                                      int Hkv, int D, int bs, float scale) {
    extern __shared__ __align__(128) unsigned char sm[];
    plan_view P(plan);
    const int32_t *tile = P.w + P.h->off_tiles + 2 * blockIdx.x;
    const int32_t *sq = P.w + P.h->off_seq + 4 * tile[0];
    const int32_t *pages = P.w + P.h->off_pages + sq[3];
    int q0 = tile[1], n_new = sq[0], n_ctx = sq[1], t0 = sq[2], p0 = n_ctx - n_new;
    int h = blockIdx.y, kvh = h / (H / Hkv);
    int rows = min(CPLAN_TILE_Q, n_new - q0), n_keys = p0 + q0 + rows;
    int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, D16 = L.D16;
    bf16 *Qs = (bf16 *)(sm + L.off_q), *Ks = (bf16 *)(sm + L.off_k), *Vs = (bf16 *)(sm + L.off_v);
    bf16 *Ps = (bf16 *)(sm + L.off_p);
    float *Ss = (float *)(sm + L.off_s), *Os = (float *)(sm + L.off_o);
    float *Ms = (float *)(sm + L.off_m), *Ls = (float *)(sm + L.off_l), *As = (float *)(sm + L.off_a);

    /* 8 threads per row: Q rows of this tile, zero rows past the sequence */
    for (int r = tid >> 3; r < CPLAN_TILE_Q; r += 16)
        copy_row(Qs + r * L.ld_h, r < rows ? q + ((size_t)(t0 + q0 + r) * H + h) * D : nullptr, D, D16, tid & 7, 8);
    for (int i = tid; i < CPLAN_TILE_Q * D16; i += 128) Os[(i / D16) * L.ld_o + i % D16] = 0.0f;
    if (tid < CPLAN_TILE_Q) Ms[tid] = -INFINITY, Ls[tid] = 0.0f;
    __syncthreads();

    int r0 = warp * 16;
    for (int kt0 = 0; kt0 < n_keys; kt0 += CPLAN_TILE_K) {
        for (int j = tid >> 3; j < CPLAN_TILE_K; j += 16) {
            int kp = kt0 + j;
            size_t at = kp < n_keys ? cache_row(pages, kp, bs, Hkv, kvh, D) : 0;
            copy_row(Ks + j * L.ld_h, kp < n_keys ? kc + at : nullptr, D, D16, tid & 7, 8);
            copy_row(Vs + j * L.ld_h, kp < n_keys ? vc + at : nullptr, D, D16, tid & 7, 8);
        }
        __syncthreads();

        /* S[16 rows of this warp][64 keys] = Q K^T */
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[CPLAN_TILE_K / 16];
#pragma unroll
        for (int n = 0; n < CPLAN_TILE_K / 16; n++) wmma::fill_fragment(acc[n], 0.0f);
        for (int kk = 0; kk < D16; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
            wmma::load_matrix_sync(a, Qs + r0 * L.ld_h + kk, L.ld_h);
#pragma unroll
            for (int n = 0; n < CPLAN_TILE_K / 16; n++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
                wmma::load_matrix_sync(b, Ks + n * 16 * L.ld_h + kk, L.ld_h);
                wmma::mma_sync(acc[n], a, b, acc[n]);
            }
        }
#pragma unroll
        for (int n = 0; n < CPLAN_TILE_K / 16; n++)
            wmma::store_matrix_sync(Ss + r0 * L.ld_s + n * 16, acc[n], L.ld_s, wmma::mem_row_major);
        __syncwarp();

        /* online softmax of each row in f32; P goes to the tensor cores as bf16 */
        for (int r = r0; r < r0 + 16; r++) {
            int qpos = p0 + q0 + r, k0 = kt0 + lane, k1 = kt0 + lane + 32;
            float s0 = (k0 <= qpos && k0 < n_keys) ? Ss[r * L.ld_s + lane] * scale : -INFINITY;
            float s1 = (k1 <= qpos && k1 < n_keys) ? Ss[r * L.ld_s + lane + 32] * scale : -INFINITY;
            float m_old = Ms[r], m_new = fmaxf(m_old, warp_max(fmaxf(s0, s1)));
            float e0 = m_new == -INFINITY ? 0.0f : expf(s0 - m_new);
            float e1 = m_new == -INFINITY ? 0.0f : expf(s1 - m_new);
            float alpha = m_old == -INFINITY ? 0.0f : expf(m_old - m_new);
            float sum = warp_sum(e0 + e1);
            Ps[r * L.ld_p + lane] = __float2bfloat16(e0);
            Ps[r * L.ld_p + lane + 32] = __float2bfloat16(e1);
            if (lane == 0) {
                Ms[r] = m_new;
                Ls[r] = Ls[r] * alpha + sum;
                As[r] = alpha;
            }
        }
        __syncwarp();
        for (int i = lane; i < 16 * D16; i += 32) Os[(r0 + i / D16) * L.ld_o + i % D16] *= As[r0 + i / D16];
        __syncwarp();

        /* O[16 rows][D16] += P V */
        for (int n0 = 0; n0 < D16; n0 += 16) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> o;
            wmma::load_matrix_sync(o, Os + r0 * L.ld_o + n0, L.ld_o, wmma::mem_row_major);
#pragma unroll
            for (int kk = 0; kk < CPLAN_TILE_K; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> b;
                wmma::load_matrix_sync(a, Ps + r0 * L.ld_p + kk, L.ld_p);
                wmma::load_matrix_sync(b, Vs + kk * L.ld_h + n0, L.ld_h);
                wmma::mma_sync(o, a, b, o);
            }
            wmma::store_matrix_sync(Os + r0 * L.ld_o + n0, o, L.ld_o, wmma::mem_row_major);
        }
        __syncthreads(); /* K/V tiles are overwritten next */
    }
    for (int i = tid; i < rows * D; i += 128) {
        int r = i / D, d = i - r * D;
        out[((size_t)(t0 + q0 + r) * H + h) * D + d] = __float2bfloat16(Os[r * L.ld_o + d] / Ls[r]);
    }
}

/* grid (n_splits, Hkv * head chunks, n_dec), 128 threads. */
__global__ void __launch_bounds__(128) decode_kernel(bf16 *__restrict__ out, float *__restrict__ part,
                                                     const bf16 *__restrict__ q, const bf16 *__restrict__ kc,
                                                     const bf16 *__restrict__ vc, const int32_t *__restrict__ plan,
                                                     int H, int Hkv, int D, int bs, float scale) {
    constexpr int G = CPLAN_GROUP_MAX;
    __shared__ float qs[G][CPLAN_HEAD_DIM_MAX];
    __shared__ float sc[G][CPLAN_SPLIT_MAX];
    __shared__ size_t rowoff[CPLAN_SPLIT_MAX];
    __shared__ float stat[G][2];
    plan_view P(plan);
    int n_splits = P.h->n_splits, split_len = P.h->split_len, split = blockIdx.x;
    int chunks = (H / Hkv + G - 1) / G, kvh = blockIdx.y / chunks, hc = blockIdx.y % chunks;
    int row = blockIdx.z;
    const int32_t *dec = P.w + P.h->off_dec + 2 * row;
    const int32_t *sq = P.w + P.h->off_seq + 4 * dec[1];
    const int32_t *pages = P.w + P.h->off_pages + sq[3];
    int t = dec[0], n_keys = sq[1] - sq[0] + (t - sq[2]) + 1;
    int group = H / Hkv, h0 = kvh * group + hc * G, ng = min(G, group - hc * G);
    int k0 = split * split_len, k1 = min(k0 + split_len, n_keys), nk = k1 - k0;
    int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    size_t pbase = (size_t)row * H * n_splits;
    float *acc_part = part, *ml_part = part + (size_t)P.h->n_dec * H * n_splits * D;

    if (nk <= 0) { /* a split past this row's context: an empty partial */
        for (int i = tid; i < ng * D; i += 128) acc_part[(pbase + (size_t)(h0 + i / D) * n_splits + split) * D + i % D] = 0.0f;
        if (tid < ng) {
            ml_part[(pbase + (size_t)(h0 + tid) * n_splits + split) * 2] = -INFINITY;
            ml_part[(pbase + (size_t)(h0 + tid) * n_splits + split) * 2 + 1] = 0.0f;
        }
        return;
    }
    for (int i = tid; i < G * D; i += 128) {
        int g = i / D, d = i - g * D;
        qs[g][d] = g < ng ? __bfloat162float(q[((size_t)t * H + h0 + g) * D + d]) : 0.0f;
    }
    for (int j = tid; j < nk; j += 128) rowoff[j] = cache_row(pages, k0 + j, bs, Hkv, kvh, D);
    __syncthreads();

    /* scores: one key per thread, all query heads of the chunk at once */
    for (int j = tid; j < nk; j += 128) {
        const bf16 *kr = kc + rowoff[j];
        float a[G];
#pragma unroll
        for (int g = 0; g < G; g++) a[g] = 0.0f;
        if ((D & 7) == 0) {
            for (int d = 0; d < D; d += 8) {
                uint4 raw = *(const uint4 *)(kr + d);
                const __nv_bfloat162 *p2 = (const __nv_bfloat162 *)&raw;
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    float2 f = __bfloat1622float2(p2[u]);
#pragma unroll
                    for (int g = 0; g < G; g++) a[g] += f.x * qs[g][d + 2 * u] + f.y * qs[g][d + 2 * u + 1];
                }
            }
        } else {
            for (int d = 0; d < D; d++) {
                float f = __bfloat162float(kr[d]);
#pragma unroll
                for (int g = 0; g < G; g++) a[g] += f * qs[g][d];
            }
        }
#pragma unroll
        for (int g = 0; g < G; g++) sc[g][j] = a[g] * scale;
    }
    __syncthreads();

    /* softmax statistics of this split, one warp per head */
    for (int g = warp; g < ng; g += 4) {
        float m = -INFINITY;
        for (int j = lane; j < nk; j += 32) m = fmaxf(m, sc[g][j]);
        m = warp_max(m);
        float l = 0.0f;
        for (int j = lane; j < nk; j += 32) l += (sc[g][j] = expf(sc[g][j] - m));
        l = warp_sum(l);
        if (lane == 0) stat[g][0] = m, stat[g][1] = l;
    }
    __syncthreads();

    /* O = P V: threads along the head dim, so each V row is read coalesced, once for all heads */
    for (int d = tid; d < D; d += 128) {
        float o[G];
#pragma unroll
        for (int g = 0; g < G; g++) o[g] = 0.0f;
        for (int j = 0; j < nk; j++) {
            float v = __bfloat162float(vc[rowoff[j] + d]);
#pragma unroll
            for (int g = 0; g < G; g++) o[g] += sc[g][j] * v;
        }
#pragma unroll
        for (int g = 0; g < G; g++) {
            if (g >= ng) break;
            if (n_splits == 1) out[((size_t)t * H + h0 + g) * D + d] = __float2bfloat16(o[g] / stat[g][1]);
            else acc_part[(pbase + (size_t)(h0 + g) * n_splits + split) * D + d] = o[g];
        }
    }
    if (n_splits > 1 && tid < ng) {
        ml_part[(pbase + (size_t)(h0 + tid) * n_splits + split) * 2] = stat[tid][0];
        ml_part[(pbase + (size_t)(h0 + tid) * n_splits + split) * 2 + 1] = stat[tid][1];
    }
}

/* grid (n_dec, H): merges the splits of one (row, head). */
__global__ void combine_kernel(bf16 *__restrict__ out, const float *__restrict__ part, const int32_t *__restrict__ plan,
                               int H, int D) {
    plan_view P(plan);
    int row = blockIdx.x, h = blockIdx.y, ns = P.h->n_splits;
    int t = P.w[P.h->off_dec + 2 * row];
    size_t base = ((size_t)row * H + h) * ns;
    const float *acc = part, *ml = part + (size_t)P.h->n_dec * H * ns * D;
    float M = -INFINITY, L = 0.0f;
    for (int s = 0; s < ns; s++) M = fmaxf(M, ml[(base + s) * 2]);
    for (int s = 0; s < ns; s++) {
        float m = ml[(base + s) * 2];
        if (m != -INFINITY) L += ml[(base + s) * 2 + 1] * expf(m - M);
    }
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float a = 0.0f;
        for (int s = 0; s < ns; s++) {
            float m = ml[(base + s) * 2];
            if (m != -INFINITY) a += acc[(base + s) * D + d] * expf(m - M);
        }
        out[((size_t)t * H + h) * D + d] = __float2bfloat16(a / L);
    }
}

} // namespace

r1d_status cuda_attn_plan(ops_t *o, const ops_kv_t *kv, const ops_attn_seq_t *seqs, int B, err_t *e) {
    cuda_ops *s = cuda_state(o);
    size_t words = PLAN_HEADER_WORDS + cplan_attn_words(seqs, B, kv->block_size);
    if (words > s->plan_cap) {
        size_t cap = words * 2;
        int32_t *a = (int32_t *)realloc(s->plan_h, cap * sizeof(int32_t));
        if (a) s->plan_h = a;
        int32_t *b = a ? (int32_t *)realloc(s->plan_prev, cap * sizeof(int32_t)) : NULL;
        if (b) s->plan_prev = b;
        if (!a || !b) return ERR(e, R1D_ENOMEM, "CUDA attention plan: out of host memory for %zu words", words);
        s->plan_cap = cap;
    }
    /* the split is sized per kv head, so kv_store (which has no H) plans what attention plans */
    cplan_attn_t p;
    if (cplan_attn_build(seqs, B, kv->block_size, kv->n_blocks, kv->Hkv, s->sm_count, s->ctx_hint,
                         s->plan_h + PLAN_HEADER_WORDS, s->plan_cap - PLAN_HEADER_WORDS, &p))
        return ERR(e, R1D_EINVAL, "CUDA attention plan: a cache of %d blocks of %d tokens has more rows than int32 holds",
                   kv->n_blocks, kv->block_size);
    memset(s->plan_h, 0, PLAN_HEADER_WORDS * sizeof(int32_t));
    memcpy(s->plan_h, &p, sizeof p);
    size_t total = PLAN_HEADER_WORDS + (size_t)p.words;
    s->plan = p;
    if (total == s->prev_words && memcmp(s->plan_h, s->plan_prev, total * sizeof(int32_t)) == 0) return R1D_OK;
    if (s->capturing)
        return ERR(e, R1D_EINVAL, "CUDA graph capture: the attention plan changed inside the captured step "
                                  "(upload it before capturing with ops_cuda_attn_prepare)");
    TRY(cuda_ops_grow(s, (void **)&s->plan_d, &s->plan_d_cap, total * sizeof(int32_t), e));
    /* pageable source: the copy is staged before the call returns, so plan_h may change after */
    CUDA_CHECK(e, cudaMemcpyAsync(s->plan_d, s->plan_h, total * sizeof(int32_t), cudaMemcpyHostToDevice, s->stream));
    memcpy(s->plan_prev, s->plan_h, total * sizeof(int32_t));
    s->prev_words = total;
    return R1D_OK;
}

r1d_status cuda_kv_store(ops_t *o, ops_kv_t *kv, const void *k, const void *v, const ops_attn_seq_t *seqs, int B,
                         err_t *e) {
    cuda_ops *s = cuda_state(o);
    TRY(cuda_attn_plan(o, kv, seqs, B, e));
    int64_t n = (int64_t)s->plan.T * kv->Hkv * kv->D;
    if (n == 0) return R1D_OK;
    kv_store_kernel<<<cplan_blocks(n, 256, 4096), 256, 0, s->stream>>>((bf16 *)kv->k, (bf16 *)kv->v, (const bf16 *)k,
                                                                        (const bf16 *)v, s->plan_d, kv->Hkv, kv->D);
    LAUNCH_CHECK(e, "kv_store");
    return R1D_OK;
}

r1d_status cuda_attention(ops_t *o, void *out, const void *q, const ops_kv_t *kv, const ops_attn_seq_t *seqs, int B,
                          int H, float scale, err_t *e) {
    cuda_ops *s = cuda_state(o);
    int D = kv->D, Hkv = kv->Hkv;
    if (D > CPLAN_HEAD_DIM_MAX || H % Hkv != 0)
        return ERR(e, R1D_EUNSUPPORTED, "CUDA attention: head dim %d (at most %d) with %d query and %d kv heads", D,
                   CPLAN_HEAD_DIM_MAX, H, Hkv);
    TRY(cuda_attn_plan(o, kv, seqs, B, e));
    const cplan_attn_t *p = &s->plan;
    if (p->n_tiles) {
        cplan_prefill_t L;
        cplan_prefill_layout(D, &L);
        if (L.bytes > s->smem_optin)
            return ERR(e, R1D_EUNSUPPORTED, "CUDA attention: head dim %d needs %d bytes of shared memory, the device has %d",
                       D, L.bytes, s->smem_optin);
        CUDA_CHECK(e, cudaFuncSetAttribute(prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, L.bytes));
        prefill_kernel<<<dim3(p->n_tiles, H), 128, L.bytes, s->stream>>>(
            (bf16 *)out, (const bf16 *)q, (const bf16 *)kv->k, (const bf16 *)kv->v, s->plan_d, L, H, Hkv, D,
            kv->block_size, scale);
        LAUNCH_CHECK(e, "attention prefill");
    }
    if (p->n_dec) {
        size_t pf = cplan_partial_floats(p, H, D);
        if (pf) {
            size_t cap_bytes = s->part_cap * sizeof(float);
            TRY(cuda_ops_grow(s, (void **)&s->part, &cap_bytes, pf * sizeof(float), e));
            s->part_cap = cap_bytes / sizeof(float);
        }
        dim3 grid(p->n_splits, Hkv * cplan_head_chunks(H / Hkv), p->n_dec);
        decode_kernel<<<grid, 128, 0, s->stream>>>((bf16 *)out, s->part, (const bf16 *)q, (const bf16 *)kv->k,
                                                   (const bf16 *)kv->v, s->plan_d, H, Hkv, D, kv->block_size, scale);
        LAUNCH_CHECK(e, "attention decode");
        if (p->n_splits > 1) {
            combine_kernel<<<dim3(p->n_dec, H), 128, 0, s->stream>>>((bf16 *)out, s->part, s->plan_d, H, D);
            LAUNCH_CHECK(e, "attention split-K combine");
        }
    }
    return R1D_OK;
}
