/* r1d status: where a run stands, stage by stage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "core/file.h"
#include "core/json.h"

static const char *usage =
    "usage: r1d status RUN_DIR\n"
    "Each stage of the run in RUN_DIR (made by `r1d run`) with its state: done (with its time), partial (with\n"
    "progress: samples written / expected, train step / total, eval responses), stale (its inputs changed: the\n"
    "next run redoes it), pending, waiting (for an earlier stage) or off (not in the manifest). The manifest is\n"
    "the copy in RUN_DIR/manifest.yaml, read with the paths of the folder it came from.\n";

int cmd_status(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 2) return cli_usage_error("status", "expected one RUN_DIR");
    err_t e = {0};
    run_ctx_t c = {.rank = 0, .size = 1};
    char p[4400], cwd[2048];
    const char *dir = argv[1];
    if (dir[0] != '/' && getcwd(cwd, sizeof cwd)) run_pathf(c.dir, sizeof c.dir, "%s/%s", cwd, dir);
    else snprintf(c.dir, sizeof c.dir, "%s", dir);
    size_t l = strlen(c.dir);
    while (l > 1 && c.dir[l - 1] == '/') c.dir[--l] = 0;
    snprintf(p, sizeof p, "%s/run.json", c.dir);
    if (!file_exists(p)) {
        ERR(&e, R1D_ENOTFOUND, "%s: not a run folder (no run.json; `r1d run MANIFEST` makes one)", dir);
        return cli_fail("status", &e);
    }
    json_t *run;
    if (js_load_file(p, &run, &e) != R1D_OK) return cli_fail("status", &e);
    const char *mdir = json_string_value(json_object_get(run, "manifest_dir"));
    snprintf(p, sizeof p, "%s/manifest.yaml", c.dir);
    char *text;
    size_t n;
    r1d_status st = file_read_all(p, &text, &n, &e);
    if (st == R1D_OK) {
        st = mf_load_string(&c.m, text, n, p, mdir ? mdir : c.dir, &e);
        free(text);
    }
    if (st == R1D_OK) st = mf_validate(c.m, &run_schema, 0, &e);
    if (st != R1D_OK) {
        json_decref(run);
        mf_free(c.m);
        return cli_fail("status", &e);
    }
    printf("run %s in %s\n", json_string_value(json_object_get(run, "name")), c.dir);
    json_decref(run);
    int all_done = 1;
    for (int i = 0; i < run_n_stages; i++) {
        const run_stage_t *s = &run_stages[i];
        char sdir[4400], detail[512] = "";
        run_sdir(&c, s->name, sdir, sizeof sdir);
        run_state_t state = run_stage_state(&c, s, NULL);
        if (state == RUN_DONE) {
            json_t *d = run_done_load(&c, s->name);
            snprintf(detail, sizeof detail, "%.1f s", json_number_value(json_object_get(d, "seconds")));
            json_decref(d);
        } else if ((state == RUN_PARTIAL || (state == RUN_PENDING && file_is_dir(sdir))) && s->progress) {
            s->progress(&c, sdir, detail, sizeof detail);
        }
        if (state != RUN_DONE && state != RUN_OFF) all_done = 0;
        printf("  %02d-%-14s %-8s %s\n", i + 1, s->name, run_state_name(state), detail);
    }
    printf("%s\n", all_done ? "finished" : "not finished: `r1d run` the manifest again to continue");
    mf_free(c.m);
    return 0;
}
