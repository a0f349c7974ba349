/* The stage table and its bookkeeping: stage folders, input hashes, DONE markers,
 * output hashes, and the inputs stages share (which teacher, which tokenizer, ...). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cli/run.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"

const run_stage_t run_stages[] = {
    {"synth", "synth", "", "prompts.jsonl eval.jsonl sft.jsonl tokenizer", 0, run_on_synth, run_synth, NULL,
     "prompts.jsonl, eval.jsonl, sft.jsonl, tokenizer/"},
    {"teacher_train", "teacher.train", "synth", "model", 1, run_on_teacher_train, run_teacher_train, run_progress_train,
     "init/ (random weights), out/ (checkpoints, metrics.jsonl), model/ (the trained teacher)"},
    {"generate", "teacher.model teacher.chat teacher.backend teacher.spec teacher.draft teacher.sampling prompts samples_per_prompt",
     "synth teacher_train", "prompts.jsonl samples.jsonl", 1, run_on_always, run_generate, run_progress_generate,
     "prompts.jsonl (selected prompts), raw/shard-*.jsonl (per rank, resumable), samples.jsonl (sorted)"},
    {"filter", "verify filters non_reasoning", "generate", "samples.jsonl report.json", 0, run_on_always, run_filter, NULL,
     "samples.jsonl (kept), rejected.jsonl, report.json"},
    {"dedup", "dedup", "filter", "samples.jsonl report.json", 0, run_on_always, run_dedup, NULL,
     "samples.jsonl, removed.jsonl, report.json"},
    {"decontam", "decontam eval.sets", "dedup synth", "samples.jsonl report.json", 0, run_on_decontam, run_decontam, NULL,
     "samples.jsonl, removed.jsonl, report.json"},
    {"export", "run.name export student.model student.init.tokenizer student.chat_template", "decontam filter dedup synth",
     "?dataset.tar.zst ?dataset.tar verify.json", 0, run_on_always, run_export, NULL,
     "dataset.tar[.zst] (verified), verify.json"},
    {"train", "student", "export synth", "model", 1, run_on_always, run_train, run_progress_train,
     "init/ (with student.init), out/ (checkpoints, metrics.jsonl), model/ (the trained student)"},
    {"release", "run.name release", "train", "release.json", 0, run_on_always, run_release, NULL,
     "NAME/ (Hugging Face folder), release.json"},
    {"eval", "eval teacher.model student.model", "release teacher_train train synth", "", 0, run_on_eval, run_eval,
     run_progress_eval, "MODEL/SET/{responses.jsonl,report.json,report.md,report.html} for teacher, student, baseline"},
    {"report", "run.name eval", "eval", "report.json report.md report.html", 0, run_on_eval, run_report, NULL,
     "report.json, report.md, report.html"},
};
const int run_n_stages = (int)(sizeof run_stages / sizeof run_stages[0]);

const char *run_state_name(run_state_t s) {
    static const char *names[] = {"off", "waiting", "pending", "partial", "stale", "done"};
    return names[s];
}

int run_stage_index(const char *name) {
    for (int i = 0; i < run_n_stages; i++)
        if (!strcmp(run_stages[i].name, name)) return i;
    return -1;
}

const run_stage_t *run_stage_find(const char *name) {
    int i = run_stage_index(name);
    return i < 0 ? NULL : &run_stages[i];
}

void run_sdir(const run_ctx_t *c, const char *stage, char *buf, size_t n) {
    snprintf(buf, n, "%s/%02d-%s", c->dir, run_stage_index(stage) + 1, stage);
}

void run_file(const run_ctx_t *c, const char *stage, const char *rel, char *buf, size_t n) {
    snprintf(buf, n, "%s/%02d-%s/%s", c->dir, run_stage_index(stage) + 1, stage, rel);
}

int run_enabled(const run_ctx_t *c, const char *stage) {
    const run_stage_t *s = run_stage_find(stage);
    return s && s->enabled(c);
}

int run_on_synth(const run_ctx_t *c) { return mf_has(c->m, "synth"); }
int run_on_teacher_train(const run_ctx_t *c) { return mf_has(c->m, "teacher.train"); }
int run_on_always(const run_ctx_t *c) { return (void)c, 1; }
int run_on_decontam(const run_ctx_t *c) { return mf_bool(c->m, "decontam.enabled", 1); }
int run_on_eval(const run_ctx_t *c) {
    return mf_bool(c->m, "eval.teacher", 1) || mf_bool(c->m, "eval.student", 1) || mf_bool(c->m, "eval.baseline", 1);
}

/* ---- hashing ---- */

static r1d_status hash_file(XXH3_state_t *x, const char *path, err_t *e) {
    file_map_t fm;
    TRY(file_map_open(&fm, path, e));
    if (fm.size) XXH3_64bits_update(x, fm.data, fm.size);
    file_map_close(&fm);
    return R1D_OK;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Names and contents of a folder's regular files, recursively, in name order. */
static r1d_status hash_dir(XXH3_state_t *x, const char *dir, const char *rel, err_t *e) {
    DIR *d = opendir(dir);
    if (!d) return ERR(e, R1D_EIO, "%s: cannot open: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn) break;
        names = nn;
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    r1d_status st = R1D_OK;
    for (size_t i = 0; i < n && st == R1D_OK; i++) {
        char p[4400], r[1200];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        struct stat sb;
        if (stat(p, &sb)) continue;
        XXH3_64bits_update(x, r, strlen(r) + 1);
        if (S_ISDIR(sb.st_mode)) st = hash_dir(x, p, r, e);
        else if (S_ISREG(sb.st_mode)) st = hash_file(x, p, e);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

r1d_status run_hash_path(const char *path, char hex[17], err_t *e) {
    XXH3_state_t *x = XXH3_createState();
    if (!x) return ERR(e, R1D_ENOMEM, "out of memory");
    XXH3_64bits_reset(x);
    r1d_status st = file_is_dir(path) ? hash_dir(x, path, "", e) : hash_file(x, path, e);
    snprintf(hex, 17, "%016llx", (unsigned long long)XXH3_64bits_digest(x));
    XXH3_freeState(x);
    return st;
}

/* ---- DONE markers and states ---- */

json_t *run_done_load(const run_ctx_t *c, const char *stage) {
    char p[4400];
    run_file(c, stage, "DONE", p, sizeof p);
    json_t *j;
    err_t e;
    if (!file_exists(p) || js_load_file(p, &j, &e) != R1D_OK) return NULL;
    if (!json_is_string(json_object_get(j, "inputs")) || !json_is_object(json_object_get(j, "outputs"))) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A stage's enabled dependencies: a disabled one stands for its own. */
static void add_deps(const run_ctx_t *c, const char *deps, char out[][32], int *n) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", deps);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        const run_stage_t *d = run_stage_find(t);
        if (!d) continue;
        if (!d->enabled(c)) {
            add_deps(c, d->deps, out, n);
            continue;
        }
        int seen = 0;
        for (int i = 0; i < *n; i++) seen |= !strcmp(out[i], t);
        if (!seen && *n < 16) snprintf(out[(*n)++], 32, "%s", t);
    }
}

/* The input hash: stage name, the canonical manifest keys, the consumed stages' outputs.
 * 0 when a dependency is not done. */
static int stage_inputs(const run_ctx_t *c, const run_stage_t *s, char hex[17], char *waiting, size_t wn) {
    XXH3_state_t *x = XXH3_createState();
    XXH3_64bits_reset(x);
    XXH3_64bits_update(x, s->name, strlen(s->name) + 1);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s->keys);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char *canon = mf_canonical(c->m, t);
        XXH3_64bits_update(x, t, strlen(t) + 1);
        if (canon) XXH3_64bits_update(x, canon, strlen(canon) + 1);
        free(canon);
    }
    char deps[16][32];
    int nd = 0, ok = 1;
    add_deps(c, s->deps, deps, &nd);
    for (int i = 0; i < nd && ok; i++) {
        const run_stage_t *d = run_stage_find(deps[i]);
        char dh[17];
        json_t *done = NULL;
        if (stage_inputs(c, d, dh, NULL, 0) && (done = run_done_load(c, d->name)) &&
            !strcmp(json_string_value(json_object_get(done, "inputs")), dh)) {
            char *o = json_dumps(json_object_get(done, "outputs"), JSON_SORT_KEYS | JSON_COMPACT);
            XXH3_64bits_update(x, d->name, strlen(d->name) + 1);
            if (o) XXH3_64bits_update(x, o, strlen(o) + 1);
            free(o);
        } else {
            ok = 0;
            if (waiting) snprintf(waiting, wn, "%s", d->name);
        }
        json_decref(done);
    }
    snprintf(hex, 17, "%016llx", (unsigned long long)XXH3_64bits_digest(x));
    XXH3_freeState(x);
    return ok;
}

run_state_t run_stage_state(const run_ctx_t *c, const run_stage_t *s, char *inputs) {
    if (!s->enabled(c)) return RUN_OFF;
    char hex[17], waiting[64];
    if (!stage_inputs(c, s, hex, waiting, sizeof waiting)) return RUN_WAITING;
    if (inputs) memcpy(inputs, hex, 17);
    json_t *done = run_done_load(c, s->name);
    if (done) {
        int same = !strcmp(json_string_value(json_object_get(done, "inputs")), hex);
        json_decref(done);
        return same ? RUN_DONE : RUN_STALE;
    }
    char p[4400], *buf = NULL;
    size_t n;
    err_t e;
    run_file(c, s->name, "INPUTS", p, sizeof p);
    run_state_t st = RUN_PENDING;
    if (file_exists(p) && file_read_all(p, &buf, &n, &e) == R1D_OK && n >= 16 && !strncmp(buf, hex, 16)) st = RUN_PARTIAL;
    free(buf);
    return st;
}

/* ---- files ---- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* core/file.h's atomic writers write "NAME.tmp.PID" and rename it when complete. */
int run_is_temp(const char *name) {
    const char *t = strstr(name, ".tmp.");
    while (t && strstr(t + 1, ".tmp.")) t = strstr(t + 1, ".tmp.");
    return t && t[5] && strspn(t + 5, "0123456789") == strlen(t + 5);
}

static int rm_temp(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)ftw;
    if (flag == FTW_F && run_is_temp(path + ftw->base)) remove(path);
    return 0;
}

void run_clean_temps(const char *sdir) { nftw(sdir, rm_temp, 16, FTW_PHYS); }

r1d_status run_rmtree(const run_ctx_t *c, const char *path, err_t *e) {
    size_t n = strlen(c->dir);
    if (strncmp(path, c->dir, n) || path[n] != '/' || strstr(path, "/.."))
        return ERR(e, R1D_EINTERNAL, "%s: refusing to remove a folder outside the run folder %s", path, c->dir);
    if (!file_exists(path)) return R1D_OK;
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS))
        return ERR(e, R1D_EIO, "%s: cannot remove: %s", path, strerror(errno));
    return R1D_OK;
}

int64_t run_count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char buf[65536];
    size_t n;
    int64_t lines = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++) lines += buf[i] == '\n';
    fclose(f);
    return lines;
}

r1d_status run_write_json(const char *path, const json_t *j, err_t *e) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
    if (!s) return ERR(e, R1D_ENOMEM, "%s: cannot serialise", path);
    size_t n = strlen(s);
    char *t = malloc(n + 2);
    if (!t) {
        free(s);
        return ERR(e, R1D_ENOMEM, "out of memory");
    }
    memcpy(t, s, n);
    t[n] = '\n';
    r1d_status st = file_write_atomic(path, t, n + 1, e);
    free(t);
    free(s);
    return st;
}

void run_strs_free(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int strs_from(const mf_t *m, const char *key, char ***out) {
    size_t n = mf_len(m, key);
    *out = calloc(n ? n : 1, sizeof **out);
    for (size_t i = 0; i < n; i++) {
        char k[256];
        snprintf(k, sizeof k, "%s[%zu]", key, i);
        (*out)[i] = strdup(mf_str(m, k, ""));
    }
    return (int)n;
}

int run_eval_sets(const run_ctx_t *c, char ***paths) {
    if (mf_len(c->m, "eval.sets") || !mf_has(c->m, "synth")) return strs_from(c->m, "eval.sets", paths);
    *paths = calloc(1, sizeof **paths);
    char p[4400];
    run_file(c, "synth", "eval.jsonl", p, sizeof p);
    (*paths)[0] = strdup(p);
    return 1;
}

int run_decontam_sets(const run_ctx_t *c, char ***paths) {
    if (mf_len(c->m, "decontam.sets")) return strs_from(c->m, "decontam.sets", paths);
    return run_eval_sets(c, paths);
}

void run_teacher_dir(const run_ctx_t *c, char *buf, size_t n) {
    if (mf_has(c->m, "teacher.model")) snprintf(buf, n, "%s", mf_str(c->m, "teacher.model", ""));
    else run_file(c, "teacher_train", "model", buf, n);
}

void run_teacher_name(const run_ctx_t *c, char *buf, size_t n) {
    if (mf_has(c->m, "teacher.model")) {
        const char *p = mf_str(c->m, "teacher.model", "");
        size_t l = strlen(p);
        while (l > 1 && p[l - 1] == '/') l--;
        const char *b = p + l;
        while (b > p && b[-1] != '/') b--;
        snprintf(buf, n, "%.*s", (int)(p + l - b), b);
    } else {
        snprintf(buf, n, "%s/teacher", mf_str(c->m, "run.name", "run"));
    }
}

void run_student_tokenizer(const run_ctx_t *c, char *buf, size_t n) {
    if (mf_has(c->m, "student.model")) snprintf(buf, n, "%s", mf_str(c->m, "student.model", ""));
    else if (mf_has(c->m, "student.init.tokenizer")) snprintf(buf, n, "%s", mf_str(c->m, "student.init.tokenizer", ""));
    else run_file(c, "synth", "tokenizer", buf, n);
}

void run_student_base(const run_ctx_t *c, char *buf, size_t n) {
    if (mf_has(c->m, "student.model")) snprintf(buf, n, "%s", mf_str(c->m, "student.model", ""));
    else run_file(c, "train", "init", buf, n);
}

void run_student_release(const run_ctx_t *c, char *buf, size_t n) {
    const char *name = mf_str(c->m, "release.name", mf_str(c->m, "run.name", "student"));
    run_file(c, "release", name, buf, n);
}

r1d_status run_agree(run_ctx_t *c, r1d_status st, err_t *e) {
    if (c->size == 1) return st;
    int64_t bad = st != R1D_OK;
    err_t ce;
    if (comm_allreduce(c->comm, &bad, 1, DT_I64, COMM_MAX, &ce) != R1D_OK) {
        if (st == R1D_OK) *e = ce;
        return st ? st : ce.code;
    }
    if (bad && st == R1D_OK) return ERR(e, R1D_EINTERNAL, "another rank failed (see its message)");
    return st;
}

void run_pathf(char *out, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    if (k >= (int)n) log_error("path too long (%d bytes), cut: %s", k, out);
}
