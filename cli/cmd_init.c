/* r1d init: a randomly initialised qwen2/llama model folder for a tokenizer (the
 * demo's teacher and students); see student/init.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/log.h"
#include "student/init.h"

#define SUB "init"

static void usage(void) {
    printf("usage: r1d init --arch qwen2|llama --hidden N --layers N --heads N --kv-heads N --intermediate N\n"
           "                --tokenizer DIR --out DIR [--seed S] [--max-pos N] [--rope-theta X] [--untied]\n\n"
           "Writes a Hugging Face folder (config.json, model.safetensors in f32, generation_config.json, the\n"
           "tokenizer files of DIR) with weights ~ normal(0, 0.02), norms 1, biases 0, drawn from Philox(seed).\n"
           "  --tokenizer DIR   folder with tokenizer.json (+ tokenizer_config.json): vocabulary, BOS/EOS, template\n"
           "  --max-pos N       max_position_embeddings                                  [2048]\n"
           "  --rope-theta X    RoPE base                                                [10000]\n"
           "  --untied          a separate lm_head (default: tied to the embedding)\n"
           "  --seed S                                                                   [0]\n");
}

int cmd_init(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    stu_init_cfg_t c = {.tie_embeddings = 1};
    const char *tokenizer = NULL, *out = NULL;
    err_t e = {0};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--untied")) {
            c.tie_embeddings = 0;
            continue;
        }
        if (!v) return cli_usage_error(SUB, "%s needs a value", f);
        int64_t x = 0;
        r1d_status st = R1D_OK;
        if (!strcmp(f, "--arch")) c.arch = v;
        else if (!strcmp(f, "--tokenizer")) tokenizer = v;
        else if (!strcmp(f, "--out")) out = v;
        else if (!strcmp(f, "--hidden")) st = args_parse_i64(v, f, 1, 1 << 20, &c.hidden, &e);
        else if (!strcmp(f, "--layers")) st = args_parse_i64(v, f, 1, 1 << 12, &c.layers, &e);
        else if (!strcmp(f, "--heads")) st = args_parse_i64(v, f, 1, 1 << 12, &c.heads, &e);
        else if (!strcmp(f, "--kv-heads")) st = args_parse_i64(v, f, 1, 1 << 12, &c.kv_heads, &e);
        else if (!strcmp(f, "--intermediate")) st = args_parse_i64(v, f, 1, 1 << 22, &c.intermediate, &e);
        else if (!strcmp(f, "--max-pos")) st = args_parse_i64(v, f, 1, 1 << 24, &c.max_pos, &e);
        else if (!strcmp(f, "--rope-theta")) st = args_parse_f64(v, f, 1, 1e9, &c.rope_theta, &e);
        else if (!strcmp(f, "--seed")) st = args_parse_i64(v, f, 0, INT64_MAX, &x, &e), c.seed = (uint64_t)x;
        else return cli_usage_error(SUB, "unknown option '%s'", f);
        if (st != R1D_OK) return cli_usage_error(SUB, "%s", e.msg);
        i++;
    }
    if (!c.arch) return cli_usage_error(SUB, "--arch qwen2|llama is required");
    if (!tokenizer || !out) return cli_usage_error(SUB, "--tokenizer DIR and --out DIR are required");
    if (!c.hidden || !c.layers || !c.heads || !c.kv_heads || !c.intermediate)
        return cli_usage_error(SUB, "--hidden, --layers, --heads, --kv-heads and --intermediate are required");
    if (stu_init_write(&c, tokenizer, out, &e) != R1D_OK) return cli_fail(SUB, &e);
    log_info("init: wrote %s (%s, hidden %lld, %lld layers, seed %llu)", out, c.arch, (long long)c.hidden,
             (long long)c.layers, (unsigned long long)c.seed);
    return 0;
}
