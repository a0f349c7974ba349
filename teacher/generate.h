/* Batched generation with continuous batching: requests are pulled from a source as
 * slots and KV blocks free up, new prompts are prefilled in the same forward pass as
 * the running sequences' decode tokens, and each finished sequence goes to the sink
 * at once. Sampling draws come from rng(seed, request id, position), so a request's
 * output does not depend on what it was batched with.
 *
 * Speculative decoding (spec_draft > 0, deepseek_v3 with an MTP layer): each running
 * sequence drafts up to spec_draft tokens by chaining the MTP module, the main model
 * verifies every sequence's [last token, drafts] rows in the one forward pass of the
 * step, and each sequence keeps its longest accepted prefix plus one token of the main
 * model's. Greedy: the tokens of plain greedy decoding. Temperature > 0 (with top-k,
 * top-p and min-p applied to both models' distributions, ops_sample_probs; no repetition
 * penalty): a draft d drawn from the MTP's q is kept with probability min(1, p(d)/q(d))
 * under the main model's p, the first rejected one is
 * replaced by a draw from max(0, p - q) normalised (all kept: a bonus draw from p), so the
 * output is distributed as plain sampling's. The draws for the token at generated
 * position P (P >= 1) are rng_uniform_f64(seed, request id, 4P + k): k = 0 draws the
 * draft, 1 the acceptance test, 2 the residual or bonus token; position 0 is sampled
 * as without speculation. A sequence's step boundaries depend only on its own
 * acceptances (preemption restores them), so its output is a function of (seed, request
 * id) alone, not of its batch. Stop ids and strings and max_new cut the accepted tokens
 * exactly where plain decoding would stop. */
#ifndef R1D_TCH_GENERATE_H
#define R1D_TCH_GENERATE_H

#include "core/tok.h"
#include "teacher/forward.h"

typedef struct tch_request {
    uint64_t id;                 /* random stream id; also identifies the result */
    const int32_t *prompt;       /* copied by the scheduler */
    int32_t n_prompt;
    int32_t max_new;
    ops_sampling_t sampling;
    float repetition_penalty;    /* transformers' rule over prompt + output; <= 0 or 1: off */
    uint64_t seed;
    const int32_t *stop_ids;     /* copied; the model's eos ids are added by the caller */
    int n_stop_ids;
    const char *const *stop_strs; /* copied; need a tokenizer */
    int n_stop_strs;
    void *user;
} tch_request_t;

typedef enum { TCH_FINISH_STOP = 0, TCH_FINISH_LENGTH, TCH_FINISH_ERROR } tch_finish_t;
const char *tch_finish_name(tch_finish_t f);

typedef struct tch_result {
    uint64_t id;
    void *user;
    const int32_t *ids;          /* generated ids (a stop id or the token completing a stop string included) */
    int32_t n_ids;
    const char *text;            /* decoded output up to (not including) a stop string; NULL without tokenizer */
    tch_finish_t finish;
    const char *error;           /* TCH_FINISH_ERROR: why (e.g. the prompt does not fit) */
    int32_t n_prompt;
    double seconds;              /* admission to finish */
} tch_result_t;

/* Next request: *has = 0 when there are no more. */
typedef r1d_status (*tch_source_fn)(void *ctx, tch_request_t *req, int *has, err_t *e);
typedef r1d_status (*tch_sink_fn)(void *ctx, const tch_result_t *res, err_t *e);

typedef struct tch_gen_opts {
    int max_batch;               /* running sequences (default 32) */
    size_t kv_bytes;             /* KV cache budget (default 1 GiB) */
    int32_t block_size;          /* KV block tokens (default 16) */
    int32_t max_step_tokens;     /* prefill tokens per forward pass (default 512) */
    const tok_t *tok;            /* for text and stop strings; may be NULL */
    int spec_draft;              /* > 0: speculative decoding with the MTP layer, drafts per step (<= 16) */
} tch_gen_opts_t;

void tch_gen_opts_default(tch_gen_opts_t *o);

/* Totals of a run, for the progress line and the report. */
typedef struct tch_gen_stats {
    int64_t requests, prompt_tokens, new_tokens, steps, preemptions;
    /* speculative decoding: acceptance rate = accepted / drafted; tokens per main-model
     * forward of a sequence = (accepted + verifies) / verifies (each verification keeps the
     * accepted drafts and one token of the main model's) */
    int64_t drafted, accepted, verifies;
    double seconds;
} tch_gen_stats_t;

/* Acceptance rate, tokens per main-model forward per sequence and over the batch
 * (new_tokens / steps), as one line. */
void tch_gen_stats_spec_line(const tch_gen_stats_t *s, char *buf, size_t n);

r1d_status tch_generate(const tch_model_t *m, ops_t *o, const tch_gen_opts_t *opts, tch_source_fn source,
                        tch_sink_fn sink, void *ctx, tch_gen_stats_t *stats, err_t *e);

#endif
