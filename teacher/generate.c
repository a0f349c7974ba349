#include "teacher/generate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "teacher/deepseek.h"

typedef struct seq {
    tch_request_t req;          /* arrays below are owned copies */
    int32_t *tokens;            /* [n_tokens]: prompt, then generated */
    int32_t n_tokens, cap, n_prompt, n_cached;
    int32_t *stop_ids;
    char **stop_strs;
    tch_pages_t pages;
    tok_stream_t *stream;
    char *text;
    size_t text_len, text_cap;
    double t0;
    uint64_t order;             /* admission order: the newest is preempted first */
    /* speculative decoding: once the main cache holds every token but the last, the MTP
     * cache holds entries [0, n_cached) and these describe its last entry */
    float *mtp_h;               /* [C] its shared_head.norm output: the first chained draft's input */
    float *mtp_logits;          /* [V] its draft logits: the first draft's */
    int32_t n_draft;            /* drafts verified in the current step */
} seq_t;

const char *tch_finish_name(tch_finish_t f) {
    switch (f) {
    case TCH_FINISH_STOP: return "stop";
    case TCH_FINISH_LENGTH: return "length";
    case TCH_FINISH_ERROR: return "error";
    }
    return "?";
}

void tch_gen_opts_default(tch_gen_opts_t *o) {
    *o = (tch_gen_opts_t){.max_batch = 32, .kv_bytes = (size_t)1 << 30, .block_size = 16, .max_step_tokens = 512};
}

void tch_gen_stats_spec_line(const tch_gen_stats_t *s, char *buf, size_t n) {
    snprintf(buf, n, "MTP speculative decoding: %lld of %lld drafts accepted (%.1f%%), %.2f tokens per main-model forward "
             "per sequence, %.2f over the batch (%lld tokens, %lld forwards)", (long long)s->accepted,
             (long long)s->drafted, s->drafted ? 100.0 * (double)s->accepted / (double)s->drafted : 0.0,
             s->verifies ? (double)(s->accepted + s->verifies) / (double)s->verifies : 0.0,
             s->steps ? (double)s->new_tokens / (double)s->steps : 0.0, (long long)s->new_tokens, (long long)s->steps);
}

static void seq_free(seq_t *s) {
    if (!s) return;
    free(s->tokens);
    free(s->stop_ids);
    for (int i = 0; s->stop_strs && i < s->req.n_stop_strs; i++) free(s->stop_strs[i]);
    free(s->stop_strs);
    free(s->pages.ids);
    tok_stream_free(s->stream);
    free(s->text);
    free(s->mtp_h);
    free(s->mtp_logits);
    free(s);
}

/* spec: C and V of the model when speculating (then the MTP state is allocated), else 0 */
static seq_t *seq_new(const tch_request_t *r, const tok_t *tok, int64_t spec_C, int64_t spec_V) {
    seq_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->req = *r;
    s->cap = r->n_prompt + (r->max_new > 0 ? r->max_new : 0) + 1;
    s->tokens = malloc((size_t)s->cap * sizeof(int32_t));
    s->stop_ids = malloc((size_t)(r->n_stop_ids + 1) * sizeof(int32_t));
    s->stop_strs = calloc((size_t)r->n_stop_strs + 1, sizeof(char *));
    if (!s->tokens || !s->stop_ids || !s->stop_strs) goto fail;
    if (r->n_prompt) memcpy(s->tokens, r->prompt, (size_t)r->n_prompt * sizeof(int32_t));
    if (r->n_stop_ids) memcpy(s->stop_ids, r->stop_ids, (size_t)r->n_stop_ids * sizeof(int32_t));
    for (int i = 0; i < r->n_stop_strs; i++)
        if (!(s->stop_strs[i] = strdup(r->stop_strs[i]))) goto fail;
    s->n_tokens = s->n_prompt = r->n_prompt;
    s->req.prompt = s->tokens;
    s->req.stop_ids = s->stop_ids;
    s->req.stop_strs = (const char *const *)s->stop_strs;
    if (tok && !(s->stream = tok_stream_init(tok, 1))) goto fail;
    if (spec_C && (!(s->mtp_h = malloc((size_t)spec_C * sizeof(float))) ||
                   !(s->mtp_logits = malloc((size_t)spec_V * sizeof(float)))))
        goto fail;
    return s;
fail:
    seq_free(s);
    return NULL;
}

static int text_append(seq_t *s, const char *piece) {
    size_t n = strlen(piece);
    if (s->text_len + n + 1 > s->text_cap) {
        size_t cap = s->text_cap ? s->text_cap * 2 : 256;
        while (cap < s->text_len + n + 1) cap *= 2;
        char *t = realloc(s->text, cap);
        if (!t) return 0;
        s->text = t;
        s->text_cap = cap;
    }
    memcpy(s->text + s->text_len, piece, n + 1);
    s->text_len += n;
    return 1;
}

typedef struct sched {
    const tch_model_t *m;
    ops_t *o;
    const tch_gen_opts_t *opts;
    tch_kv_t kv;
    tch_ws_t ws;
    seq_t **run;                /* [n_run] running sequences, oldest admission first */
    int n_run;
    seq_t **requeue;            /* preempted, served before the source (LIFO) */
    int n_requeue;
    uint64_t next_order;
    int source_done;
    ops_attn_seq_t *batch;      /* [max_batch] sequences of the current step */
    int32_t *toks;              /* [max_step_tokens + max_batch * (1 + spec)] their new rows' tokens */
    float *logits;              /* [max_batch, V] their last rows; spec: [max_batch * (1 + spec), V] */
    void *scratch;              /* sampling */
    uint8_t *seen;              /* [V] repetition-penalty marks */
    tch_gen_stats_t *stats;
    /* speculative decoding */
    int spec;                   /* drafts per sequence per step; 0 = off */
    float *hn;                  /* [step tokens, C] main hidden states of the step */
    float *mtp_in, *mtp_out;    /* [step tokens, C] MTP inputs (gathered) and outputs */
    int32_t *mtp_tok;           /* [step tokens] */
    ops_attn_seq_t *mtp_seqs;   /* [max_batch] */
    seq_t **mtp_who;            /* [max_batch] the sequence of each MTP batch entry */
    int32_t *drafts;            /* [max_batch, spec] */
    float *q;                   /* [max_batch, spec, V] draft distributions (sampling) */
    float *p;                   /* [V] */
} sched_t;

static r1d_status finish(sched_t *S, int idx, tch_finish_t why, const char *error, tch_sink_fn sink, void *ctx,
                         err_t *e) {
    seq_t *s = S->run[idx];
    if (s->stream && why != TCH_FINISH_ERROR) {
        char *tail = NULL;
        if (tok_stream_finish(s->stream, &tail, e) == R1D_OK && tail) text_append(s, tail);
        free(tail);
    }
    tch_result_t r = {
        .id = s->req.id, .user = s->req.user, .ids = s->tokens + s->n_prompt, .n_ids = s->n_tokens - s->n_prompt,
        .text = s->stream ? (s->text ? s->text : "") : NULL, .finish = why, .error = error,
        .n_prompt = s->n_prompt, .seconds = time_now() - s->t0,
    };
    S->stats->new_tokens += r.n_ids;
    tch_kv_release(&S->kv, &s->pages);
    memmove(S->run + idx, S->run + idx + 1, (size_t)(--S->n_run - idx) * sizeof *S->run);
    r1d_status st = sink(ctx, &r, e);
    seq_free(s);
    return st;
}

/* Speculative sampling compares the filtered distributions (ops_sample_probs); a repetition
 * penalty would make the target depend on tokens not yet accepted. */
static int spec_sampling_ok(const tch_request_t *r) {
    return !(r->repetition_penalty > 0 && r->repetition_penalty != 1.0f);
}

/* Admits waiting requests while there are slots and blocks for their whole prompt. */
static r1d_status admit(sched_t *S, tch_source_fn source, tch_sink_fn sink, void *ctx, err_t *e) {
    int64_t max_pos = S->m->cfg.max_position_embeddings;
    while (S->n_run < S->opts->max_batch) {
        seq_t *s;
        if (S->n_requeue) {
            s = S->requeue[S->n_requeue - 1];
        } else {
            if (S->source_done) return R1D_OK;
            tch_request_t r;
            int has = 0;
            TRY(source(ctx, &r, &has, e));
            if (!has) {
                S->source_done = 1;
                return R1D_OK;
            }
            int64_t sC = S->spec ? S->m->cfg.hidden_size : 0, sV = S->spec ? S->m->cfg.vocab_size : 0;
            if (!(s = seq_new(&r, S->opts->tok, sC, sV))) return ERR(e, R1D_ENOMEM, "out of memory for request");
            s->t0 = time_now();
            S->stats->requests++;
            S->stats->prompt_tokens += s->n_prompt;
            /* a prompt that can never run is that request's error, not the run's */
            const char *why = NULL;
            char msg[160];
            if (s->n_prompt == 0) why = "empty prompt";
            else if (max_pos > 0 && s->n_prompt >= max_pos)
                why = msg, snprintf(msg, sizeof msg, "prompt of %d tokens does not fit the context of %lld", s->n_prompt,
                                    (long long)max_pos);
            else if (S->spec && !spec_sampling_ok(&r))
                why = "speculative decoding takes no repetition penalty";
            else if (tch_kv_blocks_for(&S->kv, s->n_prompt + 1) > S->kv.n_blocks)
                why = msg, snprintf(msg, sizeof msg, "prompt of %d tokens does not fit the KV cache (%lld tokens; raise --kv-mem)",
                                    s->n_prompt, (long long)S->kv.n_blocks * S->kv.block_size);
            if (why) {
                S->run[S->n_run++] = s;
                TRY(finish(S, S->n_run - 1, TCH_FINISH_ERROR, why, sink, ctx, e));
                continue;
            }
            S->requeue[S->n_requeue++] = s; /* staged until it fits */
        }
        if (tch_kv_blocks_for(&S->kv, s->n_tokens + 1) > S->kv.n_free) return R1D_OK;
        S->n_requeue--;
        s->order = S->next_order++;
        S->run[S->n_run++] = s;
    }
    return R1D_OK;
}

/* Frees the newest running sequence (the last one); it restarts from its tokens later,
 * drawing the same random numbers, so preemption never changes an output. */
static void preempt_newest(sched_t *S) {
    seq_t *s = S->run[--S->n_run];
    tch_kv_release(&S->kv, &s->pages);
    s->n_cached = 0;
    S->requeue[S->n_requeue++] = s;
    S->stats->preemptions++;
}

static void apply_repetition_penalty(sched_t *S, const seq_t *s, float *row) {
    float p = s->req.repetition_penalty;
    if (p <= 0 || p == 1.0f) return;
    for (int32_t i = 0; i < s->n_tokens; i++) {
        int32_t t = s->tokens[i];
        if (S->seen[t]) continue;
        S->seen[t] = 1;
        row[t] = row[t] > 0 ? row[t] / p : row[t] * p;
    }
    for (int32_t i = 0; i < s->n_tokens; i++) S->seen[s->tokens[i]] = 0;
}

/* Appends the sampled token; returns the finish reason, or -1 to go on. */
static int accept_token(sched_t *S, seq_t *s, int32_t tok, err_t *e) {
    s->tokens[s->n_tokens++] = tok;
    int32_t n_new = s->n_tokens - s->n_prompt;
    if (s->stream) {
        char *piece = NULL;
        if (tok_stream_push(s->stream, tok, &piece, e) != R1D_OK) return TCH_FINISH_ERROR;
        size_t before = s->text_len;
        int ok = text_append(s, piece ? piece : "");
        free(piece);
        if (!ok) return TCH_FINISH_ERROR;
        for (int i = 0; i < s->req.n_stop_strs; i++) {
            size_t L = strlen(s->stop_strs[i]);
            size_t from = before + 1 > L ? before + 1 - L : 0;
            char *hit = L ? strstr(s->text + from, s->stop_strs[i]) : NULL;
            if (hit) {
                s->text_len = (size_t)(hit - s->text);
                s->text[s->text_len] = 0;
                return TCH_FINISH_STOP;
            }
        }
    }
    for (int i = 0; i < s->req.n_stop_ids; i++)
        if (tok == s->stop_ids[i]) return TCH_FINISH_STOP;
    int64_t max_pos = S->m->cfg.max_position_embeddings;
    if (n_new >= s->req.max_new || (max_pos > 0 && s->n_tokens >= max_pos)) return TCH_FINISH_LENGTH;
    return -1;
}

/* Rows a sequence wants in this step: the rest of its prompt (a chunk within the budget),
 * or its decode rows: the last token, plus the drafts it will verify when speculating
 * (none past max_new or the context: those tokens would be cut anyway). With
 * speculation a preempted sequence re-reads all its tokens but the last, which leaves it
 * ready to draft exactly where it stopped. *decode: 1 for decode rows. */
static int32_t rows_wanted(const sched_t *S, seq_t *s, int32_t budget, int *decode) {
    int32_t gen = s->n_tokens - s->n_prompt;
    int32_t upto = S->spec && gen > 0 ? s->n_tokens - 1 : s->n_tokens;
    int32_t pending = upto - s->n_cached;
    s->n_draft = 0;
    *decode = pending == 1 || (S->spec && pending == 0);
    if (!S->spec || pending > 0) return pending == 1 ? 1 : (pending < budget ? pending : budget);
    int64_t max_pos = S->m->cfg.max_position_embeddings;
    int32_t nd = S->spec, left = s->req.max_new - gen - 1;
    if (nd > left) nd = left;
    if (max_pos > 0 && nd > max_pos - s->n_tokens - 1) nd = (int32_t)(max_pos - s->n_tokens - 1);
    s->n_draft = nd > 0 ? nd : 0;
    return 1 + s->n_draft;
}

/* inverse-CDF draw from probs[V] (need not be normalised; total > 0) */
static int32_t draw(const float *probs, int64_t V, double u) {
    double total = 0;
    for (int64_t i = 0; i < V; i++) total += probs[i];
    double acc = 0, x = u * total;
    int32_t last = 0;
    for (int64_t i = 0; i < V; i++) {
        if (probs[i] <= 0) continue;
        acc += probs[i];
        last = (int32_t)i;
        if (x < acc) return last;
    }
    return last;
}

/* The draws of speculative sampling for generated position P (see generate.h). */
enum { DRAW_DRAFT = 0, DRAW_ACCEPT = 1, DRAW_TOKEN = 2 };
static double spec_u(const seq_t *s, int64_t P, int kind) {
    return rng_uniform_f64(s->req.seed, s->req.id, 4 * (uint64_t)P + (uint64_t)kind);
}

/* Chooses each decode sequence's drafts: the first from the draft logits left by the
 * last step, then one batched MTP call per further draft, each entry pairing the previous
 * MTP output with the previous draft. */
static r1d_status draft(sched_t *S, int B, err_t *e) {
    const tch_model_t *m = S->m;
    int64_t C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    for (int j = 0; j < S->spec; j++) {
        int n = 0;
        for (int b = 0; b < B; b++) {
            seq_t *s = S->run[b];
            if (s->n_draft <= j) continue;
            const float *lg = s->mtp_logits;
            if (j > 0) { /* entry n_cached + j - 1: (previous output, previous draft) -> draft j */
                memcpy(S->mtp_in + (size_t)n * C, s->mtp_h, (size_t)C * sizeof(float));
                S->mtp_tok[n] = S->drafts[b * S->spec + j - 1];
                S->mtp_seqs[n] = (ops_attn_seq_t){1, s->n_cached + j, s->pages.ids};
                S->mtp_who[n++] = s;
                continue;
            }
            int32_t *d = &S->drafts[b * S->spec];
            if (s->req.sampling.temperature <= 0) {
                d[0] = ops_argmax(lg, V);
            } else {
                float *q = S->q + (size_t)b * S->spec * V;
                ops_sample_probs(lg, V, &s->req.sampling, q, S->scratch);
                d[0] = draw(q, V, spec_u(s, s->n_tokens - s->n_prompt, DRAW_DRAFT));
            }
        }
        if (j == 0 || n == 0) continue;
        TRY(tch_ds_mtp(m, S->o, &S->kv, S->mtp_seqs, n, S->mtp_tok, S->mtp_in, S->mtp_out, e));
        TRY(tch_ds_mtp_head(m, S->o, S->mtp_out, n, S->logits, e));
        for (int k = 0, b = 0; k < n; k++) {
            seq_t *s = S->mtp_who[k];
            while (S->run[b] != s) b++;
            memcpy(s->mtp_h, S->mtp_out + (size_t)k * C, (size_t)C * sizeof(float));
            const float *lg = S->logits + (size_t)k * V;
            int32_t *d = &S->drafts[b * S->spec];
            if (s->req.sampling.temperature <= 0) {
                d[j] = ops_argmax(lg, V);
            } else {
                float *q = S->q + ((size_t)b * S->spec + j) * V;
                ops_sample_probs(lg, V, &s->req.sampling, q, S->scratch);
                d[j] = draw(q, V, spec_u(s, s->n_tokens - s->n_prompt + j, DRAW_DRAFT));
            }
        }
    }
    return R1D_OK;
}

/* Verification of sequence b's drafts against the main model's rows lg[1 + n_draft, V]:
 * the number accepted, and the token after them. */
static int verify(sched_t *S, int b, const float *lg, int32_t *next) {
    seq_t *s = S->run[b];
    int64_t V = S->m->cfg.vocab_size;
    const int32_t *d = &S->drafts[b * S->spec];
    int a = 0;
    if (s->req.sampling.temperature <= 0) {
        while (a < s->n_draft && ops_argmax(lg + (size_t)a * V, V) == d[a]) a++;
        *next = ops_argmax(lg + (size_t)a * V, V);
        return a;
    }
    int64_t P0 = s->n_tokens - s->n_prompt;
    for (;; a++) {
        ops_sample_probs(lg + (size_t)a * V, V, &s->req.sampling, S->p, S->scratch);
        if (a == s->n_draft) { /* every draft kept: one more token from p */
            *next = draw(S->p, V, spec_u(s, P0 + a, DRAW_TOKEN));
            return a;
        }
        const float *q = S->q + ((size_t)b * S->spec + a) * V;
        if (spec_u(s, P0 + a, DRAW_ACCEPT) * q[d[a]] < S->p[d[a]]) continue; /* kept with probability min(1, p/q) */
        for (int64_t i = 0; i < V; i++) S->p[i] = S->p[i] > q[i] ? S->p[i] - q[i] : 0.0f;
        *next = draw(S->p, V, spec_u(s, P0 + a, DRAW_TOKEN));
        return a;
    }
}

/* The MTP catches up over the rows this step added to the main cache (their next tokens
 * are all known now), one batched call; each sequence keeps its last entry's output and,
 * when it is ready to decode, that entry's draft logits. who[k]/first[k]/n[k]: sequence,
 * its first new position, its new rows; rows of hn at hrow[k]. */
static r1d_status catch_up(sched_t *S, int K, seq_t **who, const int32_t *first, const int32_t *n, const int64_t *hrow,
                           err_t *e) {
    const tch_model_t *m = S->m;
    int64_t C = m->cfg.hidden_size, V = m->cfg.vocab_size;
    if (K == 0) return R1D_OK;
    int64_t t = 0;
    for (int k = 0; k < K; k++) {
        memcpy(S->mtp_in + t * C, S->hn + hrow[k] * C, (size_t)n[k] * (size_t)C * sizeof(float));
        memcpy(S->mtp_tok + t, who[k]->tokens + first[k] + 1, (size_t)n[k] * sizeof(int32_t));
        S->mtp_seqs[k] = (ops_attn_seq_t){n[k], first[k] + n[k], who[k]->pages.ids};
        t += n[k];
    }
    TRY(tch_ds_mtp(m, S->o, &S->kv, S->mtp_seqs, K, S->mtp_tok, S->mtp_in, S->mtp_out, e));
    int R = 0;
    t = 0;
    for (int k = 0; k < K; k++) {
        t += n[k];
        memcpy(who[k]->mtp_h, S->mtp_out + (t - 1) * C, (size_t)C * sizeof(float));
        if (who[k]->n_cached == who[k]->n_tokens - 1) /* ready to draft: its logits row */
            memcpy(S->mtp_in + (size_t)R++ * C, who[k]->mtp_h, (size_t)C * sizeof(float));
    }
    TRY(tch_ds_mtp_head(m, S->o, S->mtp_in, R, S->logits, e));
    for (int k = 0, r = 0; k < K; k++)
        if (who[k]->n_cached == who[k]->n_tokens - 1)
            memcpy(who[k]->mtp_logits, S->logits + (size_t)r++ * V, (size_t)V * sizeof(float));
    return R1D_OK;
}

/* Appends tokens one by one until one finishes the sequence; returns the finish reason,
 * or -1 when all were taken. The tokens after a finishing one are dropped. */
static int accept_tokens(sched_t *S, seq_t *s, const int32_t *toks, int n, err_t *e) {
    for (int i = 0; i < n; i++) {
        int why = accept_token(S, s, toks[i], e);
        if (why >= 0) return why;
    }
    return -1;
}

/* The speculative step after the batch is set: drafts, one main forward over every
 * sequence's rows, verification, the MTP's catch-up. */
static r1d_status step_spec(sched_t *S, int B, tch_sink_fn sink, void *ctx, err_t *e) {
    const tch_model_t *m = S->m;
    int64_t V = m->cfg.vocab_size;
    ops_attn_seq_t *batch = S->batch;
    int32_t *toks = S->toks;
    TRY(draft(S, B, e));
    int64_t T = 0;
    for (int b = 0; b < B; b++) {
        seq_t *s = S->run[b];
        memcpy(toks + T, s->tokens + s->n_cached, (size_t)(batch[b].n_new - s->n_draft) * sizeof(int32_t));
        memcpy(toks + T + batch[b].n_new - s->n_draft, &S->drafts[b * S->spec], (size_t)s->n_draft * sizeof(int32_t));
        T += batch[b].n_new;
    }
    TRY(tch_ds_hidden(m, S->o, &S->kv, batch, B, toks, S->hn, e));
    S->stats->steps++;
    /* logits for decode rows, and for the last row of a prompt that is complete now */
    int64_t rows = 0, *lrow = malloc((size_t)B * sizeof *lrow), *hrow = malloc((size_t)B * sizeof *hrow);
    int64_t *hk = malloc((size_t)B * sizeof *hk);
    int32_t *first = malloc((size_t)B * sizeof *first), *nk = malloc((size_t)B * sizeof *nk);
    seq_t **who = malloc((size_t)B * sizeof *who);
    if (!lrow || !hrow || !hk || !first || !nk || !who) {
        free(lrow), free(hrow), free(hk), free(first), free(nk), free(who);
        return ERR(e, R1D_ENOMEM, "out of memory");
    }
    int64_t C = m->cfg.hidden_size;
    for (int b = 0, t = 0; b < B; b++) {
        seq_t *s = S->run[b];
        int32_t n = batch[b].n_new, gen = s->n_tokens - s->n_prompt;
        hrow[b] = t;
        lrow[b] = -1;
        /* decode rows, or a completed prompt's last */
        int want = gen > 0 ? (s->n_cached == s->n_tokens - 1 ? n : 0) : s->n_cached + n == s->n_tokens;
        if (want) {
            lrow[b] = rows;
            memcpy(S->mtp_out + rows * C, S->hn + (t + n - want) * C, (size_t)want * (size_t)C * sizeof(float));
            rows += want;
        }
        t += n;
    }
    r1d_status st = tch_ds_logits(m, S->o, S->mtp_out, rows, S->logits, e);
    int K = 0;
    /* backwards, so that finishing one does not shift those still to visit; the survivors'
     * catch-up entries are collected in reverse and flipped */
    for (int b = B - 1; b >= 0 && st == R1D_OK; b--) {
        seq_t *s = S->run[b];
        int32_t n = batch[b].n_new, gen = s->n_tokens - s->n_prompt, c0 = s->n_cached;
        int why = -1, keep = n;
        if (gen > 0 && c0 == s->n_tokens - 1) { /* decode: verify */
            int32_t next, kept[17];
            int a = verify(S, b, S->logits + lrow[b] * V, &next);
            S->stats->drafted += s->n_draft;
            S->stats->accepted += a;
            S->stats->verifies++;
            memcpy(kept, &S->drafts[b * S->spec], (size_t)a * sizeof(int32_t));
            kept[a] = next;
            keep = a + 1;
            why = accept_tokens(S, s, kept, a + 1, e);
        } else if (gen == 0 && lrow[b] >= 0) { /* the prompt is read: its first token, as without speculation */
            float *row = S->logits + lrow[b] * V;
            int32_t tok = ops_sample(row, V, &s->req.sampling, rng_uniform_f64(s->req.seed, s->req.id, 0), S->scratch);
            why = accept_token(S, s, tok, e);
        }
        if (why >= 0) {
            st = finish(S, b, (tch_finish_t)why, why == TCH_FINISH_ERROR ? e->msg : NULL, sink, ctx, e);
            continue;
        }
        s->n_cached = c0 + keep;
        who[K] = s, first[K] = c0, nk[K] = keep, hk[K] = hrow[b];
        K++;
    }
    for (int i = 0; i < K / 2; i++) { /* oldest first, as the batch */
        seq_t *w = who[i];
        who[i] = who[K - 1 - i], who[K - 1 - i] = w;
        int32_t f = first[i], n = nk[i];
        first[i] = first[K - 1 - i], first[K - 1 - i] = f;
        nk[i] = nk[K - 1 - i], nk[K - 1 - i] = n;
        int64_t h = hk[i];
        hk[i] = hk[K - 1 - i], hk[K - 1 - i] = h;
    }
    if (st == R1D_OK) st = catch_up(S, K, who, first, nk, hk, e);
    free(lrow), free(hrow), free(hk), free(first), free(nk), free(who);
    return st;
}

/* One forward pass: every running sequence's decode rows plus prompt chunks within the
 * step's token budget, oldest first; when blocks run out the newest sequences are
 * preempted. */
static r1d_status step(sched_t *S, tch_sink_fn sink, void *ctx, err_t *e) {
    int B = 0;
    int32_t budget = S->opts->max_step_tokens;
    ops_attn_seq_t *batch = S->batch;
    int32_t *toks = S->toks; /* decode rows are not charged to the budget: T <= budget + max_batch * (1 + spec) */
    float *logits = S->logits;
    r1d_status st = R1D_OK;
    for (int i = 0; i < S->n_run;) {
        seq_t *s = S->run[i];
        int decode;
        int32_t n = rows_wanted(S, s, budget, &decode);
        if (n <= 0) break; /* budget spent: later prompts wait */
        while (!tch_kv_reserve(&S->kv, &s->pages, s->n_cached + n) && S->n_run > i + 1) preempt_newest(S);
        if (i == 0 && s->n_draft && s->pages.n < tch_kv_blocks_for(&S->kv, s->n_cached + n)) {
            /* alone and still short: decode without drafts (the one case where a sequence's step
             * boundaries, and so its sampled output, depend on the cache size) */
            s->n_draft = 0;
            n = 1;
            tch_kv_reserve(&S->kv, &s->pages, s->n_cached + n);
        }
        if (s->pages.n < tch_kv_blocks_for(&S->kv, s->n_cached + n)) {
            if (i > 0) { /* the newest itself: back to the queue until blocks free up */
                preempt_newest(S);
                break;
            }
            st = finish(S, i, TCH_FINISH_ERROR, "the KV cache cannot hold this sequence (raise --kv-mem)", sink, ctx, e);
            if (st != R1D_OK) return st;
            continue;
        }
        batch[B++] = (ops_attn_seq_t){n, s->n_cached + n, s->pages.ids};
        if (!decode) budget -= n;
        i++;
    }
    if (B == 0) return R1D_OK;
    if (S->spec) return step_spec(S, B, sink, ctx, e);
    int64_t V = S->m->cfg.vocab_size;
    for (int b = 0, t = 0; b < B; b++) {
        memcpy(toks + t, S->run[b]->tokens + S->run[b]->n_cached, (size_t)batch[b].n_new * sizeof(int32_t));
        t += batch[b].n_new;
    }
    if ((st = tch_forward(S->m, &S->ws, &S->kv, batch, B, toks, 0, logits, e)) != R1D_OK) return st;
    S->stats->steps++;
    /* batch b is run[b]; walk backwards so finishing one does not shift those still to visit */
    for (int b = B - 1; b >= 0; b--) {
        seq_t *s = S->run[b];
        s->n_cached += batch[b].n_new;
        if (s->n_cached < s->n_tokens) continue; /* prompt not fully read yet */
        float *row = logits + (size_t)b * V;
        apply_repetition_penalty(S, s, row);
        uint64_t pos = (uint64_t)(s->n_tokens - s->n_prompt);
        int32_t tok = ops_sample(row, V, &s->req.sampling, rng_uniform_f64(s->req.seed, s->req.id, pos), S->scratch);
        int why = accept_token(S, s, tok, e);
        if (why >= 0 && (st = finish(S, b, (tch_finish_t)why, why == TCH_FINISH_ERROR ? e->msg : NULL, sink, ctx, e)) != R1D_OK)
            return st;
    }
    return R1D_OK;
}

r1d_status tch_generate(const tch_model_t *m, ops_t *o, const tch_gen_opts_t *opts, tch_source_fn source,
                        tch_sink_fn sink, void *ctx, tch_gen_stats_t *stats, err_t *e) {
    tch_gen_stats_t local = {0};
    if (!stats) stats = &local;
    *stats = (tch_gen_stats_t){0};
    sched_t S = {.m = m, .o = o, .opts = opts, .stats = stats, .spec = opts->spec_draft};
    const cfg_model_t *c = &m->cfg;
    if (S.spec) {
        if (S.spec < 0 || S.spec > 16) return ERR(e, R1D_EINVAL, "--draft %d: expected 1..16 draft tokens", S.spec);
        TRY(tch_ds_check_mtp(m, e));
    }
    TRY(tch_kv_init_model(&S.kv, o, m, opts->block_size, opts->kv_bytes, e));
    tch_ws_init(&S.ws, o);
    r1d_status st = R1D_OK;
    size_t nb = (size_t)opts->max_batch, V = (size_t)c->vocab_size, C = (size_t)c->hidden_size;
    size_t step_toks = (size_t)opts->max_step_tokens + nb * (size_t)(1 + S.spec);
    S.run = calloc(nb, sizeof *S.run);
    S.requeue = calloc(nb + 1, sizeof *S.requeue);
    S.batch = malloc(nb * sizeof *S.batch);
    S.toks = malloc(step_toks * sizeof *S.toks);
    S.logits = malloc(nb * (size_t)(1 + S.spec) * V * sizeof *S.logits);
    S.scratch = malloc(ops_sample_scratch_size(c->vocab_size));
    S.seen = calloc(V, 1);
    int spec_oom = 0;
    if (S.spec) {
        S.hn = malloc(step_toks * C * sizeof *S.hn);
        S.mtp_in = malloc(step_toks * C * sizeof *S.mtp_in);
        S.mtp_out = malloc(step_toks * C * sizeof *S.mtp_out);
        S.mtp_tok = malloc(step_toks * sizeof *S.mtp_tok);
        S.mtp_seqs = malloc(nb * sizeof *S.mtp_seqs);
        S.mtp_who = malloc(nb * sizeof *S.mtp_who);
        S.drafts = malloc(nb * (size_t)S.spec * sizeof *S.drafts);
        S.q = malloc(nb * (size_t)S.spec * V * sizeof *S.q);
        S.p = malloc(V * sizeof *S.p);
        spec_oom = !S.hn || !S.mtp_in || !S.mtp_out || !S.mtp_tok || !S.mtp_seqs || !S.mtp_who || !S.drafts || !S.q || !S.p;
    }
    if (!S.run || !S.requeue || !S.batch || !S.toks || !S.logits || !S.scratch || !S.seen || spec_oom) {
        st = ERR(e, R1D_ENOMEM, "out of memory");
        goto out;
    }
    double t0 = time_now();
    for (;;) {
        if ((st = admit(&S, source, sink, ctx, e)) != R1D_OK) break;
        if (S.n_run == 0) break;
        if ((st = step(&S, sink, ctx, e)) != R1D_OK) break;
    }
    stats->seconds = time_now() - t0;
out:
    for (int i = 0; i < S.n_run; i++) seq_free(S.run[i]);
    for (int i = 0; i < S.n_requeue; i++) seq_free(S.requeue[i]);
    free(S.run), free(S.requeue), free(S.batch), free(S.toks), free(S.logits), free(S.scratch), free(S.seen);
    free(S.hn), free(S.mtp_in), free(S.mtp_out), free(S.mtp_tok), free(S.mtp_seqs), free(S.mtp_who), free(S.drafts);
    free(S.q), free(S.p);
    tch_ws_free(&S.ws);
    tch_kv_free(&S.kv);
    return st;
}
