/* r1d generate batch mode end to end: killed with SIGKILL at several points and rerun,
 * it ends with every (prompt, sample) exactly once and byte-identical to an
 * uninterrupted run; a torn last line is dropped; a malformed record is counted and
 * skipped; one request at a time on one thread writes the same bytes as a batch on
 * every core. Needs bin/r1d (the R1D environment variable, set by make test). */
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "test.h"

#define MODEL "tests/fixtures/dense/qwen2_tied_f32"
#define NPROMPTS 40
#define NSAMPLES 4

extern char **environ;
static char g_dir[] = "/tmp/r1d-batch-XXXXXX";

static pid_t spawn_generate_env(const char *r1d, const char *in, const char *out, const char *batch, char **env) {
    char *argv[] = {(char *)r1d, "--log-level", "error", "generate", "--model", MODEL, "--in", (char *)in, "--out",
                    (char *)out, "--n", "4", "--max-new", "40", "--temperature", "0.7", "--top-p", "0.9",
                    "--seed", "7", "--batch", (char *)batch, NULL};
    pid_t pid;
    return posix_spawn(&pid, r1d, NULL, NULL, argv, env) == 0 ? pid : -1;
}

static pid_t spawn_generate(const char *r1d, const char *in, const char *out) {
    return spawn_generate_env(r1d, in, out, "6", environ);
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, c;
    if (!f) return 0;
    while ((c = getc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

/* Sorted lines of a file, as one string, for comparison. */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static char *sorted_lines(const char *path, int *n_lines, int *dups) {
    char *buf;
    size_t n;
    err_t e;
    if (file_read_all(path, &buf, &n, &e) != R1D_OK) return NULL;
    char **lines = malloc(sizeof(char *) * (n / 2 + 1));
    int k = 0;
    for (char *p = strtok(buf, "\n"); p; p = strtok(NULL, "\n")) lines[k++] = p;
    qsort(lines, (size_t)k, sizeof *lines, cmp_str);
    char *out = malloc(n + 2);
    size_t o = 0;
    *dups = 0;
    for (int i = 0; i < k; i++) {
        if (i && !strcmp(lines[i], lines[i - 1])) (*dups)++;
        o += (size_t)sprintf(out + o, "%s\n", lines[i]);
    }
    out[o] = 0;
    *n_lines = k;
    free(lines);
    free(buf);
    return out;
}

static void test_resume_after_kill(void) {
    const char *r1d = getenv("R1D");
    if (!r1d) SKIP("R1D (path of bin/r1d) is not set; run through make test");
    CHECK(mkdtemp(g_dir) != NULL);
    char in[256], ref[256], out[256];
    snprintf(in, sizeof in, "%s/prompts.jsonl", g_dir);
    snprintf(ref, sizeof ref, "%s/ref.jsonl", g_dir);
    snprintf(out, sizeof out, "%s/out.jsonl", g_dir);
    FILE *f = fopen(in, "w");
    for (int i = 0; i < NPROMPTS; i++) {
        if (i == 7) fprintf(f, "{\"id\": \"broken\", \"prompt\": 5}\n");
        if (i % 3) fprintf(f, "{\"id\": \"p%d\", \"prompt\": \"What is %d + %d?\"}\n", i, i, 2 * i);
        else fprintf(f, "{\"id\": %d, \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
                        "{\"role\": \"user\", \"content\": \"Solve x = %d.\"}]}\n", i, i);
    }
    fclose(f);
    int status;
    pid_t pid = spawn_generate(r1d, in, ref);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int total = count_lines(ref);
    CHECK_EQ_INT(total, NPROMPTS * NSAMPLES);

    /* kill -9 at growing thresholds, then let it finish */
    int kills_mid_run = 0;
    const int at[] = {10, 50, 90, 130};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        pid = spawn_generate(r1d, in, out);
        int seen = 0;
        while (waitpid(pid, &status, WNOHANG) == 0) {
            seen = count_lines(out);
            if (seen >= at[k]) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                kills_mid_run += seen < total;
                break;
            }
            usleep(500);
        }
    }
    CHECK_MSG(kills_mid_run >= 2, "only %d kills landed mid-run", kills_mid_run);
    /* a torn line, as a kill in the middle of a write leaves it */
    f = fopen(out, "a");
    fputs("{\"format\": \"r1d.sample\", \"id\": \"p1#", f);
    fclose(f);
    pid = spawn_generate(r1d, in, out);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int n_ref, n_out, d_ref, d_out;
    char *a = sorted_lines(ref, &n_ref, &d_ref), *b = sorted_lines(out, &n_out, &d_out);
    CHECK(a && b);
    CHECK_EQ_INT(n_out, NPROMPTS * NSAMPLES);
    CHECK_EQ_INT(d_out, 0);
    CHECK_EQ_INT(d_ref, 0);
    CHECK_MSG(a && b && strcmp(a, b) == 0, "resumed output differs from the uninterrupted run");
    free(b);
    /* one request at a time on one thread: the same bytes as 6 at a time on every core */
    char one[256], *env[] = {"OMP_NUM_THREADS=1", NULL};
    snprintf(one, sizeof one, "%s/one.jsonl", g_dir);
    pid = spawn_generate_env(r1d, in, one, "1", env);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    b = sorted_lines(one, &n_out, &d_out);
    CHECK_MSG(a && b && strcmp(a, b) == 0, "batch 1 on one thread differs from batch 6");
    free(a), free(b);
    unlink(in), unlink(ref), unlink(out), unlink(one), rmdir(g_dir);
}

int main(void) {
    RUN(test_resume_after_kill);
    return test_summary("test_batch");
}
