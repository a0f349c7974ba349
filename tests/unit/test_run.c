/* `r1d run` end to end on the reduced demo (tests/fixtures/manifests/tiny.yaml): every
 * stage's outputs exist, match their DONE hashes and verify, the report parses; a rerun is
 * a no-op; a changed section redoes exactly the stages downstream; --only and --from;
 * `r1d status`; a run folder of another run is refused; and kill -9 at random points, then
 * a rerun, ends with the same output hashes as an uninterrupted run. Needs bin/r1d (R1D). */
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/file.h"
#include "test.h"

#define TINY "tests/fixtures/manifests/tiny.yaml"
#define N_STAGES 11
static const char *stages[N_STAGES] = {"01-synth", "02-teacher_train", "03-generate", "04-filter", "05-dedup", "06-decontam",
                                       "07-export", "08-train", "09-release", "10-eval", "11-report"};

extern char **environ;
static char g_tmp[] = "/tmp/r1d-run-XXXXXX";
static char g_dir[256];       /* the run folder */
static char g_ref[N_STAGES][4096]; /* each stage's DONE outputs of the first, uninterrupted run */
static const char *g_r1d;

static pid_t spawn_r1d(char *const extra[], int quiet) {
    char *argv[32] = {(char *)g_r1d, "--log-level", quiet ? "error" : "warn", NULL};
    int n = 3;
    for (int i = 0; extra[i] && n < 30; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (quiet) posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, g_r1d, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

static int wait_rc(pid_t pid) {
    int st;
    if (pid <= 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int run_manifest(const char *manifest, const char *flag, const char *stage) {
    char *args[] = {"run", (char *)manifest, "--run-dir", g_dir, (char *)flag, (char *)stage, NULL};
    return wait_rc(spawn_r1d(args, 1));
}

/* Output of a shell command (stdout + stderr) and its exit code. */
static int sh(const char *cmd, char *out, size_t n) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t k = fread(out, 1, n - 1, p);
    out[k] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *load(const char *path) {
    json_error_t je;
    return json_load_file(path, 0, &je);
}

/* Raw DONE bytes of every stage (a rewritten DONE differs: it records the stage's time). */
static void done_bytes(char out[N_STAGES][8192]) {
    for (int i = 0; i < N_STAGES; i++) {
        char p[512], *buf = NULL;
        size_t n;
        err_t e;
        snprintf(p, sizeof p, "%s/%s/DONE", g_dir, stages[i]);
        out[i][0] = 0;
        if (file_read_all(p, &buf, &n, &e) == R1D_OK) snprintf(out[i], 8192, "%s", buf);
        free(buf);
    }
}

/* Each stage's DONE "outputs", canonical. */
static void done_outputs(char out[N_STAGES][4096]) {
    for (int i = 0; i < N_STAGES; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s/DONE", g_dir, stages[i]);
        json_t *j = load(p);
        char *s = j ? json_dumps(json_object_get(j, "outputs"), JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        snprintf(out[i], 4096, "%s", s ? s : "(none)");
        free(s);
        json_decref(j);
    }
}

static void test_end_to_end(void) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    fprintf(stderr, "test_run: the reduced demo ran in %.1f s\n", (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    /* every stage is done, and each output's XXH3 (files) is the one in DONE */
    for (int i = 0; i < N_STAGES; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s/DONE", g_dir, stages[i]);
        json_t *d = load(p);
        CHECK_MSG(d != NULL, "%s: no DONE", stages[i]);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(d, "outputs"), k, v) {
            char f[1024];
            snprintf(f, sizeof f, "%s/%s/%s", g_dir, stages[i], k);
            CHECK_MSG(file_exists(f), "%s: output %s missing", stages[i], k);
            if (file_is_dir(f)) continue;
            char *buf;
            size_t n;
            err_t e;
            if (file_read_all(f, &buf, &n, &e) != R1D_OK) continue;
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH3_64bits(buf, n));
            CHECK_MSG(!strcmp(hex, json_string_value(v)), "%s: %s hashes %s, DONE says %s", stages[i], k, hex,
                      json_string_value(v));
            free(buf);
        }
        json_decref(d);
    }
    done_outputs(g_ref);
    /* the dataset verifies on its own, decontamination removed the planted eval problems */
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof cmd, "%s dataset verify %s/07-export/dataset.tar.zst 2>&1", g_r1d, g_dir);
    CHECK_MSG(sh(cmd, out, sizeof out) == 0, "%s", out);
    char p[512];
    snprintf(p, sizeof p, "%s/06-decontam/report.json", g_dir);
    json_t *dc = load(p);
    json_t *counts = json_object_get(dc, "counts");
    CHECK_MSG(json_integer_value(json_object_get(counts, "kept")) < json_integer_value(json_object_get(counts, "in")),
              "decontamination removed nothing");
    json_decref(dc);
    /* the release loads as a model */
    snprintf(cmd, sizeof cmd, "%s inspect %s/09-release/tiny 2>&1", g_r1d, g_dir);
    CHECK_MSG(sh(cmd, out, sizeof out) == 0, "%s", out);
    /* the side-by-side report */
    snprintf(p, sizeof p, "%s/11-report/report.json", g_dir);
    json_t *r = load(p);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "format")), "r1d.run-report");
    json_t *set = json_array_get(json_object_get(r, "sets"), 0);
    const char *models[] = {"teacher", "student", "baseline"};
    for (int i = 0; i < 3; i++) {
        json_t *m = json_object_get(json_object_get(set, "models"), models[i]);
        double p1 = json_number_value(json_object_get(m, "pass@1"));
        CHECK_MSG(json_is_number(json_object_get(m, "pass@1")) && p1 >= 0 && p1 <= 1, "%s: pass@1", models[i]);
        CHECK(json_is_number(json_object_get(m, "cons@k")));
    }
    CHECK(json_is_number(json_object_get(set, "student_gain_pass@1")));
    CHECK_EQ_INT(json_integer_value(json_object_get(set, "n_problems")), 6);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(r, "pipeline"), "generated")), 32);
    json_decref(r);
    char *html;
    size_t n;
    err_t e;
    snprintf(p, sizeof p, "%s/11-report/report.html", g_dir);
    CHECK_OK(file_read_all(p, &html, &n, &e), &e);
    CHECK(html && strstr(html, "<svg") && strstr(html, "baseline &rarr; student"));
    free(html);
    /* status */
    snprintf(cmd, sizeof cmd, "%s status %s 2>&1", g_r1d, g_dir);
    CHECK_EQ_INT(sh(cmd, out, sizeof out), 0);
    int n_done = 0;
    for (char *q = out; (q = strstr(q, " done ")); q++) n_done++;
    CHECK_MSG(n_done == N_STAGES && strstr(out, "finished"), "%s", out);
    /* the manifest is kept with the run */
    snprintf(p, sizeof p, "%s/manifest.yaml", g_dir);
    CHECK(file_exists(p));
}

static void test_rerun_is_noop(void) {
    static char before[N_STAGES][8192], after[N_STAGES][8192];
    done_bytes(before);
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
    done_bytes(after);
    for (int i = 0; i < N_STAGES; i++) CHECK_MSG(!strcmp(before[i], after[i]), "%s was redone", stages[i]);
}

/* A stage killed after its last write but before DONE, with the temporary files a killed
 * atomic writer leaves: the resumed stage's outputs are the uninterrupted run's. */
static void test_stray_temporaries(void) {
    char p[512];
    const char *junk[][2] = {{"01-synth", "tokenizer/tokenizer.json.tmp.4242"}, {"08-train", "out/latest.tmp.4243"},
                             {"08-train", "out/config.json.tmp.4244"}};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        snprintf(p, sizeof p, "%s/%s/DONE", g_dir, junk[i][0]);
        unlink(p);
        snprintf(p, sizeof p, "%s/%s/%s", g_dir, junk[i][0], junk[i][1]);
        FILE *f = fopen(p, "w");
        CHECK(f != NULL);
        if (f) fputs("half a write", f), fclose(f);
    }
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
    static char got[N_STAGES][4096];
    done_outputs(got);
    for (int i = 0; i < N_STAGES; i++) CHECK_MSG(!strcmp(got[i], g_ref[i]), "%s: %s, want %s", stages[i], got[i], g_ref[i]);
    snprintf(p, sizeof p, "%s/08-train/out/latest.tmp.4243", g_dir);
    CHECK(!file_exists(p));
}

/* A copy of the tiny manifest with extra YAML appended to a section (YAML keys may not repeat, so the
 * copy is the fixture with that section's block replaced). */
static void write_variant(const char *path, const char *find, const char *replace) {
    char *buf;
    size_t n;
    err_t e;
    if (file_read_all(TINY, &buf, &n, &e) != R1D_OK) return;
    char *at = strstr(buf, find);
    FILE *f = fopen(path, "w");
    if (at) fprintf(f, "%.*s%s%s", (int)(at - buf), buf, replace, at + strlen(find));
    else fprintf(f, "%s", buf);
    fclose(f);
    free(buf);
}

static void expect_redone(const char *what, char before[N_STAGES][8192], int first, int last) {
    static char after[N_STAGES][8192];
    done_bytes(after);
    for (int i = 0; i < N_STAGES; i++) {
        int redone = strcmp(before[i], after[i]) != 0, want = i >= first && i <= last;
        CHECK_MSG(redone == want, "%s: %s %s", what, stages[i], want ? "was not redone" : "was redone");
    }
}

static void test_changed_section(void) {
    static char before[N_STAGES][8192];
    char v1[512], v2[512], v3[512];
    snprintf(v1, sizeof v1, "%s/variant-dedup.yaml", g_tmp);
    snprintf(v2, sizeof v2, "%s/variant-eval.yaml", g_tmp);
    snprintf(v3, sizeof v3, "%s/variant-student.yaml", g_tmp);
    write_variant(v1, "student:\n", "dedup:\n  exact: false\n  near: false\nstudent:\n");
    write_variant(v2, "eval:\n  k: 2\n", "eval:\n  k: 3\n");
    write_variant(v3, "  lr: 3e-3\n  save_every: 1\n", "  lr: 2e-3\n  save_every: 1\n");
    /* the student's learning rate: training and everything after it */
    done_bytes(before);
    CHECK_EQ_INT(run_manifest(v3, NULL, NULL), 0);
    expect_redone("student.lr changed", before, 7, 10);
    /* back to the original: the stages redone give the first run's outputs again */
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
    static char back[N_STAGES][4096];
    done_outputs(back);
    for (int i = 0; i < N_STAGES; i++) CHECK_MSG(!strcmp(back[i], g_ref[i]), "%s: outputs differ after going back", stages[i]);
    /* eval.k: eval and the report only */
    done_bytes(before);
    CHECK_EQ_INT(run_manifest(v2, NULL, NULL), 0);
    expect_redone("eval.k changed", before, 9, 10);
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
    /* dedup off keeps a duplicate: dedup, decontam and export are redone (the stages after them
     * are redone only where an input's outputs changed: content addressing) */
    done_bytes(before);
    CHECK_EQ_INT(run_manifest(v1, NULL, NULL), 0);
    static char after[N_STAGES][8192];
    done_bytes(after);
    for (int i = 0; i < N_STAGES; i++) {
        int redone = strcmp(before[i], after[i]) != 0;
        if (i < 4) CHECK_MSG(!redone, "dedup changed: %s was redone", stages[i]);
        if (i >= 4 && i <= 7) CHECK_MSG(redone, "dedup changed: %s was not redone", stages[i]);
    }
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
    /* non-reasoning chat data mixed in at a share: filter onwards redone, the mix reported and exported */
    char chat[512], v4[512];
    snprintf(chat, sizeof chat, "%s/chat.jsonl", g_tmp);
    FILE *f = fopen(chat, "w");
    for (int i = 0; i < 20; i++)
        fprintf(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"Say hello number %d to the world\"}, "
                   "{\"role\": \"assistant\", \"content\": \"Hello world, greeting number %d.\"}]}\n", i, i);
    fclose(f);
    snprintf(v4, sizeof v4, "%s/variant-mix.yaml", g_tmp);
    write_variant(v4, "verify:\n", "non_reasoning:\n  sources: [chat.jsonl]\n  share: 0.2\nverify:\n");
    done_bytes(before);
    CHECK_EQ_INT(run_manifest(v4, NULL, NULL), 0);
    done_bytes(after);
    for (int i = 0; i < 8; i++)
        CHECK_MSG((strcmp(before[i], after[i]) != 0) == (i >= 3), "non_reasoning: %s %s", stages[i],
                  i >= 3 ? "was not redone" : "was redone");
    char p[512];
    snprintf(p, sizeof p, "%s/04-filter/mix.json", g_dir);
    json_t *mix = load(p);
    CHECK_MSG(json_integer_value(json_object_get(json_object_get(mix, "counts"), "chat")) == 8, "mix: 8 chat samples (20%% of 40)");
    json_decref(mix);
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, "%s dataset stats %s/07-export/dataset.tar.zst 2>&1", g_r1d, g_dir);
    CHECK_EQ_INT(sh(cmd, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "stage mix:") && strstr(out, "chat.jsonl"), "%s", out);
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
}

static void test_only_from(void) {
    static char before[N_STAGES][8192];
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
    done_bytes(before);
    CHECK_EQ_INT(run_manifest(TINY, "--only", "report"), 0);
    expect_redone("--only report", before, 10, 10);
    done_bytes(before);
    CHECK_EQ_INT(run_manifest(TINY, "--from", "eval"), 0); /* eval gives the same outputs: the report stays */
    expect_redone("--from eval", before, 9, 9);
    done_bytes(before);
    CHECK_EQ_INT(run_manifest(TINY, "--only", "dedup"), 0); /* dedup redone, same outputs: nothing else changes */
    expect_redone("--only dedup", before, 4, 4);
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
    expect_redone("after --only dedup", before, 4, 4);
    /* stages before --only must be done */
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, "%s run %s --run-dir %s/other --only dedup 2>&1", g_r1d, TINY, g_tmp);
    CHECK_EQ_INT(sh(cmd, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "stage synth must be done before --only dedup, it is pending"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s run %s --only nope 2>&1", g_r1d, TINY);
    CHECK_EQ_INT(sh(cmd, out, sizeof out), 2);
    CHECK_MSG(strstr(out, "--only 'nope': expected a stage: synth, teacher_train,"), "%s", out);
}

static void test_other_run_refused(void) {
    char v[512], cmd[1024], out[8192];
    snprintf(v, sizeof v, "%s/other-name.yaml", g_tmp);
    write_variant(v, "name: tiny", "name: tinier");
    snprintf(cmd, sizeof cmd, "%s run %s --run-dir %s 2>&1", g_r1d, v, g_dir);
    CHECK_EQ_INT(sh(cmd, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "this run folder belongs to run 'tiny', the manifest's run.name is 'tinier'"), "%s", out);
}

/* Under mpirun generation shards the prompts over the ranks: the merged samples are the
 * single process's, byte for byte; training runs data parallel. (Under LeakSanitizer the
 * ranks would report what Open MPI keeps until exit, as tests/unit/test_mpi_lsan.h says:
 * leak checking is off for these two runs only.) */
static void test_mpi(void) {
    char cmd[1024], out[16384];
    if (sh("mpirun -np 2 true 2>&1", out, sizeof out))
        SKIP("mpirun cannot start 2 ranks here (tests/run.sh sets what Open MPI needs in containers)");
    snprintf(cmd, sizeof cmd, "LSAN_OPTIONS=detect_leaks=0 mpirun -np 2 %s --log-level error run %s --run-dir %s --only generate 2>&1",
             g_r1d, TINY, g_dir);
    CHECK_MSG(sh(cmd, out, sizeof out) == 0, "%s", out);
    static char got[N_STAGES][4096];
    done_outputs(got);
    CHECK_MSG(!strcmp(got[2], g_ref[2]), "generate under 2 ranks: %s, single process: %s", got[2], g_ref[2]);
    char p[512];
    snprintf(p, sizeof p, "%s/03-generate/raw/shard-00001-of-00002.jsonl", g_dir);
    CHECK(file_exists(p));
    snprintf(cmd, sizeof cmd, "LSAN_OPTIONS=detect_leaks=0 mpirun -np 2 %s --log-level error run %s --run-dir %s --only train 2>&1",
             g_r1d, TINY, g_dir);
    CHECK_MSG(sh(cmd, out, sizeof out) == 0, "%s", out);
    snprintf(p, sizeof p, "%s/08-train/out/metrics.jsonl", g_dir);
    CHECK(file_exists(p));
}

/* Seconds the stage took in the run folder's last run (its DONE), or 0. */
static double stage_seconds(int i) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s/DONE", g_dir, stages[i]);
    json_t *j = load(p);
    double s = json_number_value(json_object_get(j, "seconds"));
    json_decref(j);
    return s;
}

/* Kill points follow the run's progress, not the clock (the machine's load and speed vary):
 * each round waits until a target stage has started (its INPUTS file appears), lets it run a
 * random 10-70% of the time that stage took in the uninterrupted run, and kills -9. The
 * targets: the two trainings, generation, eval, and one dataset stage drawn at random. */
static void test_kill_resume(void) {
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
    static char ref[N_STAGES][4096];
    done_outputs(ref);
    for (int i = 0; i < N_STAGES; i++) CHECK_MSG(!strcmp(ref[i], g_ref[i]), "%s: a second clean run differs", stages[i]);
    double secs[N_STAGES];
    for (int i = 0; i < N_STAGES; i++) secs[i] = stage_seconds(i);
    CHECK_EQ_INT(system(cmd), 0);
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    int targets[] = {1, 2, 3 + rand() % 4, 7, 9};
    int kills = 0, partial_seen = 0;
    char *args[] = {"run", TINY, "--run-dir", g_dir, NULL};
    for (size_t ti = 0; ti < sizeof targets / sizeof targets[0]; ti++) {
        int t = targets[ti];
        char inputs[512];
        snprintf(inputs, sizeof inputs, "%s/%s/INPUTS", g_dir, stages[t]);
        pid_t pid = spawn_r1d(args, 1);
        CHECK_MSG(pid > 0, "cannot start %s", g_r1d);
        if (pid <= 0) return;
        int st, finished = 0;
        while (!file_exists(inputs))
            if (waitpid(pid, &st, WNOHANG) == pid) {
                finished = 1;
                break;
            } else usleep(200);
        double delay = secs[t] * (0.1 + 0.6 * rand() / (double)RAND_MAX);
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (finished || (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= delay) break;
            if (waitpid(pid, &st, WNOHANG) == pid) finished = 1;
            else usleep(200);
        }
        if (finished) continue;
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        kills++;
        snprintf(cmd, sizeof cmd, "%s status %s 2>&1", g_r1d, g_dir);
        const char *where = "(no stage partial)";
        if (sh(cmd, out, sizeof out) == 0) {
            char *l = strstr(out, "partial");
            if (l) partial_seen++;
            while (l && l > out && l[-1] != '\n') l--;
            if (l) where = l;
        }
        fprintf(stderr, "test_run: kill %d in %s after %.3f s (seed %u): %.70s\n", kills, stages[t], delay, seed, where);
    }
    CHECK_MSG(kills >= 2, "only %d kills landed before the run finished (seed %u)", kills, seed);
    CHECK_MSG(partial_seen >= 1, "no kill left a partial stage (seed %u)", seed);
    CHECK_EQ_INT(run_manifest(TINY, NULL, NULL), 0);
    static char got[N_STAGES][4096];
    done_outputs(got);
    for (int i = 0; i < N_STAGES; i++)
        CHECK_MSG(!strcmp(got[i], ref[i]), "%s: outputs after kills differ (seed %u):\n  %s\n  %s", stages[i], seed,
                  got[i], ref[i]);
}

int main(void) {
    g_r1d = getenv("R1D");
    if (!g_r1d) {
        fprintf(stderr, "test_run: skipped: R1D (path of bin/r1d) is not set; run through make test\n");
        t_skipped++;
        return test_summary("test_run");
    }
    if (!mkdtemp(g_tmp)) return 1;
    snprintf(g_dir, sizeof g_dir, "%s/run", g_tmp);
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    RUN(test_end_to_end);
    RUN(test_rerun_is_noop);
    RUN(test_stray_temporaries);
    RUN(test_changed_section);
    RUN(test_only_from);
    RUN(test_other_run_refused);
    RUN(test_mpi);
    RUN(test_kill_resume);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (!t_failed && system(cmd)) fprintf(stderr, "test_run: cannot remove %s\n", g_tmp);
    return test_summary("test_run");
}
