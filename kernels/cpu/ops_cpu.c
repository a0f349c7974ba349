/* CPU backend: f32 activations; weights may be f32, bf16 or f16 and are widened to f32
 * as they are read. Element-wise ops live here; the larger ones have their own files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cuda.h"

float *cpu_scratch(ops_t *o, size_t n) {
    cpu_state_t *s = o->impl;
    if (n <= s->scratch_n) return s->scratch;
    float *p = realloc(s->scratch, n * sizeof(float));
    if (!p) {
        o->status = ERR(&o->err, R1D_ENOMEM, "cpu backend: cannot allocate %zu MiB of scratch", n * 4 >> 20);
        return NULL;
    }
    s->scratch = p;
    s->scratch_n = n;
    return p;
}

void cpu_weight_row(const ops_weight_t *w, int64_t r, float *dst) {
    const char *row = (const char *)w->data + (size_t)r * (size_t)w->cols * dt_size(w->dtype);
    if (w->dtype == DT_F32) memcpy(dst, row, (size_t)w->cols * sizeof(float));
    else dt_convert_to_f32(dst, row, w->dtype, (size_t)w->cols);
}

static void cpu_embedding(ops_t *o, void *out, const int32_t *ids, const ops_weight_t *table, int64_t T) {
    (void)o;
    float *y = out; /* [T, C] */
    #pragma omp parallel for if (T * table->cols > CPU_PAR_MIN)
    for (int64_t t = 0; t < T; t++) cpu_weight_row(table, ids[t], y + t * table->cols);
}

static void cpu_swiglu(ops_t *o, void *out, const void *gate, const void *up, int64_t n) {
    (void)o;
    float *y = out;
    const float *g = gate, *u = up;
    #pragma omp parallel for if (n > CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void cpu_add(ops_t *o, void *out, const void *a, const void *b, int64_t n) {
    (void)o;
    float *y = out;
    const float *x = a, *z = b;
    #pragma omp parallel for if (n > CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] + z[i];
}

static void cpu_to_f32(ops_t *o, float *dst, const void *src, int64_t n) {
    (void)o;
    if (dst != src) memmove(dst, src, (size_t)n * sizeof(float));
}

static void cpu_from_f32(ops_t *o, void *dst, const float *src, int64_t n) {
    (void)o;
    if (dst != src) memmove(dst, src, (size_t)n * sizeof(float));
}

static void *cpu_alloc(ops_t *o, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) o->status = ERR(&o->err, R1D_ENOMEM, "cpu backend: cannot allocate %zu MiB", bytes >> 20);
    return p;
}

static void cpu_dealloc(ops_t *o, void *p) {
    (void)o;
    free(p);
}

static void cpu_copy(ops_t *o, void *dst, const void *src, size_t bytes) {
    (void)o;
    memcpy(dst, src, bytes);
}

static const ops_vtable_t cpu_vtable = {
    .alloc = cpu_alloc,
    .dealloc = cpu_dealloc,
    .upload = cpu_copy,
    .download = cpu_copy,
    .matmul = cpu_matmul,
    .embedding = cpu_embedding,
    .rmsnorm = cpu_rmsnorm,
    .rope = cpu_rope,
    .swiglu = cpu_swiglu,
    .add = cpu_add,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .to_f32 = cpu_to_f32,
    .from_f32 = cpu_from_f32,
    .act_quant_fp8 = cpu_act_quant_fp8,
};

r1d_status ops_cpu_init(ops_t **out, err_t *e) {
    ops_t *o = calloc(1, sizeof *o);
    cpu_state_t *s = calloc(1, sizeof *s);
    if (!o || !s) {
        free(o);
        free(s);
        return ERR(e, R1D_ENOMEM, "cpu backend: out of memory");
    }
    o->name = "cpu";
    o->act = DT_F32;
    o->vt = &cpu_vtable;
    o->impl = s;
    *out = o;
    return R1D_OK;
}

void ops_free(ops_t *o) {
    if (!o) return;
#ifdef R1D_CUDA
    if (ops_cuda_is(o)) {
        ops_cuda_free(o);
        return;
    }
#endif
    if (o->vt == &cpu_vtable) {
        cpu_state_t *s = o->impl;
        free(s->scratch);
        free(s);
    }
    free(o);
}
