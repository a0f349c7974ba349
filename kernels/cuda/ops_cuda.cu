/* The CUDA op table (kernels/ops.h) with bf16 activations: cuBLASLt GEMMs (bf16 in, f32
 * accumulation, bias in the f32 epilogue; cublasGemmEx for shapes cuBLASLt has no algorithm
 * for), fused element-wise kernels that round where transformers' bf16 modules round, GPU
 * sampling, and CUDA graph capture. Everything runs on one stream; ops never synchronise
 * except download. A failed CUDA call makes the table's error sticky (ops_status), and later
 * ops do nothing. */
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/ops_cuda.h"

typedef __nv_bfloat16 bf16;

#define LT_WORKSPACE ((size_t)32 << 20)

/* Runs an internal r1d_status call unless the table already failed; keeps its error. */
#define OPS_RUN(o, call)                                  \
    do {                                                  \
        if ((o)->status == R1D_OK) (o)->status = (call);  \
    } while (0)

namespace {

__device__ __forceinline__ float bf(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 tobf(float x) { return __float2bfloat16(x); }

#define GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__global__ void embedding_kernel(bf16 *__restrict__ out, const int32_t *__restrict__ ids, const bf16 *__restrict__ table,
                                 int64_t T, int64_t C) {
    GRID_STRIDE(i, T * C) {
        int64_t t = i / C;
        out[i] = table[(int64_t)ids[t] * C + (i - t * C)];
    }
}

/* y = bf16(w * bf16(x * rsqrt(mean(x^2) + eps))): transformers' Qwen2/Llama RMSNorm in bf16. */
__global__ void rmsnorm_kernel(bf16 *__restrict__ out, const bf16 *__restrict__ x, const bf16 *__restrict__ w, float eps,
                               int64_t C) {
    __shared__ float part[32];
    const bf16 *xr = x + blockIdx.x * C;
    bf16 *yr = out + blockIdx.x * C;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < C; i += blockDim.x) {
        float v = bf(xr[i]);
        ss += v * v;
    }
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        ss = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        if (threadIdx.x == 0) part[0] = ss;
    }
    __syncthreads();
    float r = 1.0f / sqrtf(part[0] / (float)C + eps);
    for (int64_t i = threadIdx.x; i < C; i += blockDim.x) yr[i] = tobf(bf(w[i]) * bf(tobf(bf(xr[i]) * r)));
}

/* rotate_half RoPE as transformers applies it to bf16 q/k: cos and sin of the f32 angle are
 * cast to bf16, and each product and the sum round to bf16. */
__global__ void rope_kernel(bf16 *__restrict__ x, const int32_t *__restrict__ pos, const float *__restrict__ inv_freq,
                            int64_t T, int nh, int D) {
    int half = D / 2;
    GRID_STRIDE(i, T * nh * half) {
        int64_t j = i % half, th = i / half, t = th / nh;
        float ang = (float)pos[t] * inv_freq[j];
        float c = bf(tobf(cosf(ang))), s = bf(tobf(sinf(ang)));
        bf16 *v = x + th * D;
        float a = bf(v[j]), b = bf(v[j + half]);
        v[j] = tobf(bf(tobf(a * c)) + bf(tobf(-b * s)));
        v[j + half] = tobf(bf(tobf(b * c)) + bf(tobf(a * s)));
    }
}

/* y = bf16(bf16(silu(g)) * u), silu in f32 as torch computes it for bf16 */
__global__ void swiglu_kernel(bf16 *out, const bf16 *gate, const bf16 *up, int64_t n) {
    GRID_STRIDE(i, n) {
        float g = bf(gate[i]);
        out[i] = tobf(bf(tobf(g / (1.0f + expf(-g)))) * bf(up[i]));
    }
}

__global__ void add_kernel(bf16 *out, const bf16 *a, const bf16 *b, int64_t n) {
    GRID_STRIDE(i, n) out[i] = tobf(bf(a[i]) + bf(b[i]));
}

__global__ void div_kernel(float *y, int64_t n, float div) { GRID_STRIDE(i, n) y[i] = y[i] / div; }

/* The bias when cuBLASLt offers no bias epilogue for a shape: y = bf16(y + bias). */
__global__ void bias_kernel(bf16 *y, const float *__restrict__ bias, int64_t T, int64_t OC) {
    GRID_STRIDE(i, T * OC) y[i] = tobf(bf(y[i]) + bias[i % OC]);
}

/* One CTA per row: per tile of `block` columns, s = max(amax, 1e-4) / 448 and
 * x = bf16(f32(e4m3(x / s)) * s), e4m3 rounded to nearest even without saturation (as core/dtype). */
__global__ void act_quant_kernel(bf16 *x, int64_t C, int block) {
    __shared__ float part[32];
    bf16 *xr = x + blockIdx.x * C;
    for (int64_t c0 = 0; c0 < C; c0 += block) {
        int64_t c1 = c0 + block < C ? c0 + block : C;
        float amax = 1e-4f;
        for (int64_t c = c0 + threadIdx.x; c < c1; c += blockDim.x) amax = fmaxf(amax, fabsf(bf(xr[c])));
        for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = amax;
        __syncthreads();
        if (threadIdx.x == 0) {
            for (unsigned w = 1; w < blockDim.x / 32; w++) amax = fmaxf(amax, part[w]);
            part[0] = amax;
        }
        __syncthreads();
        float s = part[0] / 448.0f;
        for (int64_t c = c0 + threadIdx.x; c < c1; c += blockDim.x) {
            __nv_fp8_storage_t q = __nv_cvt_float_to_fp8(bf(xr[c]) / s, __NV_NOSAT, __NV_E4M3);
            __half_raw hr = __nv_cvt_fp8_to_halfraw(q, __NV_E4M3);
            xr[c] = tobf(__half2float(__half(hr)) * s);
        }
        __syncthreads(); /* part[] is reused by the next tile */
    }
}

/* ---- sampling: one CTA of 1024 threads per row (rows round-robin over the CTAs) ---- */

#define SAMPLE_THREADS 1024
#define SAMPLE_CUTOFF 30.0f /* kernels/sample.c's candidate window */

/* Sort key: ascending order = descending logit, then ascending id (sample.c's total order). */
__device__ __forceinline__ uint64_t sample_key(float l, int32_t id) {
    uint32_t u = __float_as_uint(l == 0.0f ? 0.0f : l); /* -0 sorts with +0, as the C comparison has it */
    uint32_t ord = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending with l */
    return ((uint64_t)(~ord) << 32) | (uint32_t)id;
}

__device__ __forceinline__ float key_logit(uint64_t k) {
    uint32_t ord = ~(uint32_t)(k >> 32);
    return __uint_as_float((ord & 0x80000000u) ? (ord & 0x7fffffffu) : ~ord);
}

__device__ double block_sum(double v, double *sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = sh[lane];
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) sh[32] = v;
    }
    __syncthreads();
    v = sh[32];
    __syncthreads();
    return v;
}

/* Inclusive prefix sum over the block (1024 threads); sh[32] receives the block total. */
__device__ double block_scan(double v, double *sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 1; o < 32; o <<= 1) {
        double n = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) v += n;
    }
    if (lane == 31) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        double w = sh[lane];
        for (int o = 1; o < 32; o <<= 1) {
            double n = __shfl_up_sync(0xffffffffu, w, o);
            if (lane >= o) w += n;
        }
        sh[lane] = w;
        if (lane == 31) sh[32] = w;
    }
    __syncthreads();
    if (warp > 0) v += sh[warp - 1];
    __syncthreads();
    return v;
}

__global__ void __launch_bounds__(SAMPLE_THREADS)
sample_kernel(int32_t *ids, const float *__restrict__ logits, int64_t V, int B, const cplan_sample_row_t *rows,
              uint64_t *scratch, int64_t np_cap) {
    __shared__ double shd[33];
    __shared__ float best_v[32];
    __shared__ int best_i[32];
    __shared__ int cnt, cut;
    uint64_t *keys = scratch + (size_t)blockIdx.x * np_cap;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    for (int row = blockIdx.x; row < B; row += gridDim.x) {
        const float *x = logits + (size_t)row * V;
        cplan_sample_row_t P = rows[row];
        /* argmax, lowest index on ties (ops_argmax) */
        float bv = -INFINITY;
        int bi = 0x7fffffff;
        for (int64_t i = tid; i < V; i += SAMPLE_THREADS)
            if (bi == 0x7fffffff || x[i] > bv) bv = x[i], bi = (int)i;
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (ov > bv || (ov == bv && oi < bi)) bv = ov, bi = oi;
        }
        if (lane == 0) best_v[warp] = bv, best_i[warp] = bi;
        __syncthreads();
        if (tid == 0) {
            for (int w = 1; w < 32; w++)
                if (best_v[w] > bv || (best_v[w] == bv && best_i[w] < bi)) bv = best_v[w], bi = best_i[w];
            best_i[0] = bi;
            cnt = 0;
        }
        __syncthreads();
        bi = best_i[0];
        if (P.temperature <= 0.0f) {
            if (tid == 0) ids[row] = bi;
            __syncthreads();
            continue;
        }
        float mx = x[bi] / P.temperature;
        for (int64_t i = tid; i < V; i += SAMPLE_THREADS) {
            float l = x[i] / P.temperature;
            if (l - mx >= -SAMPLE_CUTOFF) keys[atomicAdd(&cnt, 1)] = sample_key(l, (int32_t)i);
        }
        __syncthreads();
        int n = cnt;
        if (n == 0) { /* no finite candidate (NaN logits): the argmax, as sample.c's fallback */
            if (tid == 0) ids[row] = bi;
            __syncthreads();
            continue;
        }
        int64_t np = 1;
        while (np < n) np <<= 1;
        for (int64_t i = n + tid; i < np; i += SAMPLE_THREADS) keys[i] = ~0ull;
        __syncthreads();
        /* bitonic sort of keys[0, np) */
        for (int64_t k = 2; k <= np; k <<= 1)
            for (int64_t j = k >> 1; j > 0; j >>= 1) {
                for (int64_t i = tid; i < np; i += SAMPLE_THREADS) {
                    int64_t ixj = i ^ j;
                    if (ixj > i) {
                        uint64_t a = keys[i], b = keys[ixj];
                        if ((a > b) == ((i & k) == 0)) keys[i] = b, keys[ixj] = a;
                    }
                }
                __syncthreads();
            }
        /* top-k, keeping ties with the k-th logit */
        if (tid == 0) {
            int k = n;
            if (P.top_k > 0 && P.top_k < n) {
                float lk = key_logit(keys[P.top_k - 1]);
                k = P.top_k;
                while (k < n && key_logit(keys[k]) == lk) k++;
            }
            cut = k;
        }
        __syncthreads();
        n = cut;
        double tot = 0.0;
        for (int i = tid; i < n; i += SAMPLE_THREADS) tot += (double)expf(key_logit(keys[i]) - mx);
        tot = block_sum(tot, shd);
        if (P.top_p < 1.0f) {
            /* keep = smallest i >= 1 whose tail mass sum_{j >= i} p_j / tot is <= 1 - top_p, else n:
             * the point where sample.c's walk up from the least likely token stops */
            double thr = 1.0 - (double)P.top_p, carry = 0.0, Q = 0.0;
            for (int i = tid; i < n; i += SAMPLE_THREADS) Q += (double)expf(key_logit(keys[i]) - mx) / tot;
            Q = block_sum(Q, shd);
            if (tid == 0) cut = n;
            __syncthreads();
            for (int base = 0; base < n; base += SAMPLE_THREADS) {
                int i = base + tid;
                double qv = i < n ? (double)expf(key_logit(keys[i]) - mx) / tot : 0.0;
                double incl = block_scan(qv, shd) + carry;
                if (i < n && i >= 1 && Q - (incl - qv) <= thr) atomicMin(&cut, i);
                carry += shd[32];
                __syncthreads();
            }
            n = cut;
        }
        if (P.min_p > 0.0f) {
            float p0 = expf(key_logit(keys[0]) - mx), thr = P.min_p * p0;
            double c = 0.0;
            for (int i = tid; i < n; i += SAMPLE_THREADS) c += expf(key_logit(keys[i]) - mx) >= thr ? 1.0 : 0.0;
            c = block_sum(c, shd);
            n = c < 1.0 ? 1 : (int)c;
        }
        /* inverse CDF: the first i whose inclusive mass exceeds u * total */
        double total = 0.0;
        for (int i = tid; i < n; i += SAMPLE_THREADS) total += (double)expf(key_logit(keys[i]) - mx);
        total = block_sum(total, shd);
        double r = P.u * total, carry = 0.0;
        if (tid == 0) cut = n - 1;
        __syncthreads();
        for (int base = 0; base < n; base += SAMPLE_THREADS) {
            int i = base + tid;
            double pv = i < n ? (double)expf(key_logit(keys[i]) - mx) : 0.0;
            double incl = block_scan(pv, shd) + carry;
            if (i < n && r < incl) atomicMin(&cut, i);
            carry += shd[32];
            __syncthreads();
        }
        if (tid == 0) ids[row] = (int32_t)(keys[cut] & 0xffffffffu);
        __syncthreads();
    }
}

} // namespace

/* ---- host side ---- */

r1d_status cuda_ops_grow(cuda_ops *s, void **buf, size_t *cap, size_t bytes, err_t *e) {
    if (bytes <= *cap) return R1D_OK;
    if (s->capturing)
        return ERR(e, R1D_EINVAL, "CUDA graph capture: a step needs %zu bytes of scratch that were not allocated "
                                  "before the capture", bytes);
    size_t n = bytes + bytes / 2;
    CUDA_CHECK(e, cudaStreamSynchronize(s->stream));
    if (*buf) CUDA_CHECK(e, cudaFree(*buf));
    *buf = NULL;
    *cap = 0;
    s->scratch_gen++;
    TRY(cuda_alloc(buf, n, e));
    *cap = n;
    return R1D_OK;
}

static r1d_status need_bf16(const char *op, const ops_weight_t *w, err_t *e) {
    if (w->dtype != DT_BF16)
        return ERR(e, R1D_EUNSUPPORTED, "CUDA %s: weight [%lld, %lld] is %s; the CUDA backend takes BF16 weights "
                                        "(teacher/backend.c converts them when it uploads a model)",
                   op, (long long)w->rows, (long long)w->cols, dt_name(w->dtype));
    return R1D_OK;
}

static void gemm_destroy(gemm_entry *g) {
    if (g->d) cublasLtMatrixLayoutDestroy(g->d);
    if (g->b) cublasLtMatrixLayoutDestroy(g->b);
    if (g->a) cublasLtMatrixLayoutDestroy(g->a);
    if (g->desc) cublasLtMatmulDescDestroy(g->desc);
    memset(g, 0, sizeof *g);
}

/* Largest power of two up to 256 dividing the address: cuBLASLt's kernels assume 256-byte
 * aligned operands unless told less, and the engine passes row offsets into buffers too. */
static uint32_t align_of(const void *p) {
    uint32_t a = 256;
    while (a > 1 && (uintptr_t)p % a) a >>= 1;
    return a;
}

static r1d_status gemm_heuristic(cuda_ops *s, gemm_entry *g, int *found, err_t *e) {
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(e, cublasLtMatmulPreferenceCreate(&pref));
    cublasStatus_t rc = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                             &s->lt_ws_bytes, sizeof s->lt_ws_bytes);
    static const cublasLtMatmulPreferenceAttributes_t align_attr[] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && rc == CUBLAS_STATUS_SUCCESS; i++)
        rc = cublasLtMatmulPreferenceSetAttribute(pref, align_attr[i], &g->align, sizeof g->align);
    cublasLtMatmulHeuristicResult_t res;
    int n = 0;
    if (rc == CUBLAS_STATUS_SUCCESS)
        rc = cublasLtMatmulAlgoGetHeuristic(s->lt, g->desc, g->a, g->b, g->d, g->d, pref, 1, &res, &n);
    cublasLtMatmulPreferenceDestroy(pref);
    *found = rc == CUBLAS_STATUS_SUCCESS && n > 0;
    if (*found) g->algo = res.algo;
    else if (rc != CUBLAS_STATUS_SUCCESS && rc != CUBLAS_STATUS_NOT_SUPPORTED)
        return ERR(e, R1D_EDEVICE, "cublasLtMatmulAlgoGetHeuristic: %s: %s", cublasGetStatusName(rc),
                   cublasGetStatusString(rc));
    return R1D_OK;
}

/* Descriptors for out[T,OC] = x[T,C] W^T in cuBLAS's column-major terms: D[OC,T] = op(A) B
 * with A = W seen as [C,OC] (transposed), B = x seen as [C,T]. */
static r1d_status gemm_get(cuda_ops *s, int64_t T, int64_t OC, int64_t C, int bias, uint32_t align, gemm_entry **out,
                           err_t *e) {
    for (int i = 0; i < s->n_gemm; i++) {
        gemm_entry *g = &s->gemm[i];
        if (g->T == T && g->OC == OC && g->C == C && g->bias == bias && g->align == align) return *out = g, R1D_OK;
    }
    gemm_entry *g = s->n_gemm < GEMM_CACHE ? &s->gemm[s->n_gemm++] : &s->gemm[s->gemm_next++ % GEMM_CACHE];
    gemm_destroy(g);
    g->align = align;
    CUBLAS_CHECK(e, cublasLtMatmulDescCreate(&g->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    CUBLAS_CHECK(e, cublasLtMatrixLayoutCreate(&g->a, CUDA_R_16BF, (uint64_t)C, (uint64_t)OC, C));
    CUBLAS_CHECK(e, cublasLtMatrixLayoutCreate(&g->b, CUDA_R_16BF, (uint64_t)C, (uint64_t)T, C));
    CUBLAS_CHECK(e, cublasLtMatrixLayoutCreate(&g->d, CUDA_R_16BF, (uint64_t)OC, (uint64_t)T, OC));
    int found = 0;
    if (bias) {
        cublasLtEpilogue_t ep = CUBLASLT_EPILOGUE_BIAS;
        cudaDataType_t bt = CUDA_R_32F;
        CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep));
        CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
        TRY(gemm_heuristic(s, g, &found, e));
        g->bias_fused = found;
        if (!found) { /* f32 bias epilogue not offered: plain GEMM, then bias_kernel */
            ep = CUBLASLT_EPILOGUE_DEFAULT;
            CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep));
        }
    }
    if (!found) TRY(gemm_heuristic(s, g, &found, e));
    /* no cuBLASLt algorithm (odd leading dimensions, small alignment): cublasGemmEx takes any shape */
    g->lt_ok = found;
    g->T = T, g->OC = OC, g->C = C, g->bias = bias;
    *out = g;
    return R1D_OK;
}

static r1d_status do_matmul(ops_t *o, void *out, const void *x, const ops_weight_t *w, const float *bias, int64_t T,
                            err_t *e) {
    cuda_ops *s = cuda_state(o);
    if (T == 0) return R1D_OK;
    TRY(need_bf16("matmul", w, e));
    gemm_entry *g = NULL;
    uint32_t align = align_of(w->data), ax = align_of(x), ao = align_of(out), ab = bias ? align_of(bias) : 256;
    align = align < ax ? align : ax;
    align = align < ao ? align : ao;
    align = align < ab ? align : ab;
    TRY(gemm_get(s, T, w->rows, w->cols, bias != NULL, align, &g, e));
    float one = 1.0f, zero = 0.0f;
    if (g->lt_ok) {
        if (bias && g->bias_fused)
            CUBLAS_CHECK(e, cublasLtMatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
        CUBLAS_CHECK(e, cublasLtMatmul(s->lt, g->desc, &one, w->data, g->a, x, g->b, &zero, out, g->d, out, g->d,
                                       &g->algo, s->lt_ws, s->lt_ws_bytes, s->stream));
    } else {
        CUBLAS_CHECK(e, cublasGemmEx(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)w->rows, (int)T, (int)w->cols, &one, w->data,
                                     CUDA_R_16BF, (int)w->cols, x, CUDA_R_16BF, (int)w->cols, &zero, out, CUDA_R_16BF,
                                     (int)w->rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    if (bias && !(g->lt_ok && g->bias_fused)) {
        bias_kernel<<<cplan_blocks(T * w->rows, 256, 4096), 256, 0, s->stream>>>((bf16 *)out, bias, T, w->rows);
        LAUNCH_CHECK(e, "bias");
    }
    return R1D_OK;
}

static void *c_alloc(ops_t *o, size_t bytes) {
    void *p = NULL;
    OPS_RUN(o, cuda_alloc(&p, bytes, &o->err));
    return o->status == R1D_OK ? p : NULL;
}

static void c_dealloc(ops_t *o, void *p) {
    (void)o;
    cuda_free(p);
}

static r1d_status do_upload(ops_t *o, void *dst, const void *src, size_t bytes, err_t *e) {
    /* from pageable memory the call returns once the source is staged, so callers may free it */
    CUDA_CHECK(e, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_state(o)->stream));
    return R1D_OK;
}

static r1d_status do_download(ops_t *o, void *dst, const void *src, size_t bytes, err_t *e) {
    cuda_ops *s = cuda_state(o);
    CUDA_CHECK(e, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s->stream));
    CUDA_CHECK(e, cudaStreamSynchronize(s->stream));
    return R1D_OK;
}

static void c_upload(ops_t *o, void *dst, const void *src, size_t bytes) { OPS_RUN(o, do_upload(o, dst, src, bytes, &o->err)); }
static void c_download(ops_t *o, void *dst, const void *src, size_t bytes) {
    OPS_RUN(o, do_download(o, dst, src, bytes, &o->err));
}
static void c_matmul(ops_t *o, void *out, const void *x, const ops_weight_t *w, const float *bias, int64_t T) {
    OPS_RUN(o, do_matmul(o, out, x, w, bias, T, &o->err));
}

static r1d_status do_embedding(ops_t *o, void *out, const int32_t *ids, const ops_weight_t *table, int64_t T, err_t *e) {
    TRY(need_bf16("embedding", table, e));
    if (T == 0) return R1D_OK;
    embedding_kernel<<<cplan_blocks(T * table->cols, 256, 4096), 256, 0, cuda_state(o)->stream>>>(
        (bf16 *)out, ids, (const bf16 *)table->data, T, table->cols);
    LAUNCH_CHECK(e, "embedding");
    return R1D_OK;
}
static void c_embedding(ops_t *o, void *out, const int32_t *ids, const ops_weight_t *table, int64_t T) {
    OPS_RUN(o, do_embedding(o, out, ids, table, T, &o->err));
}

static r1d_status do_rmsnorm(ops_t *o, void *out, const void *x, const ops_weight_t *w, float eps, int64_t T, int64_t C,
                             err_t *e) {
    TRY(need_bf16("rmsnorm", w, e));
    if (T == 0) return R1D_OK;
    rmsnorm_kernel<<<(unsigned)T, 256, 0, cuda_state(o)->stream>>>((bf16 *)out, (const bf16 *)x, (const bf16 *)w->data,
                                                                    eps, C);
    LAUNCH_CHECK(e, "rmsnorm");
    return R1D_OK;
}
static void c_rmsnorm(ops_t *o, void *out, const void *x, const ops_weight_t *w, float eps, int64_t T, int64_t C) {
    OPS_RUN(o, do_rmsnorm(o, out, x, w, eps, T, C, &o->err));
}

static r1d_status do_rope(ops_t *o, void *x, const int32_t *pos, const float *inv_freq, int64_t T, int nh, int D,
                          err_t *e) {
    int64_t n = T * nh * (D / 2);
    if (n == 0) return R1D_OK;
    rope_kernel<<<cplan_blocks(n, 256, 4096), 256, 0, cuda_state(o)->stream>>>((bf16 *)x, pos, inv_freq, T, nh, D);
    LAUNCH_CHECK(e, "rope");
    return R1D_OK;
}
static void c_rope(ops_t *o, void *x, const int32_t *pos, const float *inv_freq, int64_t T, int nh, int D) {
    OPS_RUN(o, do_rope(o, x, pos, inv_freq, T, nh, D, &o->err));
}

static r1d_status do_swiglu(ops_t *o, void *out, const void *g, const void *u, int64_t n, err_t *e) {
    if (n == 0) return R1D_OK;
    swiglu_kernel<<<cplan_blocks(n, 256, 4096), 256, 0, cuda_state(o)->stream>>>((bf16 *)out, (const bf16 *)g,
                                                                                  (const bf16 *)u, n);
    LAUNCH_CHECK(e, "swiglu");
    return R1D_OK;
}
static void c_swiglu(ops_t *o, void *out, const void *g, const void *u, int64_t n) {
    OPS_RUN(o, do_swiglu(o, out, g, u, n, &o->err));
}

static r1d_status do_add(ops_t *o, void *out, const void *a, const void *b, int64_t n, err_t *e) {
    if (n == 0) return R1D_OK;
    add_kernel<<<cplan_blocks(n, 256, 4096), 256, 0, cuda_state(o)->stream>>>((bf16 *)out, (const bf16 *)a,
                                                                               (const bf16 *)b, n);
    LAUNCH_CHECK(e, "add");
    return R1D_OK;
}
static void c_add(ops_t *o, void *out, const void *a, const void *b, int64_t n) { OPS_RUN(o, do_add(o, out, a, b, n, &o->err)); }

static void c_kv_store(ops_t *o, ops_kv_t *kv, const void *k, const void *v, const ops_attn_seq_t *seqs, int B) {
    OPS_RUN(o, cuda_kv_store(o, kv, k, v, seqs, B, &o->err));
}
static void c_attention(ops_t *o, void *out, const void *q, const ops_kv_t *kv, const ops_attn_seq_t *seqs, int B, int H,
                        float scale) {
    OPS_RUN(o, cuda_attention(o, out, q, kv, seqs, B, H, scale, &o->err));
}

static void c_to_f32(ops_t *o, float *dst, const void *src, int64_t n) {
    OPS_RUN(o, cuda_convert_to_f32(dst, src, DT_BF16, (size_t)n, cuda_state(o)->stream, &o->err));
}
static void c_from_f32(ops_t *o, void *dst, const float *src, int64_t n) {
    OPS_RUN(o, cuda_convert_from_f32(dst, DT_BF16, src, (size_t)n, cuda_state(o)->stream, &o->err));
}

static r1d_status do_act_quant(ops_t *o, void *x, int64_t T, int64_t C, int block, err_t *e) {
    if (T == 0) return R1D_OK;
    act_quant_kernel<<<(unsigned)T, 128, 0, cuda_state(o)->stream>>>((bf16 *)x, C, block);
    LAUNCH_CHECK(e, "act_quant_fp8");
    return R1D_OK;
}
static void c_act_quant(ops_t *o, void *x, int64_t T, int64_t C, int block) {
    OPS_RUN(o, do_act_quant(o, x, T, C, block, &o->err));
}

static const ops_vtable_t cuda_vtable = {
    c_alloc, c_dealloc, c_upload, c_download, c_matmul, c_embedding, c_rmsnorm, c_rope,
    c_swiglu, c_add, c_kv_store, c_attention, c_to_f32, c_from_f32, c_act_quant,
};

int ops_cuda_is(const ops_t *o) { return o && o->vt == &cuda_vtable; }

static void state_free(cuda_ops *s) {
    if (!s) return;
    if (s->stream) cudaStreamSynchronize(s->stream);
    for (int i = 0; i < s->n_gemm; i++) gemm_destroy(&s->gemm[i]);
    if (s->lt) cublasLtDestroy(s->lt);
    if (s->blas) cublasDestroy(s->blas);
    cuda_free(s->lt_ws);
    cuda_free(s->plan_d);
    cuda_free(s->part);
    cuda_free(s->sample_buf);
    if (s->stream) cudaStreamDestroy(s->stream);
    free(s->plan_h);
    free(s->plan_prev);
    free(s);
}

static r1d_status state_init(cuda_ops *s, int device, err_t *e) {
    TRY(cuda_set_device(device, e));
    s->device = device;
    CUDA_CHECK(e, cudaDeviceGetAttribute(&s->sm_count, cudaDevAttrMultiProcessorCount, device));
    CUDA_CHECK(e, cudaDeviceGetAttribute(&s->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    CUDA_CHECK(e, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(e, cublasLtCreate(&s->lt));
    s->lt_ws_bytes = LT_WORKSPACE;
    TRY(cuda_alloc(&s->lt_ws, s->lt_ws_bytes, e));
    /* the fallback GEMM shares the stream and, one call at a time, the workspace (graph capture needs it set) */
    CUBLAS_CHECK(e, cublasCreate(&s->blas));
    CUBLAS_CHECK(e, cublasSetStream(s->blas, s->stream));
    CUBLAS_CHECK(e, cublasSetWorkspace(s->blas, s->lt_ws, s->lt_ws_bytes));
    return R1D_OK;
}

r1d_status ops_cuda_init(ops_t **out, int device, err_t *e) {
    *out = NULL;
    ops_t *o = (ops_t *)calloc(1, sizeof *o);
    cuda_ops *s = (cuda_ops *)calloc(1, sizeof *s);
    if (!o || !s) {
        free(o);
        free(s);
        return ERR(e, R1D_ENOMEM, "cuda backend: out of host memory");
    }
    r1d_status st = state_init(s, device, e);
    if (st != R1D_OK) {
        state_free(s);
        free(o);
        return st;
    }
    o->name = "cuda";
    o->act = DT_BF16;
    o->vt = &cuda_vtable;
    o->impl = s;
    *out = o;
    return R1D_OK;
}

void ops_cuda_free(ops_t *o) {
    if (!o) return;
    state_free(cuda_state(o));
    free(o);
}

cuda_stream_t ops_cuda_stream(ops_t *o) { return (cuda_stream_t)cuda_state(o)->stream; }

int ops_cuda_sm_count(ops_t *o) { return cuda_state(o)->sm_count; }

void ops_cuda_set_ctx_hint(ops_t *o, int32_t ctx) { cuda_state(o)->ctx_hint = ctx > 0 ? ctx : 0; }

r1d_status ops_cuda_attn_prepare(ops_t *o, const ops_kv_t *kv, const ops_attn_seq_t *seqs, int B, int H,
                                 cplan_attn_t *plan, err_t *e) {
    TRY(ops_status(o, e));
    cuda_ops *s = cuda_state(o);
    TRY(cuda_attn_plan(o, kv, seqs, B, e));
    size_t pf = cplan_partial_floats(&s->plan, H, kv->D);
    if (pf) {
        size_t cap_bytes = s->part_cap * sizeof(float);
        TRY(cuda_ops_grow(s, (void **)&s->part, &cap_bytes, pf * sizeof(float), e));
        s->part_cap = cap_bytes / sizeof(float);
    }
    if (plan) *plan = s->plan;
    return R1D_OK;
}

r1d_status ops_cuda_sample(ops_t *o, int32_t *ids, const float *d_logits, int64_t V, int B,
                           const cplan_sample_row_t *rows, err_t *e) {
    TRY(ops_status(o, e));
    cuda_ops *s = cuda_state(o);
    if (B <= 0) return R1D_OK;
    size_t rows_bytes = cplan_round_up((size_t)B * sizeof *rows, CPLAN_ALIGN);
    size_t ids_bytes = cplan_round_up((size_t)B * sizeof(int32_t), CPLAN_ALIGN);
    size_t need = rows_bytes + ids_bytes + cplan_sample_scratch_bytes(B, V);
    TRY(cuda_ops_grow(s, &s->sample_buf, &s->sample_cap, need, e));
    char *base = (char *)s->sample_buf;
    cplan_sample_row_t *d_rows = (cplan_sample_row_t *)base;
    int32_t *d_ids = (int32_t *)(base + rows_bytes);
    uint64_t *keys = (uint64_t *)(base + rows_bytes + ids_bytes);
    CUDA_CHECK(e, cudaMemcpyAsync(d_rows, rows, (size_t)B * sizeof *rows, cudaMemcpyHostToDevice, s->stream));
    sample_kernel<<<cplan_sample_ctas(B), SAMPLE_THREADS, 0, s->stream>>>(d_ids, d_logits, V, B, d_rows, keys,
                                                                          cplan_pow2(V));
    LAUNCH_CHECK(e, "sample");
    CUDA_CHECK(e, cudaMemcpyAsync(ids, d_ids, (size_t)B * sizeof(int32_t), cudaMemcpyDeviceToHost, s->stream));
    CUDA_CHECK(e, cudaStreamSynchronize(s->stream));
    return R1D_OK;
}

r1d_status cuda_div_f32(float *d_y, size_t n, float div, cuda_stream_t stream, err_t *e) {
    if (n == 0) return R1D_OK;
    div_kernel<<<cplan_blocks((int64_t)n, 256, 4096), 256, 0, (cudaStream_t)stream>>>(d_y, (int64_t)n, div);
    LAUNCH_CHECK(e, "div");
    return R1D_OK;
}

/* ---- CUDA graphs ---- */

struct cuda_graph {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    uint64_t scratch_gen;       /* the scratch buffers the graph's kernels point at */
};

r1d_status ops_cuda_capture_begin(ops_t *o, err_t *e) {
    TRY(ops_status(o, e));
    cuda_ops *s = cuda_state(o);
    CUDA_CHECK(e, cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal));
    s->capturing = 1;
    return R1D_OK;
}

r1d_status ops_cuda_capture_end(ops_t *o, cuda_graph_t **out, err_t *e) {
    cuda_ops *s = cuda_state(o);
    *out = NULL;
    cudaGraph_t g = NULL;
    s->capturing = 0;
    cudaError_t rc = cudaStreamEndCapture(s->stream, &g);
    /* an op that failed during the capture explains the failed capture better */
    TRY(ops_status(o, e));
    if (rc != cudaSuccess)
        return ERR(e, R1D_EDEVICE, "cudaStreamEndCapture: %s: %s", cudaGetErrorName(rc), cudaGetErrorString(rc));
    cuda_graph_t *cg = (cuda_graph_t *)calloc(1, sizeof *cg);
    if (!cg) {
        cudaGraphDestroy(g);
        return ERR(e, R1D_ENOMEM, "CUDA graph: out of host memory");
    }
    cg->graph = g;
    cg->scratch_gen = s->scratch_gen;
    rc = cudaGraphInstantiate(&cg->exec, g, 0);
    if (rc != cudaSuccess) {
        cuda_graph_free(cg);
        return ERR(e, R1D_EDEVICE, "cudaGraphInstantiate: %s: %s", cudaGetErrorName(rc), cudaGetErrorString(rc));
    }
    *out = cg;
    return R1D_OK;
}

r1d_status ops_cuda_graph_launch(ops_t *o, cuda_graph_t *g, err_t *e) {
    TRY(ops_status(o, e));
    if (g->scratch_gen != cuda_state(o)->scratch_gen)
        return ERR(e, R1D_EINVAL, "CUDA graph: a scratch buffer (attention plan, split-K partials) grew after the "
                                  "capture; capture the step again");
    CUDA_CHECK(e, cudaGraphLaunch(g->exec, cuda_state(o)->stream));
    return R1D_OK;
}

void cuda_graph_free(cuda_graph_t *g) {
    if (!g) return;
    if (g->exec) cudaGraphExecDestroy(g->exec);
    if (g->graph) cudaGraphDestroy(g->graph);
    free(g);
}

r1d_status ops_cuda_sync(ops_t *o, err_t *e) {
    TRY(ops_status(o, e));
    CUDA_CHECK(e, cudaStreamSynchronize(cuda_state(o)->stream));
    return R1D_OK;
}
