/* core/manifest.h (YAML manifests against a schema) and the run schema of `r1d run`:
 * every kind of manifest error with its FILE:LINE:COL line, defaults, canonical hashes,
 * impossible combinations, the recipes passing --check, and docs/manifest.md being the
 * schema's own reference. The `r1d run` parts need bin/r1d (R1D, set by make test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "core/manifest.h"
#include "test.h"

static const mf_key_t keys[] = {
    {"run", MF_SECTION, NULL, NULL, NULL, MF_REQUIRED, "Run."},
    {"run.name", MF_STR, NULL, NULL, NULL, MF_REQUIRED, "Name."},
    {"teacher", MF_SECTION, NULL, NULL, NULL, 0, "Teacher."},
    {"teacher.backend", MF_ENUM, "auto", NULL, "auto|cpu|cuda", 0, "Backend."},
    {"teacher.model", MF_DIR, NULL, NULL, NULL, MF_OPTIONAL | MF_RUNTIME, "Model."},
    {"teacher.sampling", MF_SECTION, NULL, NULL, NULL, 0, "Sampling."},
    {"teacher.sampling.temperature", MF_FLOAT, "0.6", "[0, 10]", NULL, 0, "T."},
    {"teacher.sampling.top_p", MF_FLOAT, "0.95", "(0, 1]", NULL, 0, "P."},
    {"teacher.train", MF_SECTION, NULL, NULL, NULL, MF_OPTIONAL, "Train."},
    {"teacher.train.lr", MF_FLOAT, "1e-3", "(0, 1]", NULL, 0, "LR."},
    {"samples", MF_INT, "4", "[1, 1000]", NULL, 0, "k."},
    {"share", MF_FLOAT, "0", "[0, 1)", NULL, 0, "Share."},
    {"packing", MF_BOOL, "true", NULL, NULL, 0, "Packing."},
    {"prompts", MF_LIST, "[]", NULL, NULL, 0, "Prompts."},
    {"prompts[].path", MF_PATH, NULL, NULL, NULL, MF_REQUIRED | MF_RUNTIME, "Path."},
    {"prompts[].weight", MF_FLOAT, "1", "(0, 1]", NULL, 0, "Weight."},
    {"sets", MF_PATH_LIST, "[]", NULL, NULL, MF_RUNTIME, "Sets."},
    {"rules", MF_STR_LIST, "[]", NULL, "format|length", 0, "Rules."},
};
static const mf_schema_t schema = {keys, sizeof keys / sizeof keys[0]};

/* Loads and validates text as "m.yaml" in /tmp; returns the status and leaves the error in e. */
static r1d_status check(const char *text, unsigned opts, mf_t **out, err_t *e) {
    mf_t *m = NULL;
    r1d_status st = mf_load_string(&m, text, strlen(text), "m.yaml", "/tmp", e);
    if (st == R1D_OK) st = mf_validate(m, &schema, opts, e);
    if (out) *out = m;
    else mf_free(m);
    return st;
}

static void test_defaults_and_getters(void) {
    err_t e;
    mf_t *m;
    CHECK_OK(check("run:\n  name: x\nteacher:\n  sampling:\n    temperature: 0.7\nprompts:\n  - path: /nonexistent/p.jsonl\n"
                   "    weight: 0.5\nrules: [format]\n", 0, &m, &e), &e);
    CHECK_STR(mf_str(m, "run.name", ""), "x");
    CHECK_STR(mf_str(m, "teacher.backend", ""), "auto");
    CHECK_NEAR(mf_f64(m, "teacher.sampling.temperature", 0), 0.7, 1e-12);
    CHECK_NEAR(mf_f64(m, "teacher.sampling.top_p", 0), 0.95, 1e-12);
    CHECK_EQ_INT(mf_i64(m, "samples", 0), 4);
    CHECK_EQ_INT(mf_bool(m, "packing", 0), 1);
    CHECK(!mf_has(m, "teacher.train")); /* optional section absent: its defaults are not filled in */
    CHECK(!mf_has(m, "teacher.model"));
    CHECK_EQ_INT(mf_len(m, "prompts"), 1);
    CHECK_NEAR(mf_f64(m, "prompts[0].weight", 0), 0.5, 1e-12);
    CHECK_STR(mf_str(m, "prompts[0].path", ""), "/nonexistent/p.jsonl");
    CHECK_STR(mf_str(m, "rules[0]", ""), "format");
    /* a runtime path that is missing is noted, not an error, without MF_V_FILES */
    CHECK_EQ_INT(mf_n_missing(m), 1);
    CHECK(mf_n_missing(m) && strstr(mf_missing(m, 0), "prompts[0].path"));
    char w[256];
    mf_where(m, "teacher.sampling.temperature", w, sizeof w);
    CHECK_STR(w, "m.yaml:5:18");
    mf_free(m);
    /* an empty optional section gets its defaults */
    CHECK_OK(check("run: {name: x}\nteacher:\n  train:\n", 0, &m, &e), &e);
    CHECK_NEAR(mf_f64(m, "teacher.train.lr", 0), 1e-3, 1e-15);
    mf_free(m);
}

static void test_canonical_hash(void) {
    err_t e;
    mf_t *a, *b, *c;
    CHECK_OK(check("run: {name: x}\nteacher:\n  backend: cpu\n  sampling: {top_p: 0.95, temperature: 6e-1}\n", 0, &a, &e), &e);
    CHECK_OK(check("# same values, other order, quoting and layout, a default written out\nteacher:\n  sampling:\n"
                   "    temperature: 0.60\n  backend: \"cpu\"\nrun:\n  name: 'x'\n", 0, &b, &e), &e);
    CHECK_OK(check("run: {name: x}\nteacher:\n  backend: cpu\n  sampling: {temperature: 0.61}\n", 0, &c, &e), &e);
    CHECK(mf_hash(a, "teacher") == mf_hash(b, "teacher"));
    CHECK(mf_hash(a, "teacher") != mf_hash(c, "teacher"));
    CHECK(mf_hash(a, "run") == mf_hash(c, "run"));
    CHECK(mf_hash(a, "teacher.train") == mf_hash(c, "teacher.train")); /* absent hashes as null */
    char *s = mf_canonical(a, "teacher.sampling");
    CHECK_STR(s, "{\"temperature\":0.59999999999999998,\"top_p\":0.94999999999999996}");
    free(s);
    mf_free(a), mf_free(b), mf_free(c);
}

/* Each kind of error: one line FILE:LINE:COL: key '...': ... */
static void test_errors(void) {
    err_t e;
    CHECK_ERR(check("run:\n  name: x\nteacher: [1, 2\n", 0, NULL, &e), &e, "m.yaml:4:1: invalid YAML");
    CHECK_ERR(check("run:\n  name: x\n  name: y\n", 0, NULL, &e), &e, "m.yaml:3:3: key 'run.name': duplicate key (first at 2:9)");
    CHECK_ERR(check("run:\n  name: x\nteacher:\n  samplng:\n    temperature: 1\n", 0, NULL, &e), &e,
              "m.yaml:4:3: key 'teacher.samplng': unknown key; did you mean 'teacher.sampling'?");
    CHECK_ERR(check("run:\n  name: x\nteacher:\n  temperature: 1\n", 0, NULL, &e), &e,
              "m.yaml:4:3: key 'teacher.temperature': unknown key here; did you mean 'teacher.sampling.temperature'?");
    CHECK_ERR(check("run: {name: x}\nsamples: four\n", 0, NULL, &e), &e,
              "m.yaml:2:10: key 'samples': expected an integer in [1, 1000], got 'four'");
    CHECK_ERR(check("run: {name: x}\nsamples: \"4\"\n", 0, NULL, &e), &e,
              "key 'samples': expected an integer in [1, 1000], got the string \"4\"");
    CHECK_ERR(check("run: {name: x}\nsamples: 0\n", 0, NULL, &e), &e, "m.yaml:2:10: key 'samples': expected an integer in [1, 1000], got '0'");
    CHECK_ERR(check("run: {name: x}\nshare: 1\n", 0, NULL, &e), &e, "m.yaml:2:8: key 'share': expected a number in [0, 1), got '1'");
    CHECK_ERR(check("run: {name: x}\nteacher: {sampling: {top_p: 0}}\n", 0, NULL, &e), &e,
              "key 'teacher.sampling.top_p': expected a number in (0, 1], got '0'");
    CHECK_ERR(check("run: {name: x}\nteacher:\n  backend: gpu\n", 0, NULL, &e), &e,
              "m.yaml:3:12: key 'teacher.backend': expected one of auto, cpu, cuda, got 'gpu'");
    CHECK_ERR(check("run: {name: x}\npacking: maybe\n", 0, NULL, &e), &e, "key 'packing': expected true or false, got 'maybe'");
    CHECK_ERR(check("run: {name: x}\nteacher: 5\n", 0, NULL, &e), &e, "m.yaml:2:10: key 'teacher': expected a mapping, got '5'");
    CHECK_ERR(check("run: {}\n", 0, NULL, &e), &e, "m.yaml:1:6: key 'run.name': missing (required)");
    CHECK_ERR(check("teacher: {}\n", 0, NULL, &e), &e, "key 'run': missing (required)");
    CHECK_ERR(check("run: {name: x}\nprompts:\n  - weight: 0.5\n", 0, NULL, &e), &e,
              "m.yaml:3:5: key 'prompts[0].path': missing (required)");
    CHECK_ERR(check("run: {name: x}\nprompts: [/tmp/a.jsonl]\n", 0, NULL, &e), &e,
              "m.yaml:2:11: key 'prompts[0]': expected a mapping, got '/tmp/a.jsonl'");
    CHECK_ERR(check("run: {name: x}\nrules: [format, lenght]\n", 0, NULL, &e), &e,
              "m.yaml:2:17: key 'rules[1]': expected one of format, length, got 'lenght'");
    CHECK_ERR(check("run: {name: x}\nsets: nope.jsonl\n", 0, NULL, &e), &e, "key 'sets': expected a list of paths, got 'nope.jsonl'");
    /* missing files are errors when the run starts */
    CHECK_ERR(check("run: {name: x}\nprompts:\n  - path: no/such.jsonl\n", MF_V_FILES, NULL, &e), &e,
              "m.yaml:3:11: key 'prompts[0].path': expected an existing file or folder, got '/tmp/no/such.jsonl' (not found)");
    CHECK_ERR(check("run: {name: x}\nteacher: {model: /etc/hostname}\n", 0, NULL, &e), &e,
              "key 'teacher.model': expected a folder, got the file '/etc/hostname'");
    CHECK_ERR(check("", 0, NULL, &e), &e, "m.yaml:1:1: empty manifest");
    CHECK_ERR(check("- a\n- b\n", 0, NULL, &e), &e, "m.yaml:1:1: expected a mapping of sections");
    CHECK_ERR(check("run: {name: x}\n---\nrun: {name: y}\n", 0, NULL, &e), &e, "m.yaml:3:1: a second YAML document");
    /* every error is collected; the message counts the others */
    mf_t *m;
    CHECK_ERR(check("run: {name: x}\nsamples: 0\nshare: 2\nteacher: {backend: x}\n", 0, &m, &e), &e, "(and 2 more)");
    CHECK_EQ_INT(mf_n_errors(m), 3);
    mf_free(m);
    CHECK_EQ_INT(mf_edit_distance("samplng", "sampling"), 1);
    CHECK_EQ_INT(mf_edit_distance("tpo_p", "top_p"), 1);
}

static void test_schema_md(void) {
    char *buf = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&buf, &n);
    mf_schema_md(&schema, fp);
    fclose(fp);
    CHECK(strstr(buf, "## `teacher`") != NULL);
    CHECK(strstr(buf, "| `teacher.sampling.top_p` | number | `0.95` | (0, 1] | P. |") != NULL);
    CHECK(strstr(buf, "| `teacher.backend` | string | `auto` | `auto`, `cpu`, `cuda` | Backend. |") != NULL);
    free(buf);
}

/* ---- the run schema, through bin/r1d ---- */

static char g_dir[] = "/tmp/r1d-manifest-XXXXXX";

/* Runs a shell command; returns its exit code and its output (stdout + stderr) in out. */
static int sh(const char *cmd, char *out, size_t n) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t k = fread(out, 1, n - 1, p);
    out[k] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_check(const char *r1d, const char *yaml, char *out, size_t n) {
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/m.yaml", g_dir);
    FILE *f = fopen(path, "w");
    fputs(yaml, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd %s && %s run --check m.yaml 2>&1", g_dir, r1d);
    return sh(cmd, out, n);
}

#define BASE "run: {name: t}\nsynth: {n_prompts: 4}\nstudent:\n  init: {hidden: 16}\nteacher:\n  train: {hidden: 32}\n"

static void test_run_schema(void) {
    const char *r1d = getenv("R1D");
    if (!r1d) SKIP("R1D (path of bin/r1d) is not set; run through make test");
    static char out[65536];
    CHECK(mkdtemp(g_dir) != NULL);
    CHECK_EQ_INT(run_check(r1d, BASE, out, sizeof out), 0);
    CHECK(strstr(out, "manifest   m.yaml: valid") != NULL);
    struct {
        const char *yaml, *want;
    } cases[] = {
        {BASE "  spec: mtp\n", "m.yaml:7:9: key 'teacher.spec': expected none: MTP speculation needs a deepseek_v3 teacher"},
        {BASE "  gpus: 8\n  tp: 3\n", "m.yaml:8:7: key 'teacher.tp': expected a divisor of teacher.gpus (8), got 3"},
        {BASE "  gpus: 8\n  ep: 8\n", "key 'teacher.ep': expected 0 or 1: a dense teacher has no experts to split, got 8"},
        {BASE "eval: {k: 0}\n", "m.yaml:7:11: key 'eval.k': expected an integer in [1, 1000000], got '0'"},
        {BASE "non_reasoning: {share: 0.3}\n", "key 'non_reasoning.share': expected 0 without non_reasoning.sources, got 0.3"},
        {BASE "non_reasoning: {share: 1.0, sources: [a.jsonl]}\n", "key 'non_reasoning.share': expected a number in [0, 1), got '1.0'"},
        {"run: {name: t}\nteacher:\n  train: {hidden: 32, data: m.yaml, tokenizer: .}\nprompts:\n  sources: [{path: m.yaml}]\n"
         "student:\n  init: {hidden: 16, tokenizer: .}\n",
         "key 'eval.sets': expected at least one eval set (or a synth section), got none"},
        {"run: {name: t}\nsynth: {}\nstudent: {init: {}}\n",
         "m.yaml:1:1: key 'teacher': expected teacher.model (a model folder) or teacher.train (a teacher trained here), got neither"},
        {BASE "  model: .\n", "key 'teacher.train': give teacher.model or teacher.train, not both"},
        {"run: {name: t}\nsynth: {}\nteacher: {train: {}}\nstudent:\n  model: " "@FIX@" "\n",
         "key 'student.model': expected a qwen2 or llama student, got deepseek_v3"},
        {"run: {name: t}\nsynth: {}\nteacher: {train: {}}\nstudent: {init: {arch: mistral}}\n", "key 'student.init.arch': expected one of qwen2, llama, got 'mistral'"},
        {BASE "synth: {min_ops: 3, max_ops: 2}\n", "duplicate key"},
        {"run: {name: t}\nsynth: {min_ops: 3, max_ops: 2}\nteacher: {train: {}}\nstudent: {init: {}}\n",
         "key 'synth.max_ops': expected at least synth.min_ops (3), got 2"},
        {BASE "verify: {mode: off, max_correct: 2}\n", "key 'verify.max_correct': expected 0 with verify.mode off"},
        {"run: {name: ../x}\nsynth: {}\nteacher: {train: {}}\nstudent: {init: {}}\n", "key 'run.name': expected letters, digits"},
        {BASE "studnet: {}\n", "key 'studnet': unknown key; did you mean 'student'?"},
        {"run: {name: t}\nsynth: {}\nstudent: {init: {}}\nteacher:\n  model: @FIX@\n  spec: mtp\n  gpus: 2\n  ep: 2\n",
         "manifest   m.yaml: valid"}, /* speculative sampling keeps top-p (0.95 by default) */
        {"run: {name: t}\nsynth: {}\nstudent: {init: {}}\nteacher:\n  model: @FIX@\n  spec: mtp\n  gpus: 2\n  ep: 2\n"
         "  sampling: {top_p: 1}\n", "manifest   m.yaml: valid"},
        {"run: {name: t}\nsynth: {}\nstudent: {init: {}}\nteacher:\n  model: @FIX@\n  gpus: 4\n",
         "m.yaml:5:3: key 'teacher.tp': --tp 4 does not divide the 2 attention heads"},
        {BASE "  chat: qwen3\n", "m.yaml:7:9: key 'teacher.chat': unknown chat template 'qwen3'"},
        {BASE "eval: {prompt_template: Solve it}\n", "key 'eval.prompt_template': expected a template containing {problem}"},
    };
    char fixture[1024], cwd[512];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/models/deepseek_v3", cwd);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[2048];
        const char *fix = strstr(cases[i].yaml, "@FIX@");
        if (fix) snprintf(yaml, sizeof yaml, "%.*s%s%s", (int)(fix - cases[i].yaml), cases[i].yaml, fixture, fix + 5);
        else snprintf(yaml, sizeof yaml, "%s", cases[i].yaml);
        int rc = run_check(r1d, yaml, out, sizeof out), want_rc = strstr(cases[i].want, ": valid") ? 0 : 1;
        CHECK_MSG(rc == want_rc && strstr(out, cases[i].want), "case %zu: rc %d, output:\n%s\nwanted: %s", i, rc, out,
                  cases[i].want);
        /* every error line is one line naming the file */
        for (char *l = want_rc ? out : NULL; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            CHECK_MSG(!strncmp(l, "r1d run: m.yaml:", 16) || !*l, "case %zu: line '%.80s'", i, l);
    }
    /* a missing prompt pool is an error when running, a note with --check */
    const char *pool = "run: {name: t}\nsynth: {}\nteacher: {train: {}}\nstudent: {init: {}}\nprompts:\n  sources:\n"
                       "    - path: pools/none.jsonl\n";
    CHECK_EQ_INT(run_check(r1d, pool, out, sizeof out), 0);
    CHECK(strstr(out, "prompts.sources[0].path:") && strstr(out, "pools/none.jsonl"));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd %s && %s run m.yaml --run-dir %s/r 2>&1", g_dir, r1d, g_dir);
    CHECK_EQ_INT(sh(cmd, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "m.yaml:7:13: key 'prompts.sources[0].path': expected an existing file or folder"), "%s", out);
    CHECK(!file_exists("r")); /* nothing ran */
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    CHECK_EQ_INT(system(cmd), 0);
}

static void test_recipes_check(void) {
    const char *r1d = getenv("R1D");
    if (!r1d) SKIP("R1D (path of bin/r1d) is not set; run through make test");
    const char *recipes[] = {"manifests/demo.yaml", "manifests/r1-distill-qwen2.5-1.5b.yaml",
                             "manifests/r1-distill-llama3-8b.yaml", "manifests/r1-distill-qwen32b-teacher-1gpu.yaml",
                             "tests/fixtures/manifests/tiny.yaml"};
    static char out[65536];
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "%s run --check %s --run-dir /tmp/r1d-check-none 2>&1", r1d, recipes[i]);
        int rc = sh(cmd, out, sizeof out);
        CHECK_MSG(rc == 0 && strstr(out, ": valid"), "%s: rc %d\n%s", recipes[i], rc, out);
        if (strstr(recipes[i], "r1-distill-q") && strstr(recipes[i], "1.5b"))
            CHECK_MSG(strstr(out, "tensor parallel 8, expert parallel 8, MTP speculation") && strstr(out, "80.8 GiB per GPU"),
                      "%s", out);
        if (strstr(recipes[i], "32b")) CHECK_MSG(strstr(out, "61.0 GiB per GPU") && strstr(out, "fits "), "%s", out);
    }
}

static void test_docs_current(void) {
    const char *r1d = getenv("R1D");
    if (!r1d) SKIP("R1D (path of bin/r1d) is not set; run through make test");
    char cmd[1024], *committed = NULL, *gen = NULL;
    size_t n1, n2;
    err_t e;
    snprintf(cmd, sizeof cmd, "%s run --schema-md > /tmp/r1d-manifest-md.%d", r1d, (int)getpid());
    CHECK_EQ_INT(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "/tmp/r1d-manifest-md.%d", (int)getpid());
    CHECK_OK(file_read_all("docs/manifest.md", &committed, &n1, &e), &e);
    CHECK_OK(file_read_all(cmd, &gen, &n2, &e), &e);
    CHECK_MSG(committed && gen && n1 == n2 && !memcmp(committed, gen, n1),
              "docs/manifest.md is not `r1d run --schema-md`: regenerate it (bin/r1d run --schema-md > docs/manifest.md)");
    unlink(cmd);
    free(committed), free(gen);
}

int main(void) {
    RUN(test_defaults_and_getters);
    RUN(test_canonical_hash);
    RUN(test_errors);
    RUN(test_schema_md);
    RUN(test_run_schema);
    RUN(test_recipes_check);
    RUN(test_docs_current);
    return test_summary("test_manifest");
}
