/* r1d run: a whole distillation run from one YAML manifest, stage by stage, resumable. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"

static const char *usage =
    "usage: r1d run MANIFEST.yaml [--check] [--from STAGE | --only STAGE] [--run-dir DIR]\n"
    "       r1d run --schema-md      print the manifest reference (docs/manifest.md)\n"
    "Runs the pipeline the manifest describes: synth, teacher_train, generate, filter, dedup, decontam, export,\n"
    "train, release, eval, report, each in RUN_DIR/NN-stage/ with a DONE marker holding the XXH3 of its\n"
    "inputs and outputs. Rerunning skips finished stages whose inputs are unchanged, redoes changed ones and\n"
    "resumes interrupted ones (even after kill -9). Under mpirun, generation and training use every rank.\n"
    "  --check          validate the manifest and print the plan (stages and their state, the teacher's layout\n"
    "                   and memory per GPU, expected outputs, files missing on this machine); runs nothing\n"
    "  --from STAGE     redo STAGE (even if done) and continue; the stages before it must be done\n"
    "  --only STAGE     redo STAGE alone; the stages before it must be done\n"
    "  --run-dir DIR    run folder (default: run.dir, else runs/NAME)\n"
    "docs/manifest.md lists every key; `r1d status RUN_DIR` shows a run's progress.\n";

typedef struct run_args {
    const char *manifest, *from, *only, *run_dir;
    int check, schema_md;
} run_args_t;

static int parse(int argc, char **argv, run_args_t *a) {
    static const struct option opts[] = {{"check", 0, 0, 'c'}, {"from", 1, 0, 'f'}, {"only", 1, 0, 'o'},
                                         {"run-dir", 1, 0, 'd'}, {"schema-md", 0, 0, 's'}, {0}};
    memset(a, 0, sizeof *a);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': a->check = 1; break;
        case 'f': a->from = optarg; break;
        case 'o': a->only = optarg; break;
        case 'd': a->run_dir = optarg; break;
        case 's': a->schema_md = 1; break;
        default: return cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (a->schema_md) return 0;
    if (optind != argc - 1) return cli_usage_error("run", "expected one MANIFEST.yaml");
    a->manifest = argv[optind];
    if (a->from && a->only) return cli_usage_error("run", "give --from or --only, not both");
    const char *st = a->from ? a->from : a->only;
    if (st && !run_stage_find(st)) {
        char names[512] = "";
        for (int i = 0; i < run_n_stages; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", run_stages[i].name);
        return cli_usage_error("run", "%s '%s': expected a stage: %s", a->from ? "--from" : "--only", st, names);
    }
    return 0;
}

static void abs_path(const char *p, char *out, size_t n) {
    char cwd[2048];
    if (p[0] == '/' || !getcwd(cwd, sizeof cwd)) run_pathf(out, n, "%s", p);
    else run_pathf(out, n, "%s/%s", cwd, p);
}

static void resolve_run_dir(const mf_t *m, const char *flag, char *out, size_t n) {
    char rel[4200];
    if (flag) snprintf(rel, sizeof rel, "%s", flag);
    else if (mf_has(m, "run.dir")) snprintf(rel, sizeof rel, "%s", mf_str(m, "run.dir", ""));
    else snprintf(rel, sizeof rel, "runs/%s", mf_str(m, "run.name", "run"));
    abs_path(rel, out, n);
    size_t l = strlen(out);
    while (l > 1 && out[l - 1] == '/') out[--l] = 0;
}

/* RUN_DIR/run.json ties the folder to one run name and keeps its creation time and the
 * manifest's folder (so that `r1d status` resolves the copied manifest's relative paths). */
static r1d_status run_dir_init(run_ctx_t *c, const char *manifest, err_t *e) {
    TRY(file_mkdirs(c->dir, e));
    char p[4400];
    snprintf(p, sizeof p, "%s/run.json", c->dir);
    const char *name = mf_str(c->m, "run.name", "");
    int64_t created = (int64_t)time(NULL);
    if (file_exists(p)) {
        json_t *j;
        TRY(js_load_file(p, &j, e));
        const char *old;
        r1d_status st = js_get_str(j, "name", 1, NULL, &old, p, e);
        if (st == R1D_OK && strcmp(old, name))
            st = ERR(e, R1D_EINVAL, "%s: this run folder belongs to run '%s', the manifest's run.name is '%s'; use "
                     "another --run-dir or run.dir", c->dir, old, name);
        if (st == R1D_OK) st = js_get_i64(j, "created", 1, 0, &created, p, e);
        json_decref(j);
        TRY(st);
    }
    json_t *j = json_pack("{s:s,s:i,s:s,s:I,s:s}", "format", "r1d.run", "version", 1, "name", name, "created",
                          (json_int_t)created, "manifest_dir", mf_dir(c->m));
    r1d_status st = run_write_json(p, j, e);
    json_decref(j);
    TRY(st);
    char *text;
    size_t n;
    TRY(file_read_all(manifest, &text, &n, e));
    snprintf(p, sizeof p, "%s/manifest.yaml", c->dir);
    st = file_write_atomic(p, text, n, e);
    free(text);
    return st;
}

static r1d_status load_epoch(run_ctx_t *c, err_t *e) {
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        c->epoch = strtoll(sde, NULL, 10);
        return R1D_OK;
    }
    char p[4400];
    snprintf(p, sizeof p, "%s/run.json", c->dir);
    json_t *j;
    TRY(js_load_file(p, &j, e));
    r1d_status st = js_get_i64(j, "created", 1, 0, &c->epoch, p, e);
    json_decref(j);
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)c->epoch);
    setenv("SOURCE_DATE_EPOCH", buf, 1); /* dataset export stamps its members with it */
    return st;
}

static r1d_status write_done(const run_stage_t *s, const char *sdir, const char *inputs, json_t *outs,
                             double seconds, err_t *e) {
    json_t *o = json_object();
    char names[512];
    snprintf(names, sizeof names, "%s", s->outputs);
    char *save = NULL;
    for (char *t = strtok_r(names, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        int opt = t[0] == '?';
        if (opt) t++;
        char p[4400];
        run_pathf(p, sizeof p, "%s/%s", sdir, t);
        if (opt && !file_exists(p)) continue;
        json_array_append_new(outs, json_string(t));
    }
    size_t i;
    json_t *v;
    r1d_status st = R1D_OK;
    json_array_foreach(outs, i, v) {
        char p[4400], hex[17];
        run_pathf(p, sizeof p, "%s/%s", sdir, json_string_value(v));
        if ((st = run_hash_path(p, hex, e)) != R1D_OK) break;
        json_object_set_new(o, json_string_value(v), json_string(hex));
    }
    if (st == R1D_OK) {
        json_t *d = json_pack("{s:s,s:i,s:s,s:s,s:O,s:f}", "format", "r1d.stage-done", "version", 1, "stage", s->name,
                              "inputs", inputs, "outputs", o, "seconds", seconds);
        char p[4400];
        run_pathf(p, sizeof p, "%s/DONE", sdir);
        st = run_write_json(p, d, e);
        json_decref(d);
    }
    json_decref(o);
    return st;
}

static r1d_status barrier(run_ctx_t *c, err_t *e) { return c->size > 1 ? comm_barrier(c->comm, e) : R1D_OK; }

static r1d_status run_one(run_ctx_t *c, const run_stage_t *s, int force, err_t *e) {
    char sdir[4400], inputs[17], p[4400];
    run_sdir(c, s->name, sdir, sizeof sdir);
    run_state_t state = run_stage_state(c, s, inputs);
    const char *label = strrchr(sdir, '/') + 1;
    if (state == RUN_WAITING) return ERR(e, R1D_EINTERNAL, "%s: a stage it needs is not done", label);
    if (state == RUN_DONE && !force) {
        if (c->rank == 0) log_info("%s: done, inputs unchanged: skipped", label);
        return R1D_OK;
    }
    r1d_status st = R1D_OK;
    if (c->rank == 0) {
        if (state == RUN_PARTIAL && !force) {
            log_info("%s: resuming", label);
            run_clean_temps(sdir);
        }
        else {
            log_info("%s: %s", label, state == RUN_STALE ? "inputs changed: redoing" : force ? "redoing" : "starting");
            st = run_rmtree(c, sdir, e);
        }
        if (st == R1D_OK) st = file_mkdirs(sdir, e);
        run_pathf(p, sizeof p, "%s/INPUTS", sdir);
        if (st == R1D_OK) st = file_write_atomic(p, inputs, 16, e);
    }
    TRY(run_agree(c, st, e));
    TRY(barrier(c, e));
    json_t *outs = json_array();
    double t0 = time_now();
    if (s->all_ranks || c->rank == 0) st = s->run(c, sdir, outs, e);
    if (st != R1D_OK) err_prefix(e, "%s: ", label);
    st = run_agree(c, st, e);
    if (st == R1D_OK && c->rank == 0) {
        st = write_done(s, sdir, inputs, outs, time_now() - t0, e);
        if (st == R1D_OK) log_info("%s: done in %.1f s", label, time_now() - t0);
    }
    json_decref(outs);
    st = run_agree(c, st, e);
    if (st == R1D_OK) st = barrier(c, e);
    return st;
}

static r1d_status run_all(run_ctx_t *c, const run_args_t *a, err_t *e) {
    int first = a->from ? run_stage_index(a->from) : a->only ? run_stage_index(a->only) : 0;
    int last = a->only ? first : run_n_stages - 1;
    if ((a->from || a->only) && !run_stages[first].enabled(c))
        return ERR(e, R1D_EINVAL, "stage %s is off in this manifest", run_stages[first].name);
    for (int i = 0; i < first; i++) {
        const run_stage_t *s = &run_stages[i];
        run_state_t st = run_stage_state(c, s, NULL);
        if (st != RUN_OFF && st != RUN_DONE)
            return ERR(e, R1D_EINVAL, "stage %s must be done before --%s %s, it is %s; run without --%s first", s->name,
                       a->from ? "from" : "only", run_stages[first].name, run_state_name(st), a->from ? "from" : "only");
    }
    for (int i = first; i <= last; i++) {
        const run_stage_t *s = &run_stages[i];
        if (!s->enabled(c)) continue;
        TRY(run_one(c, s, (a->from || a->only) && i == first, e));
    }
    return R1D_OK;
}

static int print_check(run_ctx_t *c, const run_args_t *a) {
    printf("manifest   %s: valid\n", a->manifest);
    printf("run folder %s%s\n", c->dir, file_is_dir(c->dir) ? "" : " (new)");
    printf("stages\n");
    for (int i = 0; i < run_n_stages; i++) {
        const run_stage_t *s = &run_stages[i];
        run_state_t st = run_stage_state(c, s, NULL);
        printf("  %02d-%-14s %-8s %s\n", i + 1, s->name, run_state_name(st), st == RUN_OFF ? "" : s->what);
    }
    int bad = run_plan_print(c, stdout);
    if (mf_n_missing(c->m)) {
        printf("missing on this machine (needed when the run starts)\n");
        for (size_t i = 0; i < mf_n_missing(c->m); i++) printf("  %s\n", mf_missing(c->m, i));
    }
    return bad;
}

int cmd_run(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    run_args_t a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    if (a.schema_md) {
        run_schema_doc(stdout);
        return 0;
    }
    err_t e = {0};
    comm_t *comm = NULL;
    if (comm_init(&comm, "auto", &e) != R1D_OK) return cli_fail("run", &e);
    run_ctx_t c = {.comm = comm, .rank = comm_rank(comm), .size = comm_size(comm)};
    r1d_status st = run_manifest_load(&c.m, a.manifest, !a.check, &e);
    if (st != R1D_OK) {
        if (c.rank == 0) {
            size_t n = c.m ? mf_n_errors(c.m) : 0;
            for (size_t i = 0; i < n; i++) fprintf(stderr, "r1d run: %s\n", mf_error(c.m, i));
            if (!n) cli_fail("run", &e);
        }
        mf_free(c.m);
        comm_free(comm);
        return 1;
    }
    resolve_run_dir(c.m, a.run_dir, c.dir, sizeof c.dir);
    if (a.check) {
        int bad = c.rank == 0 ? print_check(&c, &a) : 0;
        mf_free(c.m);
        comm_free(comm);
        return bad;
    }
    if (c.rank == 0) st = run_dir_init(&c, a.manifest, &e);
    st = run_agree(&c, st, &e);
    if (st == R1D_OK) st = barrier(&c, &e);
    if (st == R1D_OK) st = load_epoch(&c, &e);
    if (st == R1D_OK) st = run_all(&c, &a, &e);
    if (st == R1D_OK && c.rank == 0) log_info("run %s: finished; r1d status %s", mf_str(c.m, "run.name", ""), c.dir);
    rc = st == R1D_OK ? 0 : c.rank == 0 ? cli_fail("run", &e) : 1;
    mf_free(c.m);
    comm_free(comm);
    return rc;
}
