/* Element rules that the DeepSeek CUDA kernels and their host references share: one
 * source compiled by the C compiler (kernels/cuda_deepseek_plan.c, the tests) and by
 * nvcc (the .cu files of kernels/cuda), so the device and the host mirror run the same steps.
 * Internal to kernels/: other modules use kernels/cuda_deepseek.h. */
#ifndef R1D_CUDA_DEEPSEEK_INL_H
#define R1D_CUDA_DEEPSEEK_INL_H

#include <math.h>
#include <stdint.h>

#include <string.h>

#ifdef __CUDACC__
#define CDS_HD __host__ __device__ __forceinline__
#else
#define CDS_HD static inline
#endif

/* Bit casts through memcpy: valid C and valid in host and device code alike. */
CDS_HD uint32_t cds_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
CDS_HD float cds_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* The most routed experts and groups the device router handles (DeepSeek-V3: 256, 8). */
#define CDS_MAX_EXPERTS 256
#define CDS_MAX_GROUPS 64
#define CDS_MAX_TOPK 16

/* E4M3 "fn" encode, round to nearest even, no saturation (|x| past 464, inf and NaN ->
 * 0x7f with the sign): the bit rules of core/dtype.c's dt_f32_to_e4m3. */
CDS_HD uint8_t cds_e4m3_encode(float f) {
    uint32_t u = cds_f32_bits(f);
    uint32_t sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
    uint32_t normal = (a - (120u << 23) + 0x7ffffu + ((a >> 20) & 1u)) >> 20;
    normal = normal > 0x7fu ? 0x7fu : normal;
    uint32_t sub = cds_f32_bits(cds_bits_f32(a) + 0x1p14f) - 0x46800000u; /* ulp(2^14) = 2^-9 */
    return (uint8_t)(sign | (a < 0x3c800000u ? sub : normal));
}

CDS_HD float cds_e4m3_decode(uint8_t b) {
    uint32_t sign = (uint32_t)(b & 0x80u) << 24, em = b & 0x7fu;
    if (em == 0x7fu) return cds_bits_f32(sign | 0x7fc00000u);
    if (em >= 8u) return cds_bits_f32(sign | ((em << 20) + (120u << 23)));
    return cds_bits_f32(sign | cds_f32_bits((float)em * 0x1p-9f));
}

/* The activation scale of one 1 x 128 tile from its amax: the reference clamps the amax at
 * 1e-4 so that an all-zero tile stays zero; s = amax / 448 (f32 division, as the CPU). */
CDS_HD float cds_act_scale(float amax) { return (amax > 1e-4f ? amax : 1e-4f) / 448.0f; }

/* The noaux_tc router's fixed parameters. */
typedef struct cds_route_cfg {
    int E, G, topk_group, K;    /* experts, groups, groups kept, experts per token */
    int norm;                   /* norm_topk_prob */
    float scale;                /* routed_scaling_factor */
} cds_route_cfg_t;

/* One token: ids[K] and weights w[K] from the router logits[E] and the selection bias[E].
 * The steps of teacher/deepseek_moe.c's ds_route in the same order (sigmoid, biased
 * copy, group score = sum of the top-2, keep topk_group groups, masked to -inf, top-K
 * by repeated arg-max with the lowest index on ties, unbiased weights normalised, times
 * the scale), with fixed-size arrays so that it also runs as one device thread.
 * c->E <= CDS_MAX_EXPERTS, c->G <= CDS_MAX_GROUPS, c->K <= CDS_MAX_TOPK. */
CDS_HD void cds_route_one(const cds_route_cfg_t *c, const float *logits, const float *bias, int32_t *ids, float *w) {
    float s[CDS_MAX_EXPERTS], sc[CDS_MAX_EXPERTS], gs[CDS_MAX_GROUPS];
    int E = c->E, G = c->G, per = E / G, K = c->K;
    const float inf = cds_bits_f32(0x7f800000u);
    for (int i = 0; i < E; i++) {
        s[i] = 1.0f / (1.0f + expf(-logits[i]));
        sc[i] = s[i] + bias[i];
    }
    for (int g = 0; g < G; g++) {
        float a = -inf, b = -inf;
        for (int i = g * per; i < (g + 1) * per; i++) {
            if (sc[i] > a) b = a, a = sc[i];
            else if (sc[i] > b) b = sc[i];
        }
        gs[g] = per > 1 ? a + b : a;
    }
    for (int k = 0; k < c->topk_group; k++) {
        int best = -1;
        for (int g = 0; g < G; g++)
            if (gs[g] != inf && (best < 0 || gs[g] > gs[best])) best = g;
        gs[best] = inf;
    }
    for (int g = 0; g < G; g++)
        if (gs[g] != inf)
            for (int i = g * per; i < (g + 1) * per; i++) sc[i] = -inf;
    float sum = 0;
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int i = 0; i < E; i++)
            if (sc[i] != -inf && (best < 0 || sc[i] > sc[best])) best = i;
        if (best < 0) /* fewer finite candidates than K: the masked ones in index order */
            for (int i = 0; i < E && best < 0; i++) {
                int used = 0;
                for (int j = 0; j < k; j++) used |= ids[j] == i;
                if (!used) best = i;
            }
        ids[k] = best;
        w[k] = s[best];
        sum += s[best];
        sc[best] = -inf;
    }
    for (int k = 0; k < K; k++) {
        if (c->norm) w[k] /= sum + 1e-20f;
        w[k] *= c->scale;
    }
}

#endif
