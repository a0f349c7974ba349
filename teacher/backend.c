#include "teacher/backend.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "kernels/cuda.h"
#include "kernels/cuda_plan.h"

r1d_status tch_backend_parse(const char *name, tch_backend_t *b, err_t *e) {
    if (!strcmp(name, "auto")) *b = TCH_BACKEND_AUTO;
    else if (!strcmp(name, "cpu")) *b = TCH_BACKEND_CPU;
    else if (!strcmp(name, "cuda")) *b = TCH_BACKEND_CUDA;
    else return ERR(e, R1D_EINVAL, "--backend '%s': expected auto, cpu or cuda", name);
    return R1D_OK;
}

r1d_status tch_backend_open(tch_backend_t b, int device, const tch_model_t *m, ops_t **o, err_t *e) {
    *o = NULL;
    /* deepseek_v3 has no path through this table on the GPU (tch_backend_model refuses it) */
    if (b == TCH_BACKEND_CPU || (b == TCH_BACKEND_AUTO && m && m->ds)) return ops_cpu_init(o, e);
#ifdef R1D_CUDA
    int n = 0;
    TRY(cuda_device_count(&n, e));
    if (n == 0) {
        if (b == TCH_BACKEND_AUTO) return ops_cpu_init(o, e);
        return ERR(e, R1D_EDEVICE, "--backend cuda: this machine has no usable CUDA device (or no driver)");
    }
    if (device < 0 || device >= n)
        return ERR(e, R1D_EINVAL, "--backend cuda: device %d does not exist (this machine has %d)", device, n);
    return ops_cuda_init(o, device, e);
#else
    (void)device;
    if (b == TCH_BACKEND_AUTO) return ops_cpu_init(o, e);
    return ERR(e, R1D_EUNSUPPORTED, "--backend cuda: this r1d was built without the CUDA backend (no nvcc, or CUDA=0)");
#endif
}

/* The CUDA copy: the struct, its layers and the arena pointer, freed together. */
typedef struct dev_model {
    tch_model_t m;
    void *arena;
    ops_t *ops;
} dev_model_t;

/* One pass of the arena walk: plans offsets (base NULL) or uploads (base = the arena). */
typedef struct upload {
    cplan_arena_t a;
    char *base;
    ops_t *o;
    uint16_t *stage;  /* bf16 conversion buffer */
    float *wide;      /* f16 -> f32 -> bf16 */
    size_t stage_n;
} upload_t;

#define STAGE_ELEMS ((size_t)1 << 22)

static void put_weight(upload_t *u, const ops_weight_t *src, ops_weight_t *dst) {
    size_t n = (size_t)(src->rows * src->cols);
    size_t off = cplan_arena_take(&u->a, n * sizeof(uint16_t));
    if (!u->base) return;
    *dst = (ops_weight_t){u->base + off, DT_BF16, src->rows, src->cols};
    if (src->dtype == DT_BF16) {
        u->o->vt->upload(u->o, u->base + off, src->data, n * sizeof(uint16_t));
        return;
    }
    /* pageable uploads are staged before they return, so the buffers can be refilled at once */
    for (size_t i = 0; i < n; i += STAGE_ELEMS) {
        size_t k = n - i < STAGE_ELEMS ? n - i : STAGE_ELEMS;
        const char *s = (const char *)src->data + i * dt_size(src->dtype);
        if (src->dtype == DT_F32) {
            dt_convert_from_f32(u->stage, DT_BF16, (const float *)s, k);
        } else {
            dt_convert_to_f32(u->wide, s, src->dtype, k);
            dt_convert_from_f32(u->stage, DT_BF16, u->wide, k);
        }
        u->o->vt->upload(u->o, u->base + off + i * sizeof(uint16_t), u->stage, k * sizeof(uint16_t));
    }
}

static void put_vec(upload_t *u, const float *src, size_t n, float **dst) {
    if (!src) return;
    size_t off = cplan_arena_take(&u->a, n * sizeof(float));
    if (!u->base) return;
    *dst = (float *)(u->base + off);
    u->o->vt->upload(u->o, *dst, src, n * sizeof(float));
}

/* d NULL: the planning pass, which writes into a throwaway model and layer. */
static void walk(upload_t *u, const tch_model_t *m, tch_model_t *d) {
    tch_model_t plan_m = {0};
    tch_layer_t plan_l = {0};
    if (!d) d = &plan_m;
    const cfg_model_t *c = &m->cfg;
    size_t qd = (size_t)c->n_heads * c->head_dim, kd = (size_t)c->n_kv_heads * c->head_dim;
    size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    put_weight(u, &m->embed, &d->embed);
    put_weight(u, &m->norm, &d->norm);
    if (m->head.data == m->embed.data) d->head = d->embed;
    else put_weight(u, &m->head, &d->head);
    put_vec(u, m->inv_freq, (size_t)c->head_dim / 2, &d->inv_freq);
    for (int l = 0; l < c->n_layers; l++) {
        const tch_layer_t *L = &m->layers[l];
        tch_layer_t *D = d == &plan_m ? &plan_l : &d->layers[l];
        put_weight(u, &L->attn_norm, &D->attn_norm);
        put_weight(u, &L->q, &D->q);
        put_weight(u, &L->k, &D->k);
        put_weight(u, &L->v, &D->v);
        put_weight(u, &L->o, &D->o);
        put_weight(u, &L->mlp_norm, &D->mlp_norm);
        put_weight(u, &L->gate, &D->gate);
        put_weight(u, &L->up, &D->up);
        put_weight(u, &L->down, &D->down);
        put_vec(u, L->q_bias, qd, &D->q_bias);
        put_vec(u, L->k_bias, kd, &D->k_bias);
        put_vec(u, L->v_bias, kd, &D->v_bias);
        put_vec(u, L->o_bias, C, &D->o_bias);
        put_vec(u, L->gate_bias, F, &D->gate_bias);
        put_vec(u, L->up_bias, F, &D->up_bias);
        put_vec(u, L->down_bias, C, &D->down_bias);
    }
}

size_t tch_backend_model_bytes(const tch_model_t *m) {
    if (m->ds) return 0;
    upload_t u = {0};
    walk(&u, m, NULL);
    return u.a.used;
}

r1d_status tch_backend_model(const tch_model_t *m, ops_t *o, const tch_model_t **out, err_t *e) {
    *out = NULL;
    if (o->act == DT_F32) {
        *out = m;
        return R1D_OK;
    }
    if (m->ds)
        return ERR(e, R1D_EUNSUPPORTED, "%s: deepseek_v3 does not run on the %s backend yet (use --backend cpu)", m->dir,
                   o->name);
    dev_model_t *d = calloc(1, sizeof *d);
    tch_layer_t *layers = calloc((size_t)m->cfg.n_layers, sizeof *layers);
    upload_t u = {.o = o, .stage = malloc(STAGE_ELEMS * sizeof(uint16_t)), .wide = malloc(STAGE_ELEMS * sizeof(float))};
    r1d_status st = R1D_OK;
    if (!d || !layers || !u.stage || !u.wide) {
        st = ERR(e, R1D_ENOMEM, "%s: out of host memory for the device copy", m->dir);
        goto out;
    }
    d->m = *m;
    d->m.st = NULL;
    d->m.layers = layers;
    d->ops = o;
    size_t bytes = tch_backend_model_bytes(m);
    d->arena = o->vt->alloc(o, bytes);
    if ((st = ops_status(o, e)) != R1D_OK) {
        err_prefix(e, "%s: uploading %.2f GiB of weights to the %s backend: ", m->dir, (double)bytes / (1 << 30),
                   o->name);
        goto out;
    }
    u.base = d->arena;
    walk(&u, m, &d->m);
    if ((st = ops_status(o, e)) != R1D_OK) goto out;
    log_info("%s: %.2f GiB of weights on the %s backend (bf16)", m->dir, (double)bytes / (1 << 30), o->name);
    *out = &d->m;
out:
    free(u.stage);
    free(u.wide);
    if (st != R1D_OK) {
        if (d && d->arena) o->vt->dealloc(o, d->arena);
        free(layers);
        free(d);
    }
    return st;
}

void tch_backend_model_free(const tch_model_t *dev, const tch_model_t *m) {
    if (!dev || dev == m) return;
    dev_model_t *d = (dev_model_t *)dev; /* m is the first member */
    d->ops->vt->dealloc(d->ops, d->arena);
    free(d->m.layers);
    free(d);
}

r1d_status tch_engine_open(tch_engine_t *en, const char *backend, const tch_model_t *m, err_t *e) {
    *en = (tch_engine_t){.host = m};
    tch_backend_t b;
    TRY(tch_backend_parse(backend, &b, e));
    const char *lr = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!lr) lr = getenv("SLURM_LOCALID");
    TRY(tch_backend_open(b, lr ? atoi(lr) : 0, m, &en->o, e));
    return tch_backend_model(m, en->o, &en->m, e);
}

void tch_engine_close(tch_engine_t *en) {
    if (en->m) tch_backend_model_free(en->m, en->host);
    ops_free(en->o);
    *en = (tch_engine_t){0};
}
