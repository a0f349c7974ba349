/* r1d eval: score responses (produced by r1d or elsewhere) against an eval set
 * and write report.{json,md,html}; `r1d eval compare` diffs two reports. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/chat.h"
#include "core/file.h"
#include "core/log.h"
#include "eval/gen.h"
#include "eval/grader.h"
#include "eval/report.h"
#include "eval/score.h"
#include "eval/set.h"

static void usage(void) {
    printf("usage: r1d eval --responses FILE.jsonl --set FILE.jsonl --out DIR [--k K] [set options]\n"
           "       r1d eval --model DIR --set FILE.jsonl --out DIR [--k 64] [--temperature 0.6] [--top-p 0.95]\n"
           "                [--max-new 32768] [--seed S] [set options]\n"
           "       r1d eval compare A/report.json B/report.json\n\n"
           "Scores k responses per problem: pass@1 (mean correctness over the k samples), pass@j (unbiased\n"
           "estimator), cons@k (majority answer), standard errors, response lengths and truncation, and writes\n"
           "DIR/report.json, DIR/report.md and DIR/report.html. The responses JSONL format is in docs/formats.md\n"
           "(\"Eval responses\"); vLLM 'outputs' and open-r1 'generations' records are accepted too.\n\n"
           "  --responses FILE   responses to score: {\"id\", \"sample\", \"response\", \"n_tokens\", \"finish_reason\"}\n"
           "  --set FILE         eval set JSONL (AIME, AMC, MATH-500, GSM8K, multiple choice, generic)\n"
           "  --out DIR          report folder (created)\n"
           "  --k K              samples per problem (default: all, which must be equal; with --model 64)\n"
           "  --set-format F     auto (default: from the fields) or one of %s\n"
           "  --problem-field F, --answer-field F, --id-field F (index: record number)   override the format's fields\n"
           "  --prompt-template S  default \"{problem}\\nPlease reason step by step, and put your final answer\n"
           "                     within \\boxed{}.\" (DeepSeek-R1's recommendation)\n"
           "  --chat-template NAME  chat template for generation (default auto: the model folder's)\n"
           "  --extract LIST     answer extractors, comma-separated: boxed,final_answer,choice,gsm8k,last_number\n"
           "                     (default per set format)\n"
           "  --model DIR        generate the responses with r1d's engine (temperature 0.6, top-p 0.95, 32768 new\n"
           "                     tokens: DeepSeek's evaluation settings)\n"
           "  --backend B        with --model: cpu (default), cuda or auto\n",
           ev_set_format_names());
}

typedef struct {
    const char *responses, *set, *out;
    int k, k_given, gen_flag;
    ev_set_opts_t set_opts;
    const char *extract;
    ev_gen_cfg_t gen;
} eval_args_t;

static int parse_int(const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return cli_usage_error("eval", "%s '%s': expected an integer in %ld..%ld", flag, s, lo, hi);
    *out = v;
    return 0;
}

static int parse_double(const char *flag, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return cli_usage_error("eval", "%s '%s': expected a number", flag, s);
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, eval_args_t *a) {
    memset(a, 0, sizeof *a);
    ev_gen_cfg_default(&a->gen);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int rc = 0;
        if (f[0] != '-' || f[1] != '-') return cli_usage_error("eval", "unexpected argument '%s'", f);
        if (!v) return cli_usage_error("eval", "%s needs a value", f);
        i++;
        if (!strcmp(f, "--responses")) a->responses = v;
        else if (!strcmp(f, "--set")) a->set = v;
        else if (!strcmp(f, "--out")) a->out = v;
        else if (!strcmp(f, "--model")) a->gen.model_dir = v;
        else if (!strcmp(f, "--backend")) a->gen.backend = v;
        else if (!strcmp(f, "--set-format")) a->set_opts.format = v;
        else if (!strcmp(f, "--problem-field")) a->set_opts.problem_field = v;
        else if (!strcmp(f, "--answer-field")) a->set_opts.answer_field = v;
        else if (!strcmp(f, "--id-field")) a->set_opts.id_field = v;
        else if (!strcmp(f, "--prompt-template")) a->set_opts.prompt_template = v;
        else if (!strcmp(f, "--chat-template")) a->set_opts.chat_template = v;
        else if (!strcmp(f, "--extract")) a->extract = v;
        else if (!strcmp(f, "--k")) {
            if (!(rc = parse_int(f, v, 1, 1000000, &n))) a->k = (int)n, a->k_given = 1;
        } else if (!strcmp(f, "--temperature")) {
            rc = parse_double(f, v, &a->gen.temperature), a->gen_flag = 1;
        } else if (!strcmp(f, "--top-p")) {
            rc = parse_double(f, v, &a->gen.top_p), a->gen_flag = 1;
        } else if (!strcmp(f, "--max-new")) {
            if (!(rc = parse_int(f, v, 1, INT_MAX, &n))) a->gen.max_new = (int)n;
            a->gen_flag = 1;
        } else if (!strcmp(f, "--seed")) {
            if (!(rc = parse_int(f, v, 0, LONG_MAX, &n))) a->gen.seed = (uint64_t)n;
            a->gen_flag = 1;
        } else {
            return cli_usage_error("eval", "unknown option '%s'", f);
        }
        if (rc) return rc;
    }
    if (!a->set) return cli_usage_error("eval", "--set FILE.jsonl is required");
    if (!a->out) return cli_usage_error("eval", "--out DIR is required");
    if (!a->responses == !a->gen.model_dir)
        return cli_usage_error("eval", "give exactly one of --responses FILE (score) or --model DIR (generate)");
    if (a->responses && a->gen_flag)
        return cli_usage_error("eval", "--temperature, --top-p, --max-new and --seed apply to --model generation only");
    if (a->gen.model_dir && a->k_given) a->gen.k = a->k;
    return 0;
}

static void print_summary(const ev_score_t *s, const char *out) {
    const ev_summary_t *u = &s->sum;
    printf("%s: %zu problems, k=%d\n", s->set->name, u->n_problems, u->k);
    for (int i = 0; i < u->n_ks; i++)
        printf("  pass@%-4d %5.1f%% ± %.1f\n", u->ks[i], 100 * u->pass_at[i], 100 * u->pass_at_se[i]);
    printf("  cons@%-4d %5.1f%% ± %.1f\n", u->k, 100 * u->cons, 100 * u->cons_se);
    printf("  no answer %.1f%%, truncated %.1f%% of samples", 100 * u->no_answer_rate, 100 * u->truncation_rate);
    if (u->tokens.count) printf("; tokens mean %.0f, median %.0f, p90 %.0f, max %.0f", u->tokens.mean,
                                u->tokens.median, u->tokens.p90, u->tokens.max);
    printf("\nreport: %s/report.{json,md,html}\n", out);
}

static int eval_compare(int argc, char **argv) {
    if (argc != 3) return cli_usage_error("eval", "compare needs two reports: r1d eval compare A/report.json B/report.json");
    err_t e = {0};
    if (ev_report_compare(argv[1], argv[2], stdout, &e)) return cli_fail("eval compare", &e);
    return 0;
}

/* Generation with r1d's engine, writing DIR/responses.jsonl for scoring. */
static r1d_status eval_generate(const eval_args_t *a, const ev_set_t *set, char *path, size_t n, err_t *e) {
    TRY(file_join(path, n, a->out, "responses.jsonl", e));
    return ev_gen_run(&a->gen, set, path, e);
}

int cmd_eval(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "compare")) {
        if (cli_wants_help(argc - 1, argv + 1)) {
            printf("usage: r1d eval compare A/report.json B/report.json\n"
                   "Prints every metric of A and B with B-A, the problems whose cons@k verdict flipped, and the\n"
                   "problems whose pass@1 changed.\n");
            return 0;
        }
        return eval_compare(argc - 1, argv + 1);
    }
    if (cli_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    eval_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    err_t e = {0};
    if (a.extract && ev_extract_modes_parse(a.extract, &a.set_opts.extract_modes, &e)) return cli_fail("eval", &e);
    if (a.gen.model_dir && ev_gen_cfg_check(&a.gen, &e)) return cli_fail("eval", &e);
    const chat_template_t *tmpl;
    if (a.set_opts.chat_template && strcmp(a.set_opts.chat_template, "auto") &&
        chat_template_by_name(a.set_opts.chat_template, &tmpl, &e))
        return cli_fail("eval", &e);
    ev_set_t set;
    if (ev_set_load(&set, a.set, &a.set_opts, &e)) return cli_fail("eval", &e);
    log_info("%s: %zu problems, format %s (%s)", set.path, set.n, set.format, set.detected);
    char gen_path[4096];
    const char *responses = a.responses;
    if (a.gen.model_dir) {
        if (eval_generate(&a, &set, gen_path, sizeof gen_path, &e)) {
            ev_set_free(&set);
            if (e.code != R1D_EUNSUPPORTED) return cli_fail("eval", &e);
            fprintf(stderr, "%s\n", e.msg); /* the message names the command already */
            return 1;
        }
        responses = gen_path;
    }
    ev_grader_ctx_t gctx;
    ev_grader_t g;
    ev_grader_default(&g, &gctx, NULL);
    ev_score_t s;
    ev_report_meta_t meta = {.gen = a.gen.model_dir ? &a.gen : NULL};
    r1d_status st = ev_score_run(&s, &set, responses, a.gen.model_dir ? a.gen.k : a.k, &g, &e);
    if (!st) {
        st = ev_report_write(&s, &meta, a.out, &e);
        if (!st) print_summary(&s, a.out);
        ev_score_free(&s);
    }
    ev_set_free(&set);
    return st ? cli_fail("eval", &e) : 0;
}
