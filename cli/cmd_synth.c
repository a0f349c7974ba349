/* r1d synth: writes the built-in demo's task (prompts, eval set, worked solutions,
 * tokenizer) into a folder; see dataset/synth.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/log.h"
#include "dataset/synth.h"

#define SUB "synth"

static void usage(void) {
    printf("usage: r1d synth --out DIR [--seed S] [--prompts N] [--eval N] [--sft N] [--min-ops A] [--max-ops B]\n"
           "                 [--contaminate X]\n\n"
           "Writes the demo task: multi-step integer arithmetic word problems with R1-style worked solutions.\n"
           "  DIR/prompts.jsonl   N prompt records with gold answers (source synth-arith, domain math)  [--prompts 3000]\n"
           "  DIR/eval.jsonl      N held-out problems (unique_id, problem, answer)                       [--eval 200]\n"
           "  DIR/sft.jsonl       N {\"messages\": [user, assistant]} worked solutions                    [--sft 10000]\n"
           "  DIR/tokenizer/      byte-level BPE tokenizer.json + tokenizer_config.json (deepseek-r1 template)\n"
           "  --min-ops/--max-ops operations per problem                                                [2, 3]\n"
           "  --contaminate X     fraction of prompts copied from eval problems (for decontamination)   [0.02]\n"
           "  --seed S            the same seed gives byte-identical files                               [1]\n");
}

int cmd_synth(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    ds_synth_cfg_t c = {.seed = 1, .n_prompts = 3000, .n_eval = 200, .n_sft = 10000, .min_ops = 2, .max_ops = 3,
                        .contaminate = 0.02};
    const char *out = NULL;
    err_t e = {0};
    for (int i = 1; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return cli_usage_error(SUB, "%s needs a value", f);
        int64_t x = 0;
        r1d_status st = R1D_OK;
        if (!strcmp(f, "--out")) out = v;
        else if (!strcmp(f, "--seed")) st = args_parse_i64(v, f, 0, INT64_MAX, &x, &e), c.seed = (uint64_t)x;
        else if (!strcmp(f, "--prompts")) st = args_parse_i64(v, f, 0, 1 << 24, &c.n_prompts, &e);
        else if (!strcmp(f, "--eval")) st = args_parse_i64(v, f, 1, 1 << 24, &c.n_eval, &e);
        else if (!strcmp(f, "--sft")) st = args_parse_i64(v, f, 1, 1 << 24, &c.n_sft, &e);
        else if (!strcmp(f, "--min-ops")) st = args_parse_i64(v, f, 1, 12, &x, &e), c.min_ops = (int)x;
        else if (!strcmp(f, "--max-ops")) st = args_parse_i64(v, f, 1, 12, &x, &e), c.max_ops = (int)x;
        else if (!strcmp(f, "--contaminate")) st = args_parse_f64(v, f, 0, 1, &c.contaminate, &e);
        else return cli_usage_error(SUB, "unknown option '%s'", f);
        if (st != R1D_OK) return cli_usage_error(SUB, "%s", e.msg);
    }
    if (!out) return cli_usage_error(SUB, "--out DIR is required");
    if (ds_synth_write(&c, out, &e) != R1D_OK) return cli_fail(SUB, &e);
    log_info("synth: wrote %s (%lld prompts, %lld eval, %lld sft, %d..%d operations, seed %llu)", out,
             (long long)c.n_prompts, (long long)c.n_eval, (long long)c.n_sft, c.min_ops, c.max_ops,
             (unsigned long long)c.seed);
    return 0;
}
