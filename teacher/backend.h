/* Engine backend selection (--backend auto|cpu|cuda) and the model as a backend reads it:
 * the host model itself on the CPU; on CUDA a copy whose weights (bf16), biases and RoPE
 * frequencies (f32) sit in one device arena, uploaded once. Prefix: tch_backend_. */
#ifndef R1D_TCH_BACKEND_H
#define R1D_TCH_BACKEND_H

#include "teacher/model.h"

typedef enum { TCH_BACKEND_AUTO = 0, TCH_BACKEND_CPU, TCH_BACKEND_CUDA } tch_backend_t;

/* "auto", "cpu" or "cuda". */
r1d_status tch_backend_parse(const char *name, tch_backend_t *b, err_t *e);
/* auto: CUDA when this build has it, a device exists and model m (NULL: any) runs there, else
 * the CPU. cuda: device `device`, with a clear error when the build has no CUDA or the machine
 * no GPU. */
r1d_status tch_backend_open(tch_backend_t b, int device, const tch_model_t *m, ops_t **o, err_t *e);

/* The model for backend o: *out = m on the CPU (nothing copied); on CUDA a device copy
 * (dense qwen2/llama only). Release with tch_backend_model_free(*out, m). */
r1d_status tch_backend_model(const tch_model_t *m, ops_t *o, const tch_model_t **out, err_t *e);
void tch_backend_model_free(const tch_model_t *dev, const tch_model_t *m);

/* What a command runs on: backend + the model as it reads it; host is the loaded model. */
typedef struct tch_engine {
    ops_t *o;
    const tch_model_t *m, *host;
} tch_engine_t;
/* Parses `backend` (auto|cpu|cuda), opens it on this rank's local device (the launcher's
 * OMPI_COMM_WORLD_LOCAL_RANK / SLURM_LOCALID, else 0) and prepares model m for it. */
r1d_status tch_engine_open(tch_engine_t *en, const char *backend, const tch_model_t *m, err_t *e);
void tch_engine_close(tch_engine_t *en); /* a zeroed or half-opened engine is fine */

/* Device bytes of the CUDA copy of m (weights as bf16, vectors as f32, arena alignment). */
size_t tch_backend_model_bytes(const tch_model_t *m);

#endif
