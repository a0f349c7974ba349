/* Generation of eval responses with r1d's own inference engine: k samples per
 * problem of a set, written as an eval responses JSONL (docs/formats.md) that
 * ev_score_run then scores like responses produced elsewhere.
 * Prefix: ev_gen_. */
#ifndef R1D_EV_GEN_H
#define R1D_EV_GEN_H

#include <stdint.h>

#include "core/err.h"
#include "eval/set.h"

typedef struct ev_gen_cfg {
    const char *model_dir;
    int k;              /* samples per problem (DeepSeek: 64 for AIME) */
    double temperature; /* 0.6 */
    double top_p;       /* 0.95 */
    int max_new;        /* 32768, DeepSeek's maximum generation length */
    uint64_t seed;
    const char *backend; /* cpu (NULL), cuda or auto: teacher/backend.h */
} ev_gen_cfg_t;

/* DeepSeek-R1's evaluation settings (R1 paper §3 "Evaluation Setup"). */
void ev_gen_cfg_default(ev_gen_cfg_t *c);
/* One line naming the first bad value. */
r1d_status ev_gen_cfg_check(const ev_gen_cfg_t *c, err_t *e);
/* Generates c->k responses for every problem of set into out_jsonl, one sample
 * line as each finishes (r1d's sample format, which ev_responses reads); a rerun
 * after an interruption generates only what is missing. The prompts go to
 * out_jsonl.prompts.jsonl; the folder is created. */
r1d_status ev_gen_run(const ev_gen_cfg_t *c, const ev_set_t *set, const char *out_jsonl, err_t *e);

#endif
