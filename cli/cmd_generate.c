/* r1d generate: one prompt (ids or text) to stdout, or a resumable batch of prompt
 * records to a samples JSONL. Sampling defaults come from generation_config.json. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/comm.h"
#include "core/json.h"
#include "core/log.h"
#include "teacher/backend.h"
#include "teacher/batch.h"
#include "teacher/deepseek.h"

static const char *usage =
    "usage: r1d generate --model DIR (--ids 1,2,3 | --prompt TEXT [--chat TEMPLATE]) [options]\n"
    "       r1d generate --model DIR --in prompts.jsonl --out samples.jsonl [--n K] [--chat TEMPLATE] [options]\n"
    "options:\n"
    "  --max-new N            new tokens at most (default 256)\n"
    "  --temperature T        0 = greedy (default: generation_config.json, else greedy)\n"
    "  --top-p P  --top-k K  --min-p P  --repetition-penalty R\n"
    "  --seed S               random seed (default 0); sample k of prompt p draws from (S, hash(p, k), position)\n"
    "  --stop STR             stop string (repeatable); the model's eos ids always stop\n"
    "  --format ids|text|json single mode output (default text; ids = generated ids on one line)\n"
    "  --kv-mem MB            KV cache budget (default 1024)\n"
    "  --batch N              sequences decoded together (default 32)\n"
    "  --backend cpu|cuda|auto  where the model runs (default cpu; cuda: dense models in bf16)\n"
    "  --act-quant fp8        deepseek_v3: quantise FP8 linears' activations per 1x128 tile as the GPU does\n"
    "  --spec mtp --draft N   deepseek_v3: speculative decoding with the MTP layer, N drafts per sequence\n"
    "                         per main forward (default 3), in both modes; greedy gives plain greedy's\n"
    "                         tokens, sampling plain sampling's distribution (top-p/top-k/min-p\n"
    "                         included; no repetition penalty); acceptance and tokens per forward are logged\n"
    "Single mode under mpirun (deepseek_v3): the ranks split the model tensor- and expert-parallel;\n"
    "rank 0 prints.\n"
    "Batch mode writes each sample as it finishes; rerunning the same command after an\n"
    "interruption (even kill -9) generates only the missing samples.\n";

typedef struct gen_args {
    const char *model, *ids, *prompt, *chat, *in, *out, *format, *backend;
    int64_t max_new, n, top_k, seed, kv_mb, batch;
    double temperature, top_p, min_p, rep;
    int have_temp, have_top_p, have_top_k;
    int act_quant;
    const char *spec;
    int64_t draft;
    const char *stops[16];
    int n_stops;
} gen_args_t;

static r1d_status parse(int argc, char **argv, gen_args_t *a, err_t *e) {
    static const struct option opts[] = {
        {"model", 1, 0, 'm'},        {"ids", 1, 0, 'i'},   {"prompt", 1, 0, 'p'},      {"chat", 1, 0, 'c'},
        {"in", 1, 0, 'I'},           {"out", 1, 0, 'O'},   {"n", 1, 0, 'n'},           {"max-new", 1, 0, 'M'},
        {"temperature", 1, 0, 't'},  {"top-p", 1, 0, 'P'}, {"top-k", 1, 0, 'k'},       {"min-p", 1, 0, 'x'},
        {"repetition-penalty", 1, 0, 'r'}, {"seed", 1, 0, 's'}, {"stop", 1, 0, 'S'},   {"format", 1, 0, 'f'},
        {"kv-mem", 1, 0, 'K'},       {"batch", 1, 0, 'b'}, {"act-quant", 1, 0, 'A'}, {"spec", 1, 0, 'X'},
        {"draft", 1, 0, 'D'},        {"backend", 1, 0, 'B'}, {0}};
    *a = (gen_args_t){.max_new = 256, .n = 1, .kv_mb = 1024, .batch = 32, .format = "text", .backend = "cpu", .top_p = 1.0, .rep = 1.0,
                      .draft = 3};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'i': a->ids = optarg; break;
        case 'p': a->prompt = optarg; break;
        case 'c': a->chat = optarg; break;
        case 'I': a->in = optarg; break;
        case 'O': a->out = optarg; break;
        case 'f': a->format = optarg; break;
        case 'B': a->backend = optarg; break;
        case 'n': TRY(args_parse_i64(optarg, "--n", 1, 1 << 20, &a->n, e)); break;
        case 'M': TRY(args_parse_i64(optarg, "--max-new", 1, 1 << 24, &a->max_new, e)); break;
        case 'k': TRY(args_parse_i64(optarg, "--top-k", 0, 1 << 30, &a->top_k, e)); a->have_top_k = 1; break;
        case 's': TRY(args_parse_i64(optarg, "--seed", 0, INT64_MAX, &a->seed, e)); break;
        case 'K': TRY(args_parse_i64(optarg, "--kv-mem", 1, 1 << 24, &a->kv_mb, e)); break;
        case 'b': TRY(args_parse_i64(optarg, "--batch", 1, 4096, &a->batch, e)); break;
        case 't': TRY(args_parse_f64(optarg, "--temperature", 0, 100, &a->temperature, e)); a->have_temp = 1; break;
        case 'P': TRY(args_parse_f64(optarg, "--top-p", 0, 1, &a->top_p, e)); a->have_top_p = 1; break;
        case 'x': TRY(args_parse_f64(optarg, "--min-p", 0, 1, &a->min_p, e)); break;
        case 'r': TRY(args_parse_f64(optarg, "--repetition-penalty", 0.01, 100, &a->rep, e)); break;
        case 'A':
            if (strcmp(optarg, "fp8")) return ERR(e, R1D_EINVAL, "--act-quant: expected 'fp8', got '%s'", optarg);
            a->act_quant = 1;
            break;
        case 'X':
            if (strcmp(optarg, "mtp")) return ERR(e, R1D_EINVAL, "--spec: expected 'mtp', got '%s'", optarg);
            a->spec = optarg;
            break;
        case 'D': TRY(args_parse_i64(optarg, "--draft", 1, 16, &a->draft, e)); break;
        case 'S':
            if (a->n_stops == 16) return ERR(e, R1D_EINVAL, "--stop: at most 16 stop strings");
            a->stops[a->n_stops++] = optarg;
            break;
        default: return ERR(e, R1D_EINVAL, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return ERR(e, R1D_EINVAL, "unexpected argument '%s'", argv[optind]);
    if (!a->model) return ERR(e, R1D_EINVAL, "--model is required");
    int modes = !!a->ids + !!a->prompt + !!a->in;
    if (modes != 1) return ERR(e, R1D_EINVAL, "give exactly one of --ids, --prompt, --in");
    if (!!a->in != !!a->out) return ERR(e, R1D_EINVAL, "--in and --out go together");
    if (strcmp(a->format, "ids") && strcmp(a->format, "text") && strcmp(a->format, "json"))
        return ERR(e, R1D_EINVAL, "--format: expected ids, text or json, got '%s'", a->format);
    return R1D_OK;
}

/* Flags over generation_config.json over greedy. */
static ops_sampling_t sampling_of(const gen_args_t *a, const tch_model_t *m) {
    const cfg_generation_t *g = &m->gen;
    ops_sampling_t s = {0.0f, 1.0f, (float)a->min_p, 0};
    if (g->do_sample) s = (ops_sampling_t){(float)g->temperature, (float)g->top_p, (float)a->min_p, g->top_k};
    if (a->have_temp) s.temperature = (float)a->temperature;
    if (a->have_top_p) s.top_p = (float)a->top_p;
    if (a->have_top_k) s.top_k = (int)a->top_k;
    return s;
}

typedef struct single {
    const gen_args_t *a;
    const tch_request_t *req;
    int given;
    int quiet; /* ranks other than 0 of a multi-rank run */
    tch_finish_t finish;
} single_t;

static r1d_status single_source(void *ctx, tch_request_t *r, int *has, err_t *e) {
    (void)e;
    single_t *s = ctx;
    *has = !s->given;
    if (*has) *r = *s->req;
    s->given = 1;
    return R1D_OK;
}

static r1d_status single_sink(void *ctx, const tch_result_t *r, err_t *e) {
    single_t *s = ctx;
    s->finish = r->finish;
    if (r->finish == TCH_FINISH_ERROR) return ERR(e, R1D_EINVAL, "%s", r->error ? r->error : "generation failed");
    if (s->quiet) return R1D_OK;
    if (!strcmp(s->a->format, "ids")) {
        for (int32_t i = 0; i < r->n_ids; i++) printf(i ? " %d" : "%d", r->ids[i]);
        printf("\n");
    } else if (!strcmp(s->a->format, "text")) {
        printf("%s\n", r->text ? r->text : "");
    } else {
        json_t *ids = json_array();
        for (int32_t i = 0; i < r->n_ids; i++) json_array_append_new(ids, json_integer(r->ids[i]));
        json_t *o = json_pack("{s:o,s:s,s:s,s:i,s:i,s:f}", "ids", ids, "text", r->text ? r->text : "", "finish_reason",
                              tch_finish_name(r->finish), "n_prompt_tokens", (int)r->n_prompt, "n_tokens",
                              (int)r->n_ids, "seconds", r->seconds);
        TRY(jsonl_write(stdout, o, e));
        json_decref(o);
    }
    return R1D_OK;
}

static r1d_status prompt_ids(const gen_args_t *a, const tok_t *tok, const tch_model_t *m, int32_t **ids, int *n,
                             err_t *e) {
    if (a->ids) return args_parse_ids(a->ids, "--ids", ids, n, e);
    char *text = NULL;
    if (a->chat) {
        const chat_template_t *t;
        TRY(chat_template_by_name(a->chat, &t, e));
        chat_msg_t msg = {"user", a->prompt};
        chat_opts_t co = {.add_generation_prompt = 1};
        TRY(chat_render(t, &msg, 1, &co, &text, e));
    }
    tok_ids_t v = {0};
    /* a rendered template carries its own BOS; raw text gets the tokenizer's */
    r1d_status st = tok_encode(tok, text ? text : a->prompt, strlen(text ? text : a->prompt), !text, &v, e);
    free(text);
    (void)m;
    if (st != R1D_OK) return st;
    *ids = v.ids;
    *n = (int)v.n;
    return R1D_OK;
}

static r1d_status run(const gen_args_t *a, comm_t *comm, err_t *e) {
    tch_model_t *m = NULL;
    tch_engine_t en = {0};
    tok_t *tok = NULL;
    int32_t *ids = NULL, stop_ids[CFG_MAX_IDS];
    int n_ids = 0, n_stop = 0;
    r1d_status st = tch_model_load(&m, a->model, e);
    if (st == R1D_OK) st = tch_engine_open(&en, a->backend, m, e);
    if (st == R1D_OK && comm_size(comm) > 1) {
        if (!m->ds)
            st = ERR(e, R1D_EUNSUPPORTED, "%s: multi-rank runs (mpirun) are for deepseek_v3 models, this is %s",
                     a->model, m->cfg.model_type);
        else if (a->in)
            st = ERR(e, R1D_EUNSUPPORTED, "--in: batch mode runs in one process (r1d teach shards prompts over ranks)");
        else
            st = tch_ds_set_comm(m, comm, e);
    }
    int need_tok = a->prompt || a->in || strcmp(a->format, "ids") || a->n_stops;
    if (st == R1D_OK && need_tok) st = tok_load(&tok, a->model, e);
    if (st == R1D_OK && (a->act_quant || a->spec) && !m->ds)
        st = ERR(e, R1D_EINVAL, "%s: --act-quant and --spec apply to deepseek_v3 models, this is %s", a->model,
                 m->cfg.model_type);
    if (st != R1D_OK) goto out;
    if (a->act_quant) tch_ds_set_act_quant(m, 1);
    ops_sampling_t samp = sampling_of(a, m);
    if (a->spec) st = tch_ds_check_mtp(m, e);
    if (a->spec && st == R1D_OK && a->rep != 1.0)
        st = ERR(e, R1D_EUNSUPPORTED, "--spec mtp takes no --repetition-penalty");
    if (st != R1D_OK) goto out;
    n_stop = tch_model_stop_ids(m, stop_ids, CFG_MAX_IDS);
    tch_gen_opts_t g;
    tch_gen_opts_default(&g);
    g.max_batch = (int)a->batch;
    g.kv_bytes = (size_t)a->kv_mb << 20;
    g.tok = tok;
    g.spec_draft = a->spec ? (int)a->draft : 0;
    char line[256];
    if (a->in) {
        tch_batch_opts_t b = {.in_path = a->in, .out_path = a->out, .n_samples = (int)a->n, .max_new = (int32_t)a->max_new,
                              .sampling = samp, .repetition_penalty = (float)a->rep, .seed = (uint64_t)a->seed,
                              .stop_ids = stop_ids, .n_stop_ids = n_stop, .tok = tok, .teacher = a->model, .gen = g};
        st = a->chat ? chat_template_by_name(a->chat, &b.chat, e) : chat_template_from_model_dir(a->model, &b.chat, e);
        tch_batch_stats_t bs;
        if (st == R1D_OK) st = tch_batch_run(en.m, en.o, &b, &bs, e);
        if (st == R1D_OK)
            log_info("%lld records (%lld bad, skipped), %lld samples written (%lld errors), %lld already done; "
                     "%lld new tokens in %.1f s (%.1f tok/s), %lld preemptions",
                     (long long)bs.records, (long long)bs.bad_records, (long long)bs.written, (long long)bs.errors,
                     (long long)bs.resumed, (long long)bs.gen.new_tokens, bs.gen.seconds,
                     bs.gen.seconds > 0 ? bs.gen.new_tokens / bs.gen.seconds : 0.0, (long long)bs.gen.preemptions);
        if (st == R1D_OK && a->spec) {
            tch_gen_stats_spec_line(&bs.gen, line, sizeof line);
            log_info("%s", line);
        }
        goto out;
    }
    if ((st = prompt_ids(a, tok, m, &ids, &n_ids, e)) != R1D_OK) goto out;
    tch_request_t req = {.id = 0, .prompt = ids, .n_prompt = n_ids, .max_new = (int32_t)a->max_new, .sampling = samp,
                         .repetition_penalty = (float)a->rep, .seed = (uint64_t)a->seed, .stop_ids = stop_ids,
                         .n_stop_ids = n_stop, .stop_strs = a->stops, .n_stop_strs = a->n_stops};
    single_t s = {.a = a, .req = &req, .quiet = comm_rank(comm) != 0};
    g.max_batch = 1;
    tch_gen_stats_t gs;
    st = tch_generate(en.m, en.o, &g, single_source, single_sink, &s, &gs, e);
    if (st == R1D_OK && a->spec) {
        tch_gen_stats_spec_line(&gs, line, sizeof line);
        log_info("%s", line);
    }
out:
    free(ids);
    tok_free(tok);
    tch_engine_close(&en);
    tch_model_free(m);
    return st;
}

int cmd_generate(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    gen_args_t a;
    err_t e = {0};
    if (parse(argc, argv, &a, &e) != R1D_OK) return cli_usage_error("generate", "%s", e.msg);
    comm_t *comm = NULL;
    r1d_status st = comm_init(&comm, "auto", &e);
    if (st == R1D_OK) st = run(&a, comm, &e);
    int rc = st == R1D_OK ? 0 : cli_fail("generate", &e);
    comm_free(comm);
    return rc;
}
