/* MTP verification on the device (kernels/cuda_deepseek.h): the main model's greedy
 * choice per verified row and the accepted prefix per sequence. Rolling the latent
 * caches back is a change of each sequence's length: the rejected drafts' slots lie past
 * it and are overwritten when those positions are computed again, so nothing is copied. */
#include "kernels/cuda/cds_internal.h"

namespace {

constexpr int THREADS = 256;

/* One block per row: the first maximum, as ops_argmax (rows without NaN). */
__global__ void argmax_kernel(int32_t *ids, const float *logits, int64_t V) {
    const float *x = logits + (int64_t)blockIdx.x * V;
    float best = -INFINITY;
    int64_t bi = -1;
    for (int64_t i = threadIdx.x; i < V; i += THREADS)
        if (bi < 0 || x[i] > best) best = x[i], bi = i;
    __shared__ float sv[THREADS];
    __shared__ int64_t si[THREADS];
    sv[threadIdx.x] = best;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (int s = THREADS / 2; s; s >>= 1) {
        if ((int)threadIdx.x < s) {
            float ov = sv[threadIdx.x + s], mv = sv[threadIdx.x];
            int64_t oi = si[threadIdx.x + s], mi = si[threadIdx.x];
            if (oi >= 0 && (mi < 0 || ov > mv || (ov == mv && oi < mi))) sv[threadIdx.x] = ov, si[threadIdx.x] = oi;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) ids[blockIdx.x] = (int32_t)si[0];
}

__global__ void accept_kernel(const int32_t *drafts, const int32_t *main, int B, int nd, int32_t *accepted,
                              int32_t *next, int32_t *n_ctx) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    int a = 0;
    while (a < nd && drafts[b * nd + a] == main[b * (nd + 1) + a]) a++;
    accepted[b] = a;
    next[b] = main[b * (nd + 1) + a];
    n_ctx[b] -= nd - a;
}

} // namespace

r1d_status cds_argmax(cds_t *c, int32_t *d_ids, const float *d_logits, int64_t rows, int64_t V, err_t *e) {
    if (rows == 0) return R1D_OK;
    if (V < 1) return ERR(e, R1D_EINVAL, "argmax over %lld values", (long long)V);
    argmax_kernel<<<(unsigned)rows, THREADS, 0, c->stream>>>(d_ids, d_logits, V);
    CDS_LAUNCHED(e, "argmax");
    return R1D_OK;
}

r1d_status cds_mtp_accept(cds_t *c, const int32_t *d_drafts, const int32_t *d_main, int B, int nd,
                          int32_t *d_accepted, int32_t *d_next, int32_t *d_n_ctx, err_t *e) {
    if (B == 0) return R1D_OK;
    if (nd < 1) return ERR(e, R1D_EINVAL, "MTP accept: %d drafts", nd);
    accept_kernel<<<(unsigned)((B + 127) / 128), 128, 0, c->stream>>>(d_drafts, d_main, B, nd, d_accepted, d_next,
                                                                     d_n_ctx);
    CDS_LAUNCHED(e, "MTP accept");
    return R1D_OK;
}
