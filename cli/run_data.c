/* Data stages of `r1d run`: the demo task, teacher generation, verification and filters
 * (with the non-reasoning mix), dedup, decontamination, export. Each calls its module the
 * way the matching subcommand does and writes only in its own folder. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cli/run.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "dataset/decontam.h"
#include "dataset/dedup.h"
#include "dataset/export.h"
#include "dataset/filter_run.h"
#include "dataset/mix.h"
#include "dataset/synth.h"
#include "dataset/teach.h"
#include "teacher/backend.h"
#include "teacher/batch.h"
#include "teacher/deepseek.h"

r1d_status run_synth(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    (void)outs;
    const mf_t *m = c->m;
    ds_synth_cfg_t s = {.seed = (uint64_t)mf_i64(m, "synth.seed", 0), .n_prompts = mf_i64(m, "synth.n_prompts", 0),
                        .n_eval = mf_i64(m, "synth.n_eval", 0), .n_sft = mf_i64(m, "synth.n_sft", 0),
                        .min_ops = (int)mf_i64(m, "synth.min_ops", 1), .max_ops = (int)mf_i64(m, "synth.max_ops", 1),
                        .contaminate = mf_f64(m, "synth.contaminate", 0)};
    TRY(ds_synth_write(&s, sdir, e));
    log_info("synth: %lld prompts, %lld eval problems, %lld worked solutions", (long long)s.n_prompts,
             (long long)s.n_eval, (long long)s.n_sft);
    return R1D_OK;
}

/* ---- generate ---- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t id_hash(const json_t *rec) {
    const char *id = json_string_value(json_object_get(rec, "id"));
    return id ? XXH3_64bits(id, strlen(id)) : UINT64_MAX;
}

/* prompts.cap: keeps the `cap` records of `all` whose ids hash lowest (the choice does not
 * depend on file order), in file order, into out. */
static r1d_status cap_prompts(const char *all, const char *out, int64_t n, int64_t cap, err_t *e) {
    uint64_t *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    if (!h) return ERR(e, R1D_ENOMEM, "out of memory");
    jsonl_reader_t *r = NULL;
    json_t *j;
    int64_t k = 0;
    r1d_status st = jsonl_open(&r, all, e);
    while (st == R1D_OK && (st = jsonl_next(r, &j, e)) == R1D_OK && j) {
        if (k < n) h[k++] = id_hash(j);
        json_decref(j);
    }
    jsonl_close(r);
    qsort(h, (size_t)k, sizeof *h, cmp_u64);
    uint64_t thr = k > cap ? h[cap - 1] : UINT64_MAX;
    free(h);
    TRY(st);
    file_atomic_t w;
    TRY(jsonl_open(&r, all, e));
    if ((st = file_atomic_open(&w, out, e)) == R1D_OK) {
        while (st == R1D_OK && (st = jsonl_next(r, &j, e)) == R1D_OK && j) {
            if (id_hash(j) <= thr) st = jsonl_write(w.fp, j, e);
            json_decref(j);
        }
        if (st == R1D_OK) st = file_atomic_commit(&w, e);
        else file_atomic_abort(&w);
    }
    jsonl_close(r);
    return st;
}

/* The prompt pool: the sources with their weights (or the synth prompts), then the cap. */
static r1d_status select_prompts(run_ctx_t *c, const char *out, err_t *e) {
    size_t n = mf_len(c->m, "prompts.sources");
    ds_teach_source_t src[64];
    char synth[4400];
    if (n > 64) return ERR(e, R1D_EINVAL, "prompts.sources: at most 64 sets, got %zu", n);
    for (size_t i = 0; i < n; i++) {
        char k[128];
        snprintf(k, sizeof k, "prompts.sources[%zu].path", i);
        src[i].path = mf_str(c->m, k, "");
        snprintf(k, sizeof k, "prompts.sources[%zu].weight", i);
        src[i].weight = mf_f64(c->m, k, 1);
    }
    if (!n) {
        run_file(c, "synth", "prompts.jsonl", synth, sizeof synth);
        src[0] = (ds_teach_source_t){synth, 1};
        n = 1;
    }
    int64_t cap = mf_i64(c->m, "prompts.cap", 0);
    char all[4400];
    run_pathf(all, sizeof all, "%s.all", out);
    ds_teach_select_stats_t ss;
    TRY(ds_teach_select(src, (int)n, 0, 1, all, &ss, e));
    log_info("generate: %lld prompt records, %lld selected (%lld left out by weights, %lld repeated ids, %lld bad lines)",
             (long long)ss.records, (long long)ss.selected, (long long)ss.weighted_out, (long long)ss.duplicates,
             (long long)ss.bad);
    if (!ss.selected) return ERR(e, R1D_EINVAL, "prompts: no prompt selected from %zu source(s)", n);
    if (cap <= 0 || ss.selected <= cap) {
        if (rename(all, out)) return ERR(e, R1D_EIO, "%s: cannot rename to %s", all, out);
        return R1D_OK;
    }
    TRY(cap_prompts(all, out, ss.selected, cap, e));
    remove(all);
    log_info("generate: prompts.cap keeps %lld of %lld prompts", (long long)cap, (long long)ss.selected);
    return R1D_OK;
}

/* This rank's prompts and samples under raw/, generated with the teacher (resumable). */
static r1d_status generate_shard(run_ctx_t *c, const char *prompts, const char *raw, err_t *e) {
    char sp[4400], out[4400], dir[4096], name[512];
    run_pathf(sp, sizeof sp, "%s/shard-%05d-of-%05d.prompts.jsonl", raw, c->rank, c->size);
    run_pathf(out, sizeof out, "%s/shard-%05d-of-%05d.jsonl", raw, c->rank, c->size);
    ds_teach_source_t src = {prompts, 1};
    ds_teach_select_stats_t ss;
    TRY(ds_teach_select(&src, 1, c->rank, c->size, sp, &ss, e));
    run_teacher_dir(c, dir, sizeof dir);
    run_teacher_name(c, name, sizeof name);
    tch_model_t *m = NULL;
    tch_engine_t en = {0};
    tok_t *tok = NULL;
    int32_t stop[64];
    r1d_status st = tch_model_load(&m, dir, e);
    if (st == R1D_OK) st = tch_engine_open(&en, mf_str(c->m, "teacher.backend", "auto"), m, e);
    if (st == R1D_OK) st = tok_load(&tok, dir, e);
    int spec = !strcmp(mf_str(c->m, "teacher.spec", "none"), "mtp");
    if (st == R1D_OK && spec) st = tch_ds_check_mtp(m, e);
    if (st == R1D_OK) {
        const mf_t *f = c->m;
        tch_gen_opts_t g;
        tch_gen_opts_default(&g);
        g.max_batch = (int)mf_i64(f, "teacher.batch", 32);
        g.kv_bytes = (size_t)mf_i64(f, "teacher.kv_mem", 1024) << 20;
        g.tok = tok;
        g.spec_draft = spec ? (int)mf_i64(f, "teacher.draft", 1) : 0;
        tch_batch_opts_t b = {.in_path = sp, .out_path = out, .n_samples = (int)mf_i64(f, "samples_per_prompt", 4),
                              .max_new = (int32_t)mf_i64(f, "teacher.sampling.max_new", 32768),
                              .sampling = {(float)mf_f64(f, "teacher.sampling.temperature", 0.6),
                                           (float)mf_f64(f, "teacher.sampling.top_p", 0.95), 0.0f,
                                           (int)mf_i64(f, "teacher.sampling.top_k", 0)},
                              .repetition_penalty = 1.0f, .seed = (uint64_t)mf_i64(f, "teacher.sampling.seed", 0),
                              .stop_ids = stop, .n_stop_ids = tch_model_stop_ids(m, stop, 64), .tok = tok,
                              .teacher = name, .gen = g};
        st = mf_has(f, "teacher.chat") ? chat_template_by_name(mf_str(f, "teacher.chat", ""), &b.chat, e)
                                       : chat_template_from_model_dir(dir, &b.chat, e);
        tch_batch_stats_t bs;
        if (st == R1D_OK) st = tch_batch_run(en.m, en.o, &b, &bs, e);
        if (st == R1D_OK)
            log_info("generate: rank %d: %lld samples written, %lld already there, %lld new tokens in %.1f s", c->rank,
                     (long long)bs.written, (long long)bs.resumed, (long long)bs.gen.new_tokens, bs.gen.seconds);
    }
    tok_free(tok);
    tch_engine_close(&en);
    tch_model_free(m);
    return st;
}

typedef struct line_ref {
    char *prompt_id;
    int64_t sample;
    int file;
    long off, len;
} line_ref_t;

static int cmp_ref(const void *a, const void *b) {
    const line_ref_t *x = a, *y = b;
    int c = strcmp(x->prompt_id, y->prompt_id);
    return c ? c : x->sample < y->sample ? -1 : x->sample > y->sample;
}

/* samples.jsonl: every rank's samples in (prompt id, sample) order, so that its bytes do
 * not depend on rank count, batching or restarts. Lines are read back by offset: the
 * samples themselves never sit in memory together. */
static r1d_status merge_samples(run_ctx_t *c, const char *raw, const char *out, err_t *e) {
    line_ref_t *refs = NULL;
    size_t n = 0, cap = 0;
    FILE **fps = calloc((size_t)c->size, sizeof *fps);
    r1d_status st = fps ? R1D_OK : ERR(e, R1D_ENOMEM, "out of memory");
    for (int r = 0; r < c->size && st == R1D_OK; r++) {
        char p[4400];
        run_pathf(p, sizeof p, "%s/shard-%05d-of-%05d.jsonl", raw, r, c->size);
        jsonl_reader_t *jr;
        if ((st = jsonl_open(&jr, p, e)) != R1D_OK) break;
        if (!(fps[r] = fopen(p, "rb"))) st = ERR(e, R1D_EIO, "%s: cannot open", p);
        json_t *j;
        long prev = 0;
        while (st == R1D_OK && (st = jsonl_next(jr, &j, e)) == R1D_OK && j) {
            long end = (long)jsonl_offset(jr);
            const char *pid = json_string_value(json_object_get(j, "prompt_id"));
            json_t *k = json_object_get(j, "sample");
            if (!pid || !json_is_integer(k))
                st = ERR(e, R1D_EFORMAT, "%s:%lld: expected a sample with prompt_id and sample", p,
                         (long long)jsonl_line(jr));
            else {
                if (n == cap) {
                    cap = cap ? 2 * cap : 1024;
                    line_ref_t *nr = realloc(refs, cap * sizeof *nr);
                    if (!nr) st = ERR(e, R1D_ENOMEM, "out of memory");
                    else refs = nr;
                }
                if (st == R1D_OK)
                    refs[n++] = (line_ref_t){strdup(pid), json_integer_value(k), r, prev, end - prev};
            }
            prev = end;
            json_decref(j);
        }
        jsonl_close(jr);
    }
    if (st == R1D_OK) qsort(refs, n, sizeof *refs, cmp_ref);
    file_atomic_t w;
    if (st == R1D_OK && (st = file_atomic_open(&w, out, e)) == R1D_OK) {
        char *buf = NULL;
        size_t bcap = 0;
        for (size_t i = 0; i < n && st == R1D_OK; i++) {
            line_ref_t *l = &refs[i];
            if ((size_t)l->len + 1 > bcap) {
                bcap = (size_t)l->len + 1;
                char *nb = realloc(buf, bcap);
                if (!nb) {
                    st = ERR(e, R1D_ENOMEM, "out of memory");
                    break;
                }
                buf = nb;
            }
            if (fseek(fps[l->file], l->off, SEEK_SET) || fread(buf, 1, (size_t)l->len, fps[l->file]) != (size_t)l->len)
                st = ERR(e, R1D_EIO, "%s: shard %d: read failed", raw, l->file);
            /* a line as written (it may start with blank lines the reader skipped: trim them) */
            size_t s0 = 0;
            while (s0 < (size_t)l->len && (buf[s0] == '\n' || buf[s0] == '\r' || buf[s0] == ' ')) s0++;
            size_t len = (size_t)l->len;
            while (len > s0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
            if (st == R1D_OK && (fwrite(buf + s0, 1, len - s0, w.fp) != len - s0 || fputc('\n', w.fp) == EOF))
                st = ERR(e, R1D_EIO, "%s: write failed", out);
        }
        free(buf);
        if (st == R1D_OK) st = file_atomic_commit(&w, e);
        else file_atomic_abort(&w);
    }
    for (size_t i = 0; i < n; i++) free(refs[i].prompt_id);
    free(refs);
    for (int r = 0; fps && r < c->size; r++)
        if (fps[r]) fclose(fps[r]);
    free(fps);
    if (st == R1D_OK) log_info("generate: %zu samples in %s", n, out);
    return st;
}

r1d_status run_generate(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    (void)outs;
    char prompts[4400], raw[4400], out[4400];
    snprintf(prompts, sizeof prompts, "%s/prompts.jsonl", sdir);
    snprintf(raw, sizeof raw, "%s/raw", sdir);
    snprintf(out, sizeof out, "%s/samples.jsonl", sdir);
    r1d_status st = R1D_OK;
    if (c->rank == 0) {
        st = file_mkdirs(raw, e);
        if (st == R1D_OK && !file_exists(prompts)) st = select_prompts(c, prompts, e);
    }
    TRY(run_agree(c, st, e));
    st = generate_shard(c, prompts, raw, e);
    TRY(run_agree(c, st, e));
    return c->rank == 0 ? merge_samples(c, raw, out, e) : R1D_OK;
}

void run_progress_generate(const run_ctx_t *c, const char *sdir, char *buf, size_t n) {
    char p[4400];
    snprintf(p, sizeof p, "%s/prompts.jsonl", sdir);
    int64_t expect = run_count_lines(p) * mf_i64(c->m, "samples_per_prompt", 4), have = 0;
    snprintf(p, sizeof p, "%s/raw", sdir);
    DIR *d = opendir(p);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 7 || strcmp(de->d_name + l - 6, ".jsonl") || strstr(de->d_name, ".prompts.")) continue;
        char f[4700];
        snprintf(f, sizeof f, "%s/%s", p, de->d_name);
        have += run_count_lines(f);
    }
    if (d) closedir(d);
    if (expect) snprintf(buf, n, "%lld / %lld samples written", (long long)have, (long long)expect);
    else snprintf(buf, n, "selecting prompts");
}

/* ---- filter, dedup, decontam ---- */

static r1d_status write_report(const char *sdir, const char *name, const json_t *rep, err_t *e) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", sdir, name);
    return run_write_json(p, rep, e);
}

static int64_t report_count(const json_t *rep, const char *k) {
    return json_integer_value(json_object_get(json_object_get(rep, "counts"), k));
}

r1d_status run_filter(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    const mf_t *m = c->m;
    char in[4400], prompts[4400], kept[4400], rejected[4400], out[4400];
    run_file(c, "generate", "samples.jsonl", in, sizeof in);
    run_file(c, "generate", "prompts.jsonl", prompts, sizeof prompts);
    snprintf(kept, sizeof kept, "%s/kept.jsonl", sdir);
    snprintf(rejected, sizeof rejected, "%s/rejected.jsonl", sdir);
    snprintf(out, sizeof out, "%s/samples.jsonl", sdir);
    int mix = mf_f64(m, "non_reasoning.share", 0) > 0;
    ds_filter_opts_t o;
    ds_filter_opts_default(&o);
    o.in = in, o.out = mix ? kept : out, o.rejected = rejected;
    o.prompts = strcmp(mf_str(m, "verify.mode", "math"), "off") ? prompts : NULL;
    o.max_correct = (int)mf_i64(m, "verify.max_correct", 0);
    o.keep_unverifiable = mf_bool(m, "verify.keep_unverifiable", 1);
    static const char *rule_key[DS_F_COUNT] = {"format", "truncated", "lang_mix", "long_paragraph", "code_block",
                                               "repetition", "length"};
    for (int r = 0; r < DS_F_COUNT; r++) {
        char k[128];
        snprintf(k, sizeof k, "filters.%s.enabled", rule_key[r]);
        o.cfg.enabled[r] = mf_bool(m, k, 1);
    }
    o.cfg.min_answer_chars = (int)mf_i64(m, "filters.format.min_answer_chars", o.cfg.min_answer_chars);
    o.cfg.lang_max_share = mf_f64(m, "filters.lang_mix.max_share", o.cfg.lang_max_share);
    o.cfg.lang_min_letters = (int)mf_i64(m, "filters.lang_mix.min_letters", o.cfg.lang_min_letters);
    o.cfg.para_max_chars = mf_i64(m, "filters.long_paragraph.max_chars", o.cfg.para_max_chars);
    o.cfg.code_blocks_max = (int)mf_i64(m, "filters.code_block.max_blocks", o.cfg.code_blocks_max);
    o.cfg.rep_n = (int)mf_i64(m, "filters.repetition.n", o.cfg.rep_n);
    o.cfg.rep_max = mf_f64(m, "filters.repetition.max_share", o.cfg.rep_max);
    o.cfg.min_tokens = mf_i64(m, "filters.length.min_tokens", o.cfg.min_tokens);
    o.cfg.max_tokens = mf_i64(m, "filters.length.max_tokens", o.cfg.max_tokens);
    json_t *rep = NULL;
    r1d_status st = ds_filter_run(&o, &rep, e);
    if (st == R1D_OK) st = write_report(sdir, "report.json", rep, e);
    int64_t n_in = report_count(rep, "in"), n_kept = report_count(rep, "kept");
    if (st == R1D_OK) {
        char *v = json_dumps(json_object_get(json_object_get(rep, "verification"), "verdicts"), JSON_COMPACT);
        char *rj = json_dumps(json_object_get(rep, "rejects"), JSON_COMPACT);
        log_info("filter: %lld of %lld samples kept; verdicts %s; rejects %s", (long long)n_kept, (long long)n_in,
                 v ? v : "(no verification)", rj ? rj : "{}");
        int64_t min_kept = mf_i64(m, "filters.min_kept", 1);
        if (n_kept < min_kept)
            st = ERR(e, R1D_EINVAL, "filters.min_kept: %lld of %lld samples survived verification and filters, fewer "
                     "than %lld (verdicts %s, rejects %s); a stronger teacher, more samples_per_prompt, or "
                     "verify.mode off / filters turned off would keep more", (long long)n_kept, (long long)n_in,
                     (long long)min_kept, v ? v : "none", rj ? rj : "{}");
        free(v), free(rj);
    }
    json_decref(rep);
    if (st == R1D_OK && mix) {
        size_t n = mf_len(m, "non_reasoning.sources");
        const char **chat = calloc(n, sizeof *chat);
        for (size_t i = 0; i < n; i++) {
            char k[128];
            snprintf(k, sizeof k, "non_reasoning.sources[%zu]", i);
            chat[i] = mf_str(m, k, "");
        }
        ds_mix_opts_t mo = {.reasoning = kept, .chat = chat, .n_chat = (int)n,
                            .share = mf_f64(m, "non_reasoning.share", 0), .out = out, .max_line = o.max_line};
        json_t *mrep = NULL;
        st = ds_mix_run(&mo, &mrep, e);
        if (st == R1D_OK) st = write_report(sdir, "mix.json", mrep, e);
        if (st == R1D_OK) json_array_append_new(outs, json_string("mix.json"));
        json_decref(mrep);
        free(chat);
    }
    return st;
}

r1d_status run_dedup(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    (void)outs;
    const mf_t *m = c->m;
    char in[4400], out[4400], removed[4400];
    run_file(c, "filter", "samples.jsonl", in, sizeof in);
    snprintf(out, sizeof out, "%s/samples.jsonl", sdir);
    snprintf(removed, sizeof removed, "%s/removed.jsonl", sdir);
    ds_dedup_opts_t o;
    ds_dedup_opts_default(&o);
    o.in = in, o.out = out, o.removed = removed;
    o.exact = mf_bool(m, "dedup.exact", 1), o.near = mf_bool(m, "dedup.near", 1);
    o.threshold = mf_f64(m, "dedup.threshold", o.threshold);
    o.num_perm = (int)mf_i64(m, "dedup.num_perm", o.num_perm);
    o.shingle = (int)mf_i64(m, "dedup.shingle", o.shingle);
    o.per_prompt = !strcmp(mf_str(m, "dedup.scope", "global"), "prompt");
    o.seed = (uint64_t)mf_i64(m, "dedup.seed", 0);
    json_t *rep = NULL;
    r1d_status st = ds_dedup_run(&o, &rep, e);
    if (st == R1D_OK) st = write_report(sdir, "report.json", rep, e);
    if (st == R1D_OK)
        log_info("dedup: %lld of %lld samples kept (%lld exact, %lld near duplicates)", (long long)report_count(rep, "kept"),
                 (long long)report_count(rep, "in"), (long long)report_count(rep, "exact_duplicates"),
                 (long long)report_count(rep, "near_duplicates"));
    json_decref(rep);
    return st;
}

r1d_status run_decontam(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    (void)outs;
    char in[4400], out[4400], removed[4400];
    run_file(c, "dedup", "samples.jsonl", in, sizeof in);
    snprintf(out, sizeof out, "%s/samples.jsonl", sdir);
    snprintf(removed, sizeof removed, "%s/removed.jsonl", sdir);
    char **sets;
    int n = run_decontam_sets(c, &sets);
    ds_decontam_opts_t o;
    ds_decontam_opts_default(&o);
    o.in = in, o.out = out, o.removed = removed;
    o.evals = (const char *const *)sets, o.n_evals = n;
    o.ngram = (int)mf_i64(c->m, "decontam.ngram", 8);
    o.responses = mf_bool(c->m, "decontam.responses", 0);
    json_t *rep = NULL;
    r1d_status st = ds_decontam_run(&o, &rep, e);
    if (st == R1D_OK) st = write_report(sdir, "report.json", rep, e);
    if (st == R1D_OK)
        log_info("decontam: %lld of %lld samples kept (%lld share an %d-gram with %d eval set(s))",
                 (long long)report_count(rep, "kept"), (long long)report_count(rep, "in"),
                 (long long)(report_count(rep, "in") - report_count(rep, "kept")), o.ngram, n);
    json_decref(rep);
    run_strs_free(sets, n);
    return st;
}

/* ---- export ---- */

r1d_status run_export(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    (void)outs;
    const mf_t *m = c->m;
    const char *last = run_enabled(c, "decontam") ? "decontam" : "dedup";
    char in[4400], out[4400], tokdir[4096], reports[4][4400];
    const char *rp[4];
    int nr = 0;
    run_file(c, last, "samples.jsonl", in, sizeof in);
    snprintf(out, sizeof out, "%s/dataset.%s", sdir, mf_str(m, "export.format", "tar.zst"));
    const char *stages[4][2] = {{"filter", "report.json"}, {"filter", "mix.json"}, {"dedup", "report.json"},
                                {"decontam", "report.json"}};
    for (int i = 0; i < 4; i++) {
        run_file(c, stages[i][0], stages[i][1], reports[nr], sizeof reports[nr]);
        if (run_enabled(c, stages[i][0]) && file_exists(reports[nr])) rp[nr] = reports[nr], nr++;
    }
    run_student_tokenizer(c, tokdir, sizeof tokdir);
    ds_export_opts_t o;
    ds_export_opts_default(&o);
    o.in = in, o.out = out, o.name = mf_str(m, "export.name", mf_str(m, "run.name", "dataset"));
    o.tokenizer_path = tokdir, o.reports = rp, o.n_reports = nr;
    o.shard_samples = mf_i64(m, "export.shard_samples", o.shard_samples);
    o.zstd_level = (int)mf_i64(m, "export.zstd_level", o.zstd_level);
    tok_t *tok = NULL;
    r1d_status st = tok_load(&tok, tokdir, e);
    o.tok = tok;
    if (st == R1D_OK)
        st = mf_has(m, "student.chat_template") ? chat_template_by_name(mf_str(m, "student.chat_template", ""), &o.chat, e)
                                                : chat_template_from_model_dir(tokdir, &o.chat, e);
    if (st == R1D_OK) st = ds_export_run(&o, NULL, e);
    tok_free(tok);
    TRY(st);
    ds_verify_report_t vr;
    TRY(ds_dataset_verify(out, &vr, NULL, e));
    log_info("export: %s verified: %lld members, %lld samples, %lld tokens", out, (long long)vr.members,
             (long long)vr.samples, (long long)vr.tokens);
    json_t *v = json_pack("{s:s,s:I,s:I,s:I}", "dataset", strrchr(out, '/') + 1, "members", (json_int_t)vr.members,
                          "samples", (json_int_t)vr.samples, "tokens", (json_int_t)vr.tokens);
    st = write_report(sdir, "verify.json", v, e);
    json_decref(v);
    return st;
}
