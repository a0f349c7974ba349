/* Random initialisation of a dense student or teacher as a Hugging Face folder
 * (config.json, model.safetensors, generation_config.json, tokenizer files),
 * weights drawn from normal(0, 0.02) as transformers' initializer_range does,
 * norms at 1, biases at 0, seeded with Philox so the same seed gives the same bytes. */
#ifndef R1D_STU_INIT_H
#define R1D_STU_INIT_H

#include <stdint.h>

#include "core/err.h"

typedef struct stu_init_cfg {
    const char *arch; /* "qwen2" or "llama" */
    int64_t hidden, layers, heads, kv_heads, intermediate, max_pos;
    double rope_theta;
    int tie_embeddings;
    uint64_t seed;
} stu_init_cfg_t;

/* tokenizer_dir: a folder with tokenizer.json (+ tokenizer_config.json); the
 * vocabulary size, BOS/EOS ids and chat template come from it and its files
 * are copied into out_dir. max_pos <= 0 means 2048, rope_theta <= 0 means 10000. */
r1d_status stu_init_write(const stu_init_cfg_t *c, const char *tokenizer_dir, const char *out_dir, err_t *e);

#endif
