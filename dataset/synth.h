/* The built-in demo's task: seeded multi-step integer arithmetic word problems
 * with worked solutions in R1's format (`<think>` one operation per line
 * `</think>` then a short answer with `\boxed{N}`), and a byte-level tokenizer
 * with a deepseek-r1 chat template for them. Everything is a pure function of
 * the config: the same seed gives byte-identical files. */
#ifndef R1D_DS_SYNTH_H
#define R1D_DS_SYNTH_H

#include <stdint.h>

#include "core/err.h"

typedef struct ds_synth_cfg {
    uint64_t seed;
    int64_t n_prompts;  /* prompts.jsonl records (teacher generation pool) */
    int64_t n_eval;     /* eval.jsonl held-out problems (>= 1) */
    int64_t n_sft;      /* sft.jsonl worked solutions (teacher training) */
    int min_ops, max_ops; /* operations per problem, 1 <= min_ops <= max_ops */
    double contaminate; /* fraction of prompts copied from eval problems, [0, 1] */
} ds_synth_cfg_t;

/* Writes into dir (created): prompts.jsonl, eval.jsonl, sft.jsonl,
 * tokenizer/tokenizer.json and tokenizer/tokenizer_config.json. Each file is
 * written atomically. */
r1d_status ds_synth_write(const ds_synth_cfg_t *c, const char *dir, err_t *e);

#endif
