/* The DeepSeek GPU context and its GEMMs (kernels/cuda_deepseek.h):
 * FP8 y = x W^T through cuBLASLt's block-scaled mode on Hopper: the weight is cuBLAS's A
 * (transposed, K x N column-major = [N][K] row-major) with BLK128x128_32F scales read
 * straight from the checkpoint's weight_scale_inv ([nb][kb], row stride kb rounded to 4),
 * the activations are B (K x Mpad) with VEC128_32F scales M-major [kb][Mpad], D is bf16
 * N x Mpad column-major = y [Mpad][N] row-major. Where cuBLASLt refuses (shape rules or
 * no algorithm), the weight and activations are dequantised to bf16 and multiplied by a
 * bf16 cuBLASLt GEMM with f32 accumulation: same function, slower; logged once per shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cds_internal.h"

extern "C" {
#include "core/log.h"
}

r1d_status cds_init(cds_t **out, cuda_stream_t stream, err_t *e) {
    *out = NULL;
    cds_t *c = (cds_t *)calloc(1, sizeof *c);
    if (!c) return ERR(e, R1D_ENOMEM, "DeepSeek CUDA context: out of host memory");
    c->stream = (cudaStream_t)stream;
    int dev = 0;
    cudaError_t rc = cudaGetDevice(&dev);
    if (rc == cudaSuccess) rc = cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, dev);
    if (rc == cudaSuccess) rc = cudaMalloc(&c->workspace, CDS_WORKSPACE);
    if (rc != cudaSuccess) {
        cds_free(c);
        return ERR(e, R1D_EDEVICE, "DeepSeek CUDA context: %s: %s", cudaGetErrorName(rc), cudaGetErrorString(rc));
    }
    cublasStatus_t bs = cublasLtCreate(&c->lt);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasCreate(&c->blas);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetStream(c->blas, c->stream);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        cds_free(c);
        return ERR(e, R1D_EDEVICE, "DeepSeek CUDA context: cuBLAS: %s: %s", cublasGetStatusName(bs),
                   cublasGetStatusString(bs));
    }
    *out = c;
    return R1D_OK;
}

void cds_free(cds_t *c) {
    if (!c) return;
    if (c->lt) (void)cublasLtDestroy(c->lt);
    if (c->blas) (void)cublasDestroy(c->blas);
    if (c->workspace) (void)cudaFree(c->workspace);
    if (c->scratch) (void)cudaFree(c->scratch);
    free(c);
}

int cds_sm_count(const cds_t *c) { return c->sm_count; }
int64_t cds_fallback_count(const cds_t *c) { return c->fallbacks; }

r1d_status cds_scratch(cds_t *c, size_t bytes, void **out, err_t *e) {
    if (bytes > c->scratch_bytes) {
        /* the old buffer may still be read by queued work: wait for it before freeing */
        CUDA_CHECK(e, cudaStreamSynchronize(c->stream));
        if (c->scratch) (void)cudaFree(c->scratch);
        c->scratch = NULL;
        c->scratch_bytes = 0;
        size_t want = bytes + (bytes >> 3); /* headroom: growth by a few rows reallocates once */
        cudaError_t rc = cudaMalloc(&c->scratch, want);
        if (rc != cudaSuccess) {
            (void)cudaGetLastError();
            return ERR(e, R1D_ENOMEM, "DeepSeek CUDA scratch: cannot allocate %zu bytes: %s", want,
                       cudaGetErrorString(rc));
        }
        c->scratch_bytes = want;
    }
    *out = c->scratch;
    return R1D_OK;
}

r1d_status cds_reserve(cds_t *c, size_t bytes, err_t *e) {
    void *p;
    return cds_scratch(c, bytes, &p, e);
}

/* ---- cuBLASLt descriptors ---- */

typedef struct lt_call {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, d;
} lt_call_t;

static void lt_call_free(lt_call_t *l) {
    if (l->desc) (void)cublasLtMatmulDescDestroy(l->desc);
    if (l->a) (void)cublasLtMatrixLayoutDestroy(l->a);
    if (l->b) (void)cublasLtMatrixLayoutDestroy(l->b);
    if (l->d) (void)cublasLtMatrixLayoutDestroy(l->d);
}

/* y[M][N] = x[M][K] W[N][K]^T: A = W (T), B = x (N), D = N x M column-major. */
static r1d_status lt_call_init(lt_call_t *l, int kind, int64_t M, int64_t N, int64_t K, const float *wscale,
                               const float *xscale, err_t *e) {
    memset(l, 0, sizeof *l);
    cudaDataType_t in = kind == 0 ? CUDA_R_8F_E4M3 : CUDA_R_16BF, outt = kind == 2 ? CUDA_R_32F : CUDA_R_16BF;
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CUBLASLT_CHECK(e, cublasLtMatmulDescCreate(&l->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CUBLASLT_CHECK(e, cublasLtMatmulDescSetAttribute(l->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLASLT_CHECK(e, cublasLtMatmulDescSetAttribute(l->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (kind == 0) {
        int32_t am = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F, bm = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
        CUBLASLT_CHECK(e, cublasLtMatmulDescSetAttribute(l->desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &am, sizeof am));
        CUBLASLT_CHECK(e, cublasLtMatmulDescSetAttribute(l->desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &bm, sizeof bm));
        CUBLASLT_CHECK(e, cublasLtMatmulDescSetAttribute(l->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &wscale,
                                                         sizeof wscale));
        CUBLASLT_CHECK(e, cublasLtMatmulDescSetAttribute(l->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &xscale,
                                                         sizeof xscale));
    }
    CUBLASLT_CHECK(e, cublasLtMatrixLayoutCreate(&l->a, in, (uint64_t)K, (uint64_t)N, K));
    CUBLASLT_CHECK(e, cublasLtMatrixLayoutCreate(&l->b, in, (uint64_t)K, (uint64_t)M, K));
    CUBLASLT_CHECK(e, cublasLtMatrixLayoutCreate(&l->d, outt, (uint64_t)N, (uint64_t)M, N));
    return R1D_OK;
}

static cds_lt_entry_t *lt_find(cds_t *c, int kind, int64_t M, int64_t N, int64_t K) {
    for (int i = 0; i < c->n_cache; i++) {
        cds_lt_entry_t *x = &c->cache[i];
        if (x->kind == kind && x->M == M && x->N == N && x->K == K) return x;
    }
    return NULL;
}

static cds_lt_entry_t *lt_insert(cds_t *c, int kind, int64_t M, int64_t N, int64_t K) {
    int slot = c->n_cache < CDS_LT_CACHE ? c->n_cache++ : (c->next_evict++ % CDS_LT_CACHE);
    cds_lt_entry_t *x = &c->cache[slot];
    memset(x, 0, sizeof *x);
    x->kind = kind, x->M = M, x->N = N, x->K = K;
    return x;
}

/* The cached algorithm for (kind, M, N, K); ok = 0 when cuBLASLt has none. */
static r1d_status lt_algo(cds_t *c, lt_call_t *l, int kind, int64_t M, int64_t N, int64_t K, cds_lt_entry_t **out,
                          err_t *e) {
    if ((*out = lt_find(c, kind, M, N, K))) return R1D_OK;
    cublasLtMatmulPreference_t pref;
    CUBLASLT_CHECK(e, cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = CDS_WORKSPACE;
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                             sizeof ws);
    cublasLtMatmulHeuristicResult_t res;
    int n = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(c->lt, l->desc, l->a, l->b, l->d, l->d, pref, 1, &res, &n);
    (void)cublasLtMatmulPreferenceDestroy(pref);
    /* NOT_SUPPORTED / INVALID_VALUE from the heuristic are cuBLASLt refusing the shape */
    if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED && st != CUBLAS_STATUS_INVALID_VALUE)
        return ERR(e, R1D_EDEVICE, "cublasLtMatmulAlgoGetHeuristic (M=%lld N=%lld K=%lld): %s: %s", (long long)M,
                   (long long)N, (long long)K, cublasGetStatusName(st), cublasGetStatusString(st));
    cds_lt_entry_t *x = lt_insert(c, kind, M, N, K);
    x->ok = st == CUBLAS_STATUS_SUCCESS && n > 0;
    if (x->ok) x->algo = res.algo;
    *out = x;
    return R1D_OK;
}

static r1d_status lt_run(cds_t *c, int kind, void *d, const void *w, const void *x, int64_t M, int64_t N, int64_t K,
                         const float *wscale, const float *xscale, int *ok, err_t *e) {
    lt_call_t l;
    r1d_status st = lt_call_init(&l, kind, M, N, K, wscale, xscale, e);
    cds_lt_entry_t *ent = NULL;
    if (st == R1D_OK) st = lt_algo(c, &l, kind, M, N, K, &ent, e);
    *ok = st == R1D_OK && ent->ok;
    if (*ok) {
        float one = 1.0f, zero = 0.0f;
        cublasStatus_t bs = cublasLtMatmul(c->lt, l.desc, &one, w, l.a, x, l.b, &zero, d, l.d, d, l.d, &ent->algo,
                                           c->workspace, CDS_WORKSPACE, c->stream);
        if (bs != CUBLAS_STATUS_SUCCESS)
            st = ERR(e, R1D_EDEVICE, "cublasLtMatmul (%s, M=%lld N=%lld K=%lld): %s: %s",
                     kind == 0 ? "FP8 block-scaled" : "bf16", (long long)M, (long long)N, (long long)K,
                     cublasGetStatusName(bs), cublasGetStatusString(bs));
    }
    lt_call_free(&l);
    return st;
}

r1d_status cds_bf16_gemm(cds_t *c, void *d_y, dtype_t yt, const void *d_x, const void *d_w, int64_t M, int64_t N,
                         int64_t K, err_t *e) {
    if (yt != DT_F32 && yt != DT_BF16)
        return ERR(e, R1D_EUNSUPPORTED, "bf16 GEMM output %s: expected F32 or BF16", dt_name(yt));
    if (M == 0) return R1D_OK;
    int ok;
    TRY(lt_run(c, yt == DT_F32 ? 2 : 1, d_y, d_w, d_x, M, N, K, NULL, NULL, &ok, e));
    if (!ok)
        return ERR(e, R1D_EDEVICE, "cuBLASLt has no bf16 GEMM algorithm for M=%lld N=%lld K=%lld", (long long)M,
                   (long long)N, (long long)K);
    return R1D_OK;
}

/* ---- dequantisation (the fallback and MLA's kv_b) ---- */

namespace {

__global__ void dequant_weight_kernel(uint16_t *__restrict__ out, const uint8_t *__restrict__ w,
                                      const float *__restrict__ s, int64_t N, int64_t K, int64_t ld) {
    int64_t n = (int64_t)N * K, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int64_t r = i / K, col = i % K;
        out[i] = cds_f32_bf16(cds_e4m3_decode(w[i]) * s[(r / CDS_BLOCK) * ld + col / CDS_BLOCK]);
    }
}

/* x[m][k] = dec(q) * s[kb][Mpad] (M-major scales) -> bf16 */
__global__ void dequant_act_kernel(uint16_t *__restrict__ out, const uint8_t *__restrict__ q,
                                   const float *__restrict__ s, int64_t M, int64_t Mpad, int64_t K) {
    int64_t n = M * K, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int64_t m = i / K, col = i % K;
        out[i] = cds_f32_bf16(cds_e4m3_decode(q[i]) * s[(col / CDS_BLOCK) * Mpad + m]);
    }
}

} // namespace

r1d_status cds_fp8_dequant(cds_t *c, void *d_out, const cds_fp8_weight_t *w, err_t *e) {
    dequant_weight_kernel<<<cds_blocks(w->N * w->K, 256, 8192), 256, 0, c->stream>>>(
        (uint16_t *)d_out, w->d_w, w->d_scale, w->N, w->K, w->scale_ld);
    CDS_LAUNCHED(e, "FP8 weight dequantisation");
    return R1D_OK;
}

/* ---- weights ---- */

r1d_status cds_fp8_weight_upload(cds_fp8_weight_t *dw, const char *name, const ops_weight_t *w, err_t *e) {
    memset(dw, 0, sizeof *dw);
    cds_fp8_plan_t p;
    TRY(cds_fp8_plan(&p, name, w, 1, e));
    size_t wbytes = (size_t)(p.N * p.K), wpad = (wbytes + 15) & ~(size_t)15;
    size_t sbytes = (size_t)(p.nb * p.wscale_ld) * sizeof(float);
    float *hs = (float *)malloc(sbytes);
    if (!hs) return ERR(e, R1D_ENOMEM, "%s: out of host memory for its scales", name);
    cds_wscale_pad(hs, w->scale, p.nb, p.kb, p.wscale_ld);
    void *mem = NULL;
    cudaError_t rc = cudaMalloc(&mem, wpad + sbytes);
    if (rc == cudaSuccess) rc = cudaMemcpy(mem, w->data, wbytes, cudaMemcpyHostToDevice);
    if (rc == cudaSuccess) rc = cudaMemcpy((char *)mem + wpad, hs, sbytes, cudaMemcpyHostToDevice);
    free(hs);
    if (rc != cudaSuccess) {
        if (mem) (void)cudaFree(mem);
        (void)cudaGetLastError();
        return ERR(e, rc == cudaErrorMemoryAllocation ? R1D_ENOMEM : R1D_EDEVICE, "%s: upload of %zu bytes: %s",
                   name, wpad + sbytes, cudaGetErrorString(rc));
    }
    *dw = (cds_fp8_weight_t){(const uint8_t *)mem, (const float *)((char *)mem + wpad), p.N, p.K, p.wscale_ld, mem};
    return R1D_OK;
}

void cds_fp8_weight_free(cds_fp8_weight_t *dw) {
    if (dw->owned) (void)cudaFree(dw->owned);
    memset(dw, 0, sizeof *dw);
}

/* ---- FP8 GEMM ---- */

/* The fallback's bf16 weight copy, rounded so that the activations behind it stay 256-byte aligned. */
static size_t wb_bytes(const cds_fp8_plan_t *p) { return ((size_t)(p->N * p->K) * 2 + 255) & ~(size_t)255; }

/* Scratch bytes the GEMM needs: the padded output when Mpad > M, or the
 * fallback's bf16 copies. */
static size_t gemm_need(const cds_fp8_plan_t *p, int lt) {
    if (lt) return p->Mpad > p->M ? (size_t)(p->Mpad * p->N) * 2 : 0;
    return wb_bytes(p) + (size_t)(p->M * p->K) * 2;
}

/* Which path (M, w) takes: cuBLASLt's answer is cached per shape, and a refusal is
 * logged when it is first seen. */
static r1d_status gemm_path(cds_t *c, const cds_fp8_plan_t *p, const cds_fp8_weight_t *w, int *lt, err_t *e) {
    cds_lt_entry_t *ent = lt_find(c, 0, p->Mpad, p->N, p->K);
    if (!ent && !p->lt) {
        ent = lt_insert(c, 0, p->Mpad, p->N, p->K);
        ent->ok = 0;
    }
    if (!ent) {
        lt_call_t l;
        r1d_status st = lt_call_init(&l, 0, p->Mpad, p->N, p->K, w->d_scale, NULL, e);
        if (st == R1D_OK) st = lt_algo(c, &l, 0, p->Mpad, p->N, p->K, &ent, e);
        lt_call_free(&l);
        TRY(st);
    }
    if (!ent->ok && !ent->logged) {
        ent->logged = 1;
        log_warn("FP8 GEMM N=%lld K=%lld M=%lld: cuBLASLt's block-scaled mode not used (%s); dequantising to bf16",
                 (long long)p->N, (long long)p->K, (long long)p->M,
                 p->lt ? "cuBLASLt has no algorithm for this shape" : p->why);
    }
    *lt = ent->ok;
    return R1D_OK;
}

static ops_weight_t plan_view(const cds_fp8_weight_t *w) {
    /* only the shape and block layout matter to cds_fp8_plan */
    ops_weight_t v = {w->d_w, DT_F8_E4M3, w->N, w->K, w->d_scale, CDS_BLOCK, CDS_BLOCK};
    return v;
}

static r1d_status gemm_run(cds_t *c, void *d_y, const uint8_t *d_q, const float *d_s, const cds_fp8_weight_t *w,
                           const cds_fp8_plan_t *p, int lt, char *scratch, err_t *e) {
    if (lt) {
        void *d = p->Mpad > p->M ? (void *)scratch : d_y;
        int ok;
        TRY(lt_run(c, 0, d, w->d_w, d_q, p->Mpad, p->N, p->K, w->d_scale, d_s, &ok, e));
        if (!ok) return ERR(e, R1D_EINTERNAL, "cuBLASLt FP8 algorithm vanished from the cache");
        if (d != d_y) CUDA_CHECK(e, cudaMemcpyAsync(d_y, d, (size_t)(p->M * p->N) * 2, cudaMemcpyDeviceToDevice,
                                                    c->stream));
        return R1D_OK;
    }
    uint16_t *wb = (uint16_t *)scratch, *xb = (uint16_t *)(scratch + wb_bytes(p));
    TRY(cds_fp8_dequant(c, wb, w, e));
    dequant_act_kernel<<<cds_blocks(p->M * p->K, 256, 8192), 256, 0, c->stream>>>(xb, d_q, d_s, p->M, p->Mpad, p->K);
    CDS_LAUNCHED(e, "FP8 activation dequantisation");
    c->fallbacks++;
    return cds_bf16_gemm(c, d_y, DT_BF16, xb, wb, p->M, p->N, p->K, e);
}

r1d_status cds_fp8_gemm(cds_t *c, void *d_y, const uint8_t *d_q, const float *d_s, const cds_fp8_weight_t *w,
                        int64_t M, err_t *e) {
    if (M == 0) return R1D_OK;
    cds_fp8_plan_t p;
    ops_weight_t v = plan_view(w);
    TRY(cds_fp8_plan(&p, "FP8 GEMM", &v, M, e));
    int lt;
    TRY(gemm_path(c, &p, w, &lt, e));
    void *scr = NULL;
    size_t need = gemm_need(&p, lt);
    if (need) TRY(cds_scratch(c, need, &scr, e));
    return gemm_run(c, d_y, d_q, d_s, w, &p, lt, (char *)scr, e);
}

r1d_status cds_fp8_linear(cds_t *c, void *d_y, const void *d_x, const cds_fp8_weight_t *w, int64_t M, err_t *e) {
    if (M == 0) return R1D_OK;
    cds_fp8_plan_t p;
    ops_weight_t v = plan_view(w);
    TRY(cds_fp8_plan(&p, "FP8 linear", &v, M, e));
    int lt;
    TRY(gemm_path(c, &p, w, &lt, e));
    size_t act = (cds_fp8_act_bytes(M, p.K) + 255) & ~(size_t)255;
    void *scr;
    TRY(cds_scratch(c, act + gemm_need(&p, lt), &scr, e));
    uint8_t *q = (uint8_t *)scr;
    float *s = (float *)(q + cds_fp8_act_scale_offset(M, p.K));
    TRY(cds_act_quant(c, q, s, 1, p.Mpad, d_x, DT_BF16, M, p.Mpad, p.K, e));
    return gemm_run(c, d_y, q, s, w, &p, lt, (char *)scr + act, e);
}
