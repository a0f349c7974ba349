#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "teacher/backend.h"
#include "teacher/batch.h"

void ev_gen_cfg_default(ev_gen_cfg_t *c) {
    c->model_dir = NULL;
    c->k = 64;
    c->temperature = 0.6;
    c->top_p = 0.95;
    c->max_new = 32768;
    c->seed = 0;
    c->backend = "cpu";
}

r1d_status ev_gen_cfg_check(const ev_gen_cfg_t *c, err_t *e) {
    if (!c->model_dir || !*c->model_dir) return ERR(e, R1D_EINVAL, "--model: expected a model folder");
    if (c->k < 1 || c->k > 1000000) return ERR(e, R1D_EINVAL, "--k %d: expected 1..1000000 samples per problem", c->k);
    if (!isfinite(c->temperature) || c->temperature < 0 || c->temperature > 10)
        return ERR(e, R1D_EINVAL, "--temperature %g: expected 0..10 (0 = greedy)", c->temperature);
    if (!isfinite(c->top_p) || c->top_p <= 0 || c->top_p > 1)
        return ERR(e, R1D_EINVAL, "--top-p %g: expected a value in (0, 1]", c->top_p);
    if (c->max_new < 1) return ERR(e, R1D_EINVAL, "--max-new %d: expected at least 1 token", c->max_new);
    return R1D_OK;
}

/* The set becomes a prompt-records file beside the output, and the engine's resumable
 * batch job turns it into k samples per problem: an interrupted eval picks up where
 * it stopped. */
static r1d_status write_prompts(const ev_set_t *set, const char *path, err_t *e) {
    file_atomic_t w;
    TRY(file_atomic_open(&w, path, e));
    r1d_status st = R1D_OK;
    for (size_t i = 0; i < set->n && st == R1D_OK; i++) {
        char *prompt = ev_set_prompt(set, i);
        json_t *rec = prompt ? json_pack("{s:s,s:s}", "id", set->problems[i].id, "prompt", prompt) : NULL;
        st = rec ? jsonl_write(w.fp, rec, e) : ERR(e, R1D_ENOMEM, "%s: cannot build the prompt of problem %zu", set->path, i);
        json_decref(rec);
        free(prompt);
    }
    if (st != R1D_OK) {
        file_atomic_abort(&w);
        return st;
    }
    return file_atomic_commit(&w, e);
}

r1d_status ev_gen_run(const ev_gen_cfg_t *c, const ev_set_t *set, const char *out_jsonl, err_t *e) {
    char prompts[4200];
    snprintf(prompts, sizeof prompts, "%s", out_jsonl);
    char *slash = strrchr(prompts, '/');
    if (slash) {
        *slash = 0;
        TRY(file_mkdirs(prompts, e));
    }
    snprintf(prompts, sizeof prompts, "%s.prompts.jsonl", out_jsonl);
    TRY(write_prompts(set, prompts, e));
    tch_model_t *m = NULL;
    tch_engine_t en = {0};
    tok_t *tok = NULL;
    int32_t stop[CFG_MAX_IDS];
    r1d_status st = tch_model_load(&m, c->model_dir, e);
    if (st == R1D_OK) st = tch_engine_open(&en, c->backend ? c->backend : "cpu", m, e);
    if (st == R1D_OK) st = tok_load(&tok, c->model_dir, e);
    if (st == R1D_OK) {
        tch_batch_opts_t b = {.in_path = prompts, .out_path = out_jsonl, .n_samples = c->k, .max_new = c->max_new,
                              .sampling = {(float)c->temperature, (float)c->top_p, 0.0f, 0}, .seed = c->seed,
                              .stop_ids = stop, .n_stop_ids = tch_model_stop_ids(m, stop, CFG_MAX_IDS), .tok = tok,
                              .teacher = c->model_dir};
        tch_gen_opts_default(&b.gen);
        b.gen.tok = tok;
        int from_model = !set->chat_template || !strcmp(set->chat_template, "auto");
        st = from_model ? chat_template_from_model_dir(c->model_dir, &b.chat, e)
                        : chat_template_by_name(set->chat_template, &b.chat, e);
        tch_batch_stats_t bs;
        if (st == R1D_OK) st = tch_batch_run(en.m, en.o, &b, &bs, e);
        if (st == R1D_OK)
            log_info("eval generation: %lld samples written, %lld already done, %lld new tokens in %.1f s",
                     (long long)bs.written, (long long)bs.resumed, (long long)bs.gen.new_tokens, bs.gen.seconds);
    }
    tok_free(tok);
    tch_engine_close(&en);
    tch_model_free(m);
    return st;
}
