/* r1d teach: a sharded, resumable teacher generation job over prompt sets. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/comm.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "dataset/teach.h"
#include "teacher/backend.h"
#include "teacher/batch.h"
#include "teacher/deepseek.h"

static const char *usage =
    "usage: r1d teach --model DIR --prompts FILE[:WEIGHT] [--prompts ...] --out DIR [options]\n"
    "Generates K samples per prompt with the teacher into DIR/shard-IIIII-of-NNNNN.jsonl (the shard's\n"
    "prompts go to DIR/shard-IIIII-of-NNNNN.prompts.jsonl). Prompts are assigned to shards by XXH3-64 of\n"
    "their id. Under mpirun each rank takes one shard (with --shard i/N too: shard i*ranks+rank of\n"
    "N*ranks). Resumable: after an interruption, even kill -9, rerunning the same command (same N and rank\n"
    "count) generates only the missing (prompt, sample) pairs.\n"
    "options:\n"
    "  --prompts FILE[:W]  a prompt set (JSONL: id, prompt or messages, answer, source, domain; eval-style\n"
    "                      problem/question records work too); W in (0,1] keeps that share of its prompts\n"
    "                      (chosen by a hash of the id); repeatable. Ids: id or unique_id, else FILE:INDEX;\n"
    "                      an id repeated (in any set) with the same prompt is generated once, with\n"
    "                      another prompt it is an error naming both files and lines\n"
    "  --n K               samples per prompt (default 4)\n"
    "  --shard i/N         this job's shard (default 0/1), e.g. a Slurm array task\n"
    "  --max-new N         new tokens at most (default 32768, as R1's evaluation)\n"
    "  --temperature T     (default 0.6)   --top-p P (default 0.95)   --top-k K (default 0: off)\n"
    "  --seed S            random seed (default 0); sample k of prompt p draws from (S, hash(p, k))\n"
    "  --chat NAME         chat template (default: the model folder's)\n"
    "  --batch N           sequences decoded together (default 32)\n"
    "  --kv-mem MB         KV cache budget (default 1024)\n"
    "  --backend B         cpu | cuda | auto (default cpu; under mpirun each rank takes its local GPU)\n"
    "  --spec mtp          deepseek_v3: speculative decoding with the MTP layer (distribution-preserving,\n"
    "                      top-p/top-k included)\n"
    "  --draft N           drafts per sequence per main forward with --spec (default 3)\n";

typedef struct teach_args {
    const char *model, *out, *chat, *backend;
    ds_teach_source_t src[64];
    int n_src;
    int64_t n, shard, n_shards, max_new, top_k, seed, batch, kv_mb, draft;
    double temperature, top_p;
    int spec;
} teach_args_t;

static r1d_status parse(int argc, char **argv, teach_args_t *a, err_t *e) {
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"prompts", 1, 0, 'p'}, {"out", 1, 0, 'o'},
                                         {"n", 1, 0, 'n'}, {"shard", 1, 0, 's'}, {"max-new", 1, 0, 'M'},
                                         {"temperature", 1, 0, 't'}, {"top-p", 1, 0, 'P'}, {"top-k", 1, 0, 'k'},
                                         {"seed", 1, 0, 'S'}, {"chat", 1, 0, 'c'}, {"batch", 1, 0, 'b'},
                                         {"kv-mem", 1, 0, 'K'}, {"spec", 1, 0, 'X'}, {"draft", 1, 0, 'D'}, {"backend", 1, 0, 'B'}, {0}};
    *a = (teach_args_t){.n = 4, .n_shards = 1, .max_new = 32768, .temperature = 0.6, .top_p = 0.95, .batch = 32, .kv_mb = 1024, .backend = "cpu",
                        .draft = 3};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'o': a->out = optarg; break;
        case 'c': a->chat = optarg; break;
        case 'p': {
            if (a->n_src == 64) return ERR(e, R1D_EINVAL, "--prompts: at most 64 sets");
            ds_teach_source_t *s = &a->src[a->n_src++];
            char *colon = strrchr(optarg, ':');
            s->path = optarg, s->weight = 1;
            if (colon && colon[1] && strspn(colon + 1, "0123456789.") == strlen(colon + 1)) {
                *colon = 0;
                TRY(args_parse_f64(colon + 1, "--prompts weight", 1e-9, 1, &s->weight, e));
            }
            break;
        }
        case 's': {
            char *slash = strchr(optarg, '/');
            if (!slash) return ERR(e, R1D_EINVAL, "--shard: expected i/N, got '%s'", optarg);
            *slash = 0;
            TRY(args_parse_i64(slash + 1, "--shard N", 1, 1 << 20, &a->n_shards, e));
            TRY(args_parse_i64(optarg, "--shard i", 0, a->n_shards - 1, &a->shard, e));
            break;
        }
        case 'n': TRY(args_parse_i64(optarg, "--n", 1, 1 << 20, &a->n, e)); break;
        case 'M': TRY(args_parse_i64(optarg, "--max-new", 1, 1 << 24, &a->max_new, e)); break;
        case 'k': TRY(args_parse_i64(optarg, "--top-k", 0, 1 << 30, &a->top_k, e)); break;
        case 'S': TRY(args_parse_i64(optarg, "--seed", 0, INT64_MAX, &a->seed, e)); break;
        case 'b': TRY(args_parse_i64(optarg, "--batch", 1, 4096, &a->batch, e)); break;
        case 'K': TRY(args_parse_i64(optarg, "--kv-mem", 1, 1 << 24, &a->kv_mb, e)); break;
        case 'B': a->backend = optarg; break;
        case 't': TRY(args_parse_f64(optarg, "--temperature", 0, 100, &a->temperature, e)); break;
        case 'P': TRY(args_parse_f64(optarg, "--top-p", 0, 1, &a->top_p, e)); break;
        case 'X':
            if (strcmp(optarg, "mtp")) return ERR(e, R1D_EINVAL, "--spec: expected 'mtp', got '%s'", optarg);
            a->spec = 1;
            break;
        case 'D': TRY(args_parse_i64(optarg, "--draft", 1, 16, &a->draft, e)); break;
        default: return ERR(e, R1D_EINVAL, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return ERR(e, R1D_EINVAL, "unexpected argument '%s'", argv[optind]);
    if (!a->model || !a->out || !a->n_src) return ERR(e, R1D_EINVAL, "--model, --prompts and --out are required");
    return R1D_OK;
}

/* Finish reasons of the whole shard file (resumed runs included), for the summary:
 * stop, length and error always, any other value the file holds after them. */
static void summarise(const char *path) {
    jsonl_reader_t *r;
    err_t e;
    if (jsonl_open(&r, path, &e) != R1D_OK) return;
    int64_t total = 0, known[3] = {0}, other = 0;
    json_t *j;
    while (jsonl_next(r, &j, &e) == R1D_OK && j) {
        const char *fr = json_string_value(json_object_get(j, "finish_reason"));
        int k = !fr ? -1 : !strcmp(fr, "stop") ? 0 : !strcmp(fr, "length") ? 1 : !strcmp(fr, "error") ? 2 : -1;
        if (k < 0) other++;
        else known[k]++;
        total++;
        json_decref(j);
    }
    jsonl_close(r);
    log_info("%s: %lld samples; finish reasons: stop %lld, length %lld, error %lld, other %lld", path, (long long)total,
             (long long)known[0], (long long)known[1], (long long)known[2], (long long)other);
}

static r1d_status run(const teach_args_t *a, comm_t *comm, err_t *e) {
    int rank = comm_rank(comm), size = comm_size(comm);
    int shard = (int)a->shard * size + rank, n_shards = (int)a->n_shards * size;
    TRY(file_mkdirs(a->out, e));
    char prompts[4200], samples[4200];
    snprintf(prompts, sizeof prompts, "%s/shard-%05d-of-%05d.prompts.jsonl", a->out, shard, n_shards);
    snprintf(samples, sizeof samples, "%s/shard-%05d-of-%05d.jsonl", a->out, shard, n_shards);
    ds_teach_select_stats_t ss;
    TRY(ds_teach_select(a->src, a->n_src, shard, n_shards, prompts, &ss, e));
    log_info("shard %d of %d: %lld of %lld prompt records (%lld left out by weights, %lld repeated ids, %lld bad lines)",
             shard, n_shards, (long long)ss.selected, (long long)ss.records, (long long)ss.weighted_out,
             (long long)ss.duplicates, (long long)ss.bad);
    tch_model_t *m = NULL;
    tch_engine_t en = {0};
    tok_t *tok = NULL;
    int32_t stop[64];
    r1d_status st = tch_model_load(&m, a->model, e);
    if (st == R1D_OK) st = tch_engine_open(&en, a->backend, m, e);
    if (st == R1D_OK) st = tok_load(&tok, a->model, e);
    if (st == R1D_OK && a->spec) st = tch_ds_check_mtp(m, e);
    if (st == R1D_OK) {
        tch_gen_opts_t g;
        tch_gen_opts_default(&g);
        g.max_batch = (int)a->batch;
        g.kv_bytes = (size_t)a->kv_mb << 20;
        g.tok = tok;
        g.spec_draft = a->spec ? (int)a->draft : 0;
        tch_batch_opts_t b = {.in_path = prompts, .out_path = samples, .n_samples = (int)a->n, .max_new = (int32_t)a->max_new,
                              .sampling = {(float)a->temperature, (float)a->top_p, 0.0f, (int)a->top_k},
                              .repetition_penalty = 1.0f, .seed = (uint64_t)a->seed, .stop_ids = stop,
                              .n_stop_ids = tch_model_stop_ids(m, stop, 64), .tok = tok, .teacher = a->model, .gen = g};
        st = a->chat ? chat_template_by_name(a->chat, &b.chat, e) : chat_template_from_model_dir(a->model, &b.chat, e);
        tch_batch_stats_t bs;
        if (st == R1D_OK) st = tch_batch_run(en.m, en.o, &b, &bs, e);
        if (st == R1D_OK) {
            double sec = bs.gen.seconds;
            log_info("shard %d: %lld samples written (stop %lld, length %lld, error %lld), %lld already done, %lld bad "
                     "records; %lld new tokens in %.1f s (%.2f samples/s, %.1f tok/s)",
                     shard, (long long)bs.written, (long long)bs.by_finish[TCH_FINISH_STOP],
                     (long long)bs.by_finish[TCH_FINISH_LENGTH], (long long)bs.by_finish[TCH_FINISH_ERROR],
                     (long long)bs.resumed, (long long)bs.bad_records, (long long)bs.gen.new_tokens, sec,
                     sec > 0 ? bs.written / sec : 0.0, sec > 0 ? bs.gen.new_tokens / sec : 0.0);
            if (a->spec) {
                char line[256];
                tch_gen_stats_spec_line(&bs.gen, line, sizeof line);
                log_info("shard %d: %s", shard, line);
            }
            summarise(samples);
        }
    }
    tok_free(tok);
    tch_engine_close(&en);
    tch_model_free(m);
    return st;
}

int cmd_teach(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    teach_args_t a;
    err_t e = {0};
    if (parse(argc, argv, &a, &e) != R1D_OK) return cli_usage_error("teach", "%s", e.msg);
    comm_t *comm = NULL;
    if (comm_init(&comm, "auto", &e) != R1D_OK) return cli_fail("teach", &e);
    /* ranks share nothing: each generates its own shard, so no collective can hang on a failed one */
    r1d_status st = run(&a, comm, &e);
    int rc = st == R1D_OK ? 0 : cli_fail("teach", &e);
    comm_free(comm);
    return rc;
}
