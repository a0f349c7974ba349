/* Eval stages of `r1d run`: the teacher, the released student and the untrained student
 * (baseline) on every eval set, each scored and reported by eval/ (report.{json,md,html}
 * per model and set), then one side-by-side report: pass@1 over k and cons@k per model,
 * the student's gain over the baseline, and how close it came to the teacher. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/run.h"
#include "core/file.h"
#include "core/hf_config.h"
#include "core/json.h"
#include "core/log.h"
#include "eval/gen.h"
#include "eval/grader.h"
#include "eval/report.h"
#include "eval/score.h"
#include "eval/set.h"
#include "teacher/plan.h"

enum { M_TEACHER, M_STUDENT, M_BASELINE, M_COUNT };
static const char *model_label[M_COUNT] = {"teacher", "student", "baseline"};

static int model_on(const run_ctx_t *c, int i) {
    char k[32];
    snprintf(k, sizeof k, "eval.%s", model_label[i]);
    return mf_bool(c->m, k, 1);
}

static void model_dir(const run_ctx_t *c, int i, char *buf, size_t n) {
    if (i == M_TEACHER) run_teacher_dir(c, buf, n);
    else if (i == M_STUDENT) run_student_release(c, buf, n);
    else run_student_base(c, buf, n);
}

static void iso_time(int64_t epoch, char *buf, size_t n) {
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Folder names of the sets: their names, made unique by their index when two collide. */
static void set_names(char **paths, int n, char names[][128]) {
    for (int i = 0; i < n; i++) {
        const char *b = strrchr(paths[i], '/');
        b = b ? b + 1 : paths[i];
        snprintf(names[i], 128, "%.100s", b);
        char *dot = strstr(names[i], ".jsonl");
        if (dot) *dot = 0;
        for (int j = 0; j < i; j++)
            if (!strcmp(names[j], names[i])) snprintf(names[i] + strlen(names[i]), 28, "-%d", i);
    }
}

static r1d_status eval_one(run_ctx_t *c, int mi, const char *set_path, const char *dir, err_t *e) {
    char mdir[4400], resp[4400], created[32];
    model_dir(c, mi, mdir, sizeof mdir);
    run_pathf(resp, sizeof resp, "%s/responses.jsonl", dir);
    ev_set_opts_t so = {.prompt_template = mf_str(c->m, "eval.prompt_template", NULL)};
    char modes[128] = "";
    for (size_t i = 0; i < mf_len(c->m, "eval.extract"); i++) {
        char k[64];
        snprintf(k, sizeof k, "eval.extract[%zu]", i);
        snprintf(modes + strlen(modes), sizeof modes - strlen(modes), "%s%s", i ? "," : "", mf_str(c->m, k, ""));
    }
    if (*modes) TRY(ev_extract_modes_parse(modes, &so.extract_modes, e));
    ev_set_t set;
    TRY(ev_set_load(&set, set_path, &so, e));
    ev_gen_cfg_t g;
    ev_gen_cfg_default(&g);
    g.model_dir = mdir, g.k = (int)mf_i64(c->m, "eval.k", 4), g.temperature = mf_f64(c->m, "eval.temperature", 0.6);
    g.top_p = mf_f64(c->m, "eval.top_p", 0.95), g.max_new = (int)mf_i64(c->m, "eval.max_new", 32768);
    g.seed = (uint64_t)mf_i64(c->m, "eval.seed", 0);
    r1d_status st = ev_gen_cfg_check(&g, e);
    if (st == R1D_OK) st = ev_gen_run(&g, &set, resp, e);
    if (st == R1D_OK) {
        ev_grader_ctx_t gctx;
        ev_grader_t gr;
        ev_grader_default(&gr, &gctx, NULL);
        ev_score_t s;
        iso_time(c->epoch, created, sizeof created);
        ev_report_meta_t meta = {.gen = &g, .created = created};
        st = ev_score_run(&s, &set, resp, g.k, &gr, e);
        if (st == R1D_OK) {
            st = ev_report_write(&s, &meta, dir, e);
            log_info("eval: %s on %s: pass@1 %.1f%%, cons@%d %.1f%% (%zu problems)", model_label[mi], set.name,
                     100 * s.sum.pass_at[0], g.k, 100 * s.sum.cons, s.sum.n_problems);
            ev_score_free(&s);
        }
    }
    ev_set_free(&set);
    return st;
}

r1d_status run_eval(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    char **sets;
    int n = run_eval_sets(c, &sets);
    char (*names)[128] = calloc((size_t)(n ? n : 1), sizeof *names);
    set_names(sets, n, names);
    r1d_status st = R1D_OK;
    for (int mi = 0; mi < M_COUNT && st == R1D_OK; mi++) {
        if (!model_on(c, mi)) continue;
        for (int si = 0; si < n && st == R1D_OK; si++) {
            char rel[300], dir[4400];
            snprintf(rel, sizeof rel, "%s/%s", model_label[mi], names[si]);
            snprintf(dir, sizeof dir, "%s/%s", sdir, rel);
            st = eval_one(c, mi, sets[si], dir, e);
            char rj[320];
            snprintf(rj, sizeof rj, "%s/report.json", rel);
            if (st == R1D_OK) json_array_append_new(outs, json_string(rj));
        }
    }
    free(names);
    run_strs_free(sets, n);
    return st;
}

void run_progress_eval(const run_ctx_t *c, const char *sdir, char *buf, size_t n) {
    char **sets;
    int ns = run_eval_sets(c, &sets);
    char (*names)[128] = calloc((size_t)(ns ? ns : 1), sizeof *names);
    set_names(sets, ns, names);
    int64_t have = 0, expect = 0, k = mf_i64(c->m, "eval.k", 4);
    for (int mi = 0; mi < M_COUNT; mi++) {
        if (!model_on(c, mi)) continue;
        for (int si = 0; si < ns; si++) {
            char p[4400];
            snprintf(p, sizeof p, "%s/%s/%s/responses.jsonl", sdir, model_label[mi], names[si]);
            have += run_count_lines(p);
            expect += run_count_lines(sets[si]) * k;
        }
    }
    snprintf(buf, n, "%lld / %lld responses", (long long)have, (long long)expect);
    free(names);
    run_strs_free(sets, ns);
}

/* ---- the side-by-side report ---- */

typedef struct mrow {
    int on;
    double pass1, pass1_se, cons, cons_se, no_answer, truncated, tokens;
    char report[512];
} mrow_t;

static r1d_status load_row(const char *path, mrow_t *r, int *k, int64_t *np, err_t *e) {
    json_t *j;
    TRY(js_load_file(path, &j, e));
    const json_t *sum = json_object_get(j, "summary"), *met = json_object_get(sum, "metrics"),
                 *se = json_object_get(sum, "stderr");
    *k = (int)json_integer_value(json_object_get(sum, "k"));
    *np = json_integer_value(json_object_get(sum, "n_problems"));
    char ck[32];
    ev_report_metric_key(ck, sizeof ck, "cons", *k);
    if (!json_is_number(json_object_get(met, "pass@1")) || !json_is_number(json_object_get(met, ck))) {
        json_decref(j);
        return ERR(e, R1D_EFORMAT, "%s: summary.metrics: expected pass@1 and %s", path, ck);
    }
    r->on = 1;
    r->pass1 = json_number_value(json_object_get(met, "pass@1"));
    r->pass1_se = json_number_value(json_object_get(se, "pass@1"));
    r->cons = json_number_value(json_object_get(met, ck));
    r->cons_se = json_number_value(json_object_get(se, ck));
    r->no_answer = json_number_value(json_object_get(sum, "no_answer_rate"));
    r->truncated = json_number_value(json_object_get(sum, "truncation_rate"));
    r->tokens = json_number_value(json_object_get(json_object_get(sum, "tokens"), "mean"));
    json_decref(j);
    return R1D_OK;
}

/* The pipeline's counts from the stage reports (what the numbers rest on). */
static json_t *pipeline_json(const run_ctx_t *c) {
    json_t *o = json_object();
    const char *st[][3] = {{"generate", "samples.jsonl", "generated"}, {"filter", "samples.jsonl", "after_filter"},
                           {"dedup", "samples.jsonl", "after_dedup"}, {"decontam", "samples.jsonl", "after_decontam"}};
    char p[4400];
    run_file(c, "generate", "prompts.jsonl", p, sizeof p);
    json_object_set_new(o, "prompts", json_integer(run_count_lines(p)));
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        if (!run_enabled(c, st[i][0])) continue;
        run_file(c, st[i][0], st[i][1], p, sizeof p);
        json_object_set_new(o, st[i][2], json_integer(run_count_lines(p)));
    }
    json_t *j;
    err_t e;
    run_file(c, "export", "verify.json", p, sizeof p);
    if (js_load_file(p, &j, &e) == R1D_OK) {
        json_object_set(o, "dataset_samples", json_object_get(j, "samples"));
        json_object_set(o, "dataset_tokens", json_object_get(j, "tokens"));
        json_decref(j);
    }
    run_file(c, "release", "release.json", p, sizeof p);
    if (js_load_file(p, &j, &e) == R1D_OK) {
        json_object_set(o, "student", json_object_get(j, "model"));
        json_decref(j);
    }
    return o;
}

static void html_bars(FILE *fp, const mrow_t *rows) {
    static const char *colour[M_COUNT] = {"#5470c6", "#91cc75", "#bbbbbb"};
    int W = 560, H = 200, left = 110, bw = 18;
    fprintf(fp, "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"pass@1 and cons@k per model\">\n", W, H);
    for (int t = 0; t <= 4; t++)
        fprintf(fp, "<line x1=\"%d\" x2=\"%d\" y1=\"20\" y2=\"%d\" stroke=\"#eee\"/><text x=\"%d\" y=\"%d\" "
                    "font-size=\"10\" text-anchor=\"middle\">%d%%</text>\n",
                left + t * 100, left + t * 100, H - 30, left + t * 100, H - 15, t * 25);
    for (int mt = 0; mt < 2; mt++) {
        int y0 = 25 + mt * 80;
        fprintf(fp, "<text x=\"4\" y=\"%d\" font-size=\"12\">%s</text>\n", y0 + 30, mt ? "cons@k" : "pass@1");
        for (int i = 0, row = 0; i < M_COUNT; i++) {
            if (!rows[i].on) continue;
            double v = mt ? rows[i].cons : rows[i].pass1;
            int y = y0 + row++ * (bw + 2);
            fprintf(fp, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s %s %.1f%%</title></rect>"
                        "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%s %.1f%%</text>\n",
                    left, y, 400 * v, bw, colour[i], model_label[i], mt ? "cons" : "pass@1", 100 * v,
                    left + 400 * v + 4, y + 13, model_label[i], 100 * v);
        }
    }
    fputs("</svg>\n", fp);
}

static void html_esc(FILE *fp, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", fp);
        else if (*s == '>') fputs("&gt;", fp);
        else if (*s == '&') fputs("&amp;", fp);
        else fputc(*s, fp);
    }
}

/* One set's comparisons by eval/compare (baseline -> student, student -> teacher). */
static char *compare_text(const char *a, const char *b) {
    char *buf = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&buf, &n);
    if (!fp) return NULL;
    err_t e;
    if (ev_report_compare(a, b, fp, &e) != R1D_OK) fprintf(fp, "(comparison failed: %s)\n", e.msg);
    fclose(fp);
    return buf;
}

r1d_status run_report(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    (void)outs;
    char **sets;
    int n = run_eval_sets(c, &sets);
    char (*names)[128] = calloc((size_t)(n ? n : 1), sizeof *names);
    set_names(sets, n, names);
    char created[32], edir[4400];
    iso_time(c->epoch, created, sizeof created);
    run_sdir(c, "eval", edir, sizeof edir);
    const char *run = mf_str(c->m, "run.name", "");
    json_t *doc = json_pack("{s:s,s:i,s:s,s:s,s:[]}", "format", "r1d.run-report", "version", 1, "run", run, "created",
                            created, "sets");
    json_object_set_new(doc, "pipeline", pipeline_json(c));
    char *md = NULL, *html = NULL;
    size_t mdn = 0, htmln = 0;
    FILE *mf = open_memstream(&md, &mdn), *hf = open_memstream(&html, &htmln);
    fprintf(mf, "# r1d run `%s`\n\nCreated %s. Every number comes from this run's files under `%s`.\n\n", run, created,
            c->dir);
    fprintf(hf, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>r1d run %s</title><style>body{font-family:"
                "sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
                "padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}pre{background:#f6f6f6;"
                "padding:8px;overflow:auto}</style></head><body>\n<h1>r1d run <code>", run);
    html_esc(hf, run);
    fprintf(hf, "</code></h1>\n<p>Created %s. Every number comes from this run's files.</p>\n", created);
    const json_t *pl = json_object_get(doc, "pipeline");
    fputs("## Pipeline\n\n| step | count |\n|---|---|\n", mf);
    fputs("<h2>Pipeline</h2>\n<table><tr><th>step</th><th>count</th></tr>\n", hf);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)pl, k, v) {
        char val[256];
        if (json_is_integer(v)) snprintf(val, sizeof val, "%lld", (long long)json_integer_value(v));
        else snprintf(val, sizeof val, "%s", json_is_string(v) ? json_string_value(v) : "");
        fprintf(mf, "| %s | %s |\n", k, val);
        fprintf(hf, "<tr><td>%s</td><td>", k);
        html_esc(hf, val);
        fputs("</td></tr>\n", hf);
    }
    fputs("</table>\n", hf);
    r1d_status st = R1D_OK;
    for (int si = 0; si < n && st == R1D_OK; si++) {
        mrow_t rows[M_COUNT] = {0};
        int kk = 0;
        int64_t np = 0;
        for (int mi = 0; mi < M_COUNT && st == R1D_OK; mi++) {
            if (!model_on(c, mi)) continue;
            char p[4700];
            snprintf(p, sizeof p, "%s/%s/%s/report.json", edir, model_label[mi], names[si]);
            st = load_row(p, &rows[mi], &kk, &np, e);
            snprintf(rows[mi].report, sizeof rows[mi].report, "../%s/%s/%s/report.json", strrchr(edir, '/') + 1,
                     model_label[mi], names[si]);
        }
        if (st != R1D_OK) break;
        json_t *sj = json_pack("{s:s,s:I,s:i,s:{}}", "name", names[si], "n_problems", (json_int_t)np, "k", kk, "models");
        for (int mi = 0; mi < M_COUNT; mi++) {
            if (!rows[mi].on) continue;
            const mrow_t *r = &rows[mi];
            json_object_set_new(json_object_get(sj, "models"), model_label[mi],
                                json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:s}", "pass@1", r->pass1, "pass@1_stderr",
                                          r->pass1_se, "cons@k", r->cons, "cons@k_stderr", r->cons_se, "no_answer_rate",
                                          r->no_answer, "truncation_rate", r->truncated, "tokens_mean", r->tokens,
                                          "report", r->report));
        }
        const mrow_t *T = &rows[M_TEACHER], *S = &rows[M_STUDENT], *B = &rows[M_BASELINE];
        json_object_set_new(sj, "student_gain_pass@1", S->on && B->on ? json_real(S->pass1 - B->pass1) : json_null());
        json_object_set_new(sj, "student_gain_cons@k", S->on && B->on ? json_real(S->cons - B->cons) : json_null());
        json_object_set_new(sj, "student_teacher_ratio_pass@1",
                            S->on && T->on && T->pass1 > 0 ? json_real(S->pass1 / T->pass1) : json_null());
        json_object_set_new(sj, "student_teacher_ratio_cons@k",
                            S->on && T->on && T->cons > 0 ? json_real(S->cons / T->cons) : json_null());
        json_array_append_new(json_object_get(doc, "sets"), sj);

        fprintf(mf, "\n## %s (%lld problems, k = %d)\n\n| model | pass@1 | cons@%d | no answer | truncated | mean tokens |\n"
                    "|---|---|---|---|---|---|\n", names[si], (long long)np, kk, kk);
        fputs("<h2>", hf);
        html_esc(hf, names[si]);
        fprintf(hf, " (%lld problems, k = %d)</h2>\n<table><tr><th>model</th><th>pass@1</th><th>cons@%d</th>"
                    "<th>no answer</th><th>truncated</th><th>mean tokens</th></tr>\n", (long long)np, kk, kk);
        for (int mi = 0; mi < M_COUNT; mi++) {
            const mrow_t *r = &rows[mi];
            if (!r->on) continue;
            fprintf(mf, "| %s | %.1f%% ± %.1f | %.1f%% ± %.1f | %.1f%% | %.1f%% | %.0f |\n", model_label[mi],
                    100 * r->pass1, 100 * r->pass1_se, 100 * r->cons, 100 * r->cons_se, 100 * r->no_answer,
                    100 * r->truncated, r->tokens);
            char link[600];
            snprintf(link, sizeof link, "%.*s.html", (int)(strlen(r->report) - 5), r->report);
            fputs("<tr><td><a href=\"", hf);
            html_esc(hf, link);
            fprintf(hf, "\">%s</a></td><td>%.1f%% ± %.1f</td><td>%.1f%% ± %.1f</td><td>%.1f%%</td><td>%.1f%%</td>"
                        "<td>%.0f</td></tr>\n", model_label[mi], 100 * r->pass1, 100 * r->pass1_se, 100 * r->cons,
                    100 * r->cons_se, 100 * r->no_answer, 100 * r->truncated, r->tokens);
        }
        fputs("</table>\n", hf);
        html_bars(hf, rows);
        char line[512] = "";
        if (S->on && B->on)
            snprintf(line, sizeof line, "The student gained %+.1f points of pass@1 (%+.1f of cons@%d) over the untrained "
                     "baseline.", 100 * (S->pass1 - B->pass1), 100 * (S->cons - B->cons), kk);
        if (S->on && T->on && T->pass1 > 0)
            snprintf(line + strlen(line), sizeof line - strlen(line), "%sIt reached %.0f%% of the teacher's pass@1 "
                     "(%.1f%% vs %.1f%%).", *line ? " " : "", 100 * S->pass1 / T->pass1, 100 * S->pass1, 100 * T->pass1);
        else if (S->on && T->on)
            snprintf(line + strlen(line), sizeof line - strlen(line), "%sThe teacher's pass@1 is 0, so the "
                     "student/teacher ratio is undefined.", *line ? " " : "");
        if (*line) {
            fprintf(mf, "\n%s\n", line);
            fprintf(hf, "<p>%s</p>\n", line);
        }
        const int pairs[2][2] = {{M_BASELINE, M_STUDENT}, {M_STUDENT, M_TEACHER}};
        for (int pi = 0; pi < 2; pi++) {
            const mrow_t *a = &rows[pairs[pi][0]], *b = &rows[pairs[pi][1]];
            if (!a->on || !b->on) continue;
            char pa[4700], pb[4700];
            snprintf(pa, sizeof pa, "%s/%s/%s/report.json", edir, model_label[pairs[pi][0]], names[si]);
            snprintf(pb, sizeof pb, "%s/%s/%s/report.json", edir, model_label[pairs[pi][1]], names[si]);
            char *cmp = compare_text(pa, pb);
            fprintf(mf, "\n### %s → %s (`r1d eval compare`)\n\n```\n%s```\n", model_label[pairs[pi][0]],
                    model_label[pairs[pi][1]], cmp ? cmp : "");
            fprintf(hf, "<h3>%s &rarr; %s</h3>\n<pre>", model_label[pairs[pi][0]], model_label[pairs[pi][1]]);
            html_esc(hf, cmp ? cmp : "");
            fputs("</pre>\n", hf);
            free(cmp);
        }
    }
    fputs("</body></html>\n", hf);
    fclose(mf);
    fclose(hf);
    char p[4400];
    if (st == R1D_OK) snprintf(p, sizeof p, "%s/report.json", sdir), st = run_write_json(p, doc, e);
    if (st == R1D_OK) snprintf(p, sizeof p, "%s/report.md", sdir), st = file_write_atomic(p, md, mdn, e);
    if (st == R1D_OK) snprintf(p, sizeof p, "%s/report.html", sdir), st = file_write_atomic(p, html, htmln, e);
    if (st == R1D_OK) log_info("report: %s/report.{json,md,html}", sdir);
    free(md);
    free(html);
    json_decref(doc);
    free(names);
    run_strs_free(sets, n);
    return st;
}

/* ---- --check: the plan ---- */

int run_plan_print(const run_ctx_t *c, FILE *fp) {
    const mf_t *m = c->m;
    const double G = 1024.0 * 1024.0 * 1024.0;
    int bad = 0;
    if (mf_has(m, "teacher.train")) {
        fprintf(fp, "teacher    trained in this run: %s, hidden %lld, %lld layers, on %s\n",
                mf_str(m, "teacher.train.arch", "qwen2"), (long long)mf_i64(m, "teacher.train.hidden", 0),
                (long long)mf_i64(m, "teacher.train.layers", 0),
                mf_has(m, "teacher.train.data") ? mf_str(m, "teacher.train.data", "") : "synth's sft.jsonl");
    } else {
        char cfgp[4400] = "";
        if (mf_has(m, "teacher.config")) snprintf(cfgp, sizeof cfgp, "%s", mf_str(m, "teacher.config", ""));
        else snprintf(cfgp, sizeof cfgp, "%s/config.json", mf_str(m, "teacher.model", ""));
        cfg_model_t cfg;
        err_t e;
        if (!file_exists(cfgp)) {
            fprintf(fp, "teacher    %s: no config.json here; set teacher.config to plan the layout\n",
                    mf_str(m, "teacher.model", ""));
        } else if (cfg_model_load(&cfg, cfgp, &e) != R1D_OK) {
            fprintf(fp, "teacher    %s\n", e.msg);
            bad = 1;
        } else {
            tch_plan_in_t in = {(int)mf_i64(m, "teacher.gpus", 1), (int)mf_i64(m, "teacher.tp", 0),
                                (int)mf_i64(m, "teacher.ep", 0), mf_f64(m, "teacher.gpu_mem_gib", 141),
                                mf_f64(m, "teacher.reserve_gib", 4), mf_i64(m, "teacher.sampling.max_new", 32768),
                                !strcmp(mf_str(m, "teacher.spec", "none"), "mtp")};
            if (cfg.arch != CFG_ARCH_DEEPSEEK_V3 && in.ep <= 0) in.ep = 1;
            tch_plan_t p;
            fprintf(fp, "teacher    %s (%s, %d layers, backend %s)\n", mf_str(m, "teacher.model", cfgp), cfg.model_type,
                    cfg.n_layers, mf_str(m, "teacher.backend", "auto"));
            if (tch_plan_compute(&cfg, &in, &p, &e) != R1D_OK) {
                fprintf(fp, "  layout   %s\n", e.msg);
                bad = 1;
            } else {
                fprintf(fp, "  params   %.2fB (%.2fB active per token, MTP %.2fB)\n", p.params_total / 1e9,
                        p.params_active / 1e9, p.params_mtp / 1e9);
                fprintf(fp, "  layout   %d GPU(s) of %.0f GiB: tensor parallel %d, expert parallel %d%s\n", in.gpus,
                        in.gpu_mem_gib, p.tp, p.ep, in.with_mtp ? ", MTP speculation" : "");
                fprintf(fp, "  weights  %.1f GiB in all, %.1f GiB per GPU\n", p.weight_bytes / G, p.weight_bytes_per_gpu / G);
                fprintf(fp, "  kv cache %.0f bytes per token per GPU (%d layers)\n", p.kv_bytes_per_token, p.n_cache_layers);
                if (p.fits)
                    fprintf(fp, "  fits     %lld cache tokens per GPU, %lld sequences of %lld tokens\n",
                            (long long)p.tokens_per_gpu, (long long)p.max_batch, (long long)in.context);
                else {
                    fprintf(fp, "  fits     NO: %s\n", p.why);
                    bad = 1;
                }
            }
            cfg_model_free(&cfg);
        }
    }
    if (mf_has(m, "student.init"))
        fprintf(fp, "student    new %s, hidden %lld, %lld layers\n", mf_str(m, "student.init.arch", "qwen2"),
                (long long)mf_i64(m, "student.init.hidden", 0), (long long)mf_i64(m, "student.init.layers", 0));
    else fprintf(fp, "student    %s\n", mf_str(m, "student.model", ""));
    fprintf(fp, "  sft      seq_len %lld, %lld x %lld rows per rank and step, lr %g (%s), %lld epoch(s), checkpoint "
                "every %lld steps\n", (long long)mf_i64(m, "student.seq_len", 0), (long long)mf_i64(m, "student.micro_batch", 0),
            (long long)mf_i64(m, "student.grad_accum", 0), mf_f64(m, "student.lr", 0), mf_str(m, "student.schedule", ""),
            (long long)mf_i64(m, "student.epochs", 0), (long long)mf_i64(m, "student.save_every", 0));
    int64_t k = mf_i64(m, "samples_per_prompt", 4);
    if (mf_has(m, "synth"))
        fprintf(fp, "data       %lld synth prompts x %lld samples = %lld samples before filtering\n",
                (long long)mf_i64(m, "synth.n_prompts", 0), (long long)k, (long long)(mf_i64(m, "synth.n_prompts", 0) * k));
    else
        fprintf(fp, "data       %zu prompt set(s) (cap %lld) x %lld samples per prompt; non-reasoning share %.0f%%\n",
                mf_len(m, "prompts.sources"), (long long)mf_i64(m, "prompts.cap", 0), (long long)k,
                100 * mf_f64(m, "non_reasoning.share", 0));
    return bad;
}
