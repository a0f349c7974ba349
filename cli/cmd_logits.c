/* r1d logits: raw float32 logits of every position (or the last) for a list of ids,
 * the form in which conformance against transformers is checked. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/comm.h"
#include "core/file.h"
#include "teacher/backend.h"
#include "teacher/deepseek.h"
#include "teacher/forward.h"

static const char *usage =
    "usage: r1d logits --model DIR --ids 1,2,3 --out FILE.f32 [--last] [--mtp] [--act-quant fp8]\n"
    "       [--backend cpu|cuda|auto]   (cpu; cuda: dense models, bf16 on the GPU)\n"
    "Writes float32 logits, row-major [T, vocab] (little-endian), of every position of the\n"
    "ids; --last writes only the last row. The file is written atomically.\n"
    "deepseek_v3 only: --mtp writes the MTP module's draft logits instead, [T-1, vocab], row i\n"
    "drafting token i+2 from the main model's final-normed hidden state at i and the embedding\n"
    "of token i+1; --act-quant fp8 quantises the activations of FP8 linears per 1x128 tile\n"
    "(scale amax/448) as the GPU path does.\n"
    "Under mpirun (deepseek_v3), the ranks split the model tensor- and expert-parallel and\n"
    "rank 0 writes the file.\n";

static r1d_status run(const char *dir, const char *backend, const int32_t *ids, int n, int last, int mtp, int act_quant,
                      const char *out, comm_t *comm, err_t *e) {
    tch_model_t *m = NULL;
    tch_engine_t en = {0};
    ops_t *o = NULL;
    tch_kv_t kv = {0};
    tch_ws_t ws = {0};
    float *logits = NULL;
    r1d_status st = tch_model_load(&m, dir, e);
    if (st == R1D_OK) st = tch_engine_open(&en, backend, m, e);
    o = en.o;
    if (st == R1D_OK && (mtp || act_quant) && !m->ds)
        st = ERR(e, R1D_EINVAL, "%s: --mtp and --act-quant apply to deepseek_v3 models, this is %s", dir, m->cfg.model_type);
    if (st == R1D_OK && comm_size(comm) > 1)
        st = m->ds ? tch_ds_set_comm(m, comm, e)
                   : ERR(e, R1D_EUNSUPPORTED, "%s: multi-rank runs (mpirun) are for deepseek_v3 models, this is %s",
                         dir, m->cfg.model_type);
    int writer = comm_rank(comm) == 0;
    if (st == R1D_OK && act_quant) tch_ds_set_act_quant(m, 1);
    if (st == R1D_OK && mtp) {
        int64_t V = m->cfg.vocab_size, rows = n - 1;
        logits = malloc((size_t)(rows > 0 ? rows : 1) * (size_t)V * sizeof(float));
        st = logits ? tch_ds_mtp_logits(m, o, ids, n, logits, e) : ERR(e, R1D_ENOMEM, "out of memory");
        if (st == R1D_OK && writer)
            st = file_write_atomic(out, logits + (last ? (size_t)(rows - 1) * (size_t)V : 0),
                                   (size_t)(last ? 1 : rows) * (size_t)V * sizeof(float), e);
        goto done;
    }
    if (st == R1D_OK) {
        st = tch_kv_init_model(&kv, o, en.m, 16, tch_kv_bytes_per_token(en.m, o) * (size_t)(n + 16), e);
    }
    if (st == R1D_OK) {
        tch_ws_init(&ws, o);
        int64_t V = m->cfg.vocab_size, rows = last ? 1 : n;
        tch_pages_t pg = {0};
        logits = malloc((size_t)rows * (size_t)V * sizeof(float));
        if (!logits || !tch_kv_reserve(&kv, &pg, n)) st = ERR(e, R1D_ENOMEM, "out of memory");
        ops_attn_seq_t s = {n, n, pg.ids};
        if (st == R1D_OK) st = tch_forward(en.m, &ws, &kv, &s, 1, ids, !last, logits, e);
        if (st == R1D_OK && writer) st = file_write_atomic(out, logits, (size_t)rows * (size_t)V * sizeof(float), e);
        free(pg.ids);
        tch_ws_free(&ws);
    }
done:
    free(logits);
    if (kv.layers) tch_kv_free(&kv);
    tch_engine_close(&en);
    tch_model_free(m);
    return st;
}

int cmd_logits(int argc, char **argv) {
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"ids", 1, 0, 'i'}, {"out", 1, 0, 'o'},
                                         {"last", 0, 0, 'l'},  {"help", 0, 0, 'h'}, {"mtp", 0, 0, 't'},
                                         {"act-quant", 1, 0, 'q'}, {"backend", 1, 0, 'b'}, {0}};
    const char *model = NULL, *ids_s = NULL, *out = NULL, *backend = "cpu";
    int last = 0, mtp = 0, act_quant = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'i': ids_s = optarg; break;
        case 'o': out = optarg; break;
        case 'l': last = 1; break;
        case 'b': backend = optarg; break;
        case 't': mtp = 1; break;
        case 'q':
            if (strcmp(optarg, "fp8")) return cli_usage_error("logits", "--act-quant: expected 'fp8', got '%s'", optarg);
            act_quant = 1;
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_usage_error("logits", "unknown option");
        }
    }
    if (!model || !ids_s || !out) return cli_usage_error("logits", "--model, --ids and --out are required");
    if (optind < argc) return cli_usage_error("logits", "unexpected argument '%s'", argv[optind]);
    err_t e = {0};
    int32_t *ids;
    int n;
    if (args_parse_ids(ids_s, "--ids", &ids, &n, &e) != R1D_OK) return cli_fail("logits", &e);
    comm_t *comm = NULL;
    r1d_status st = comm_init(&comm, "auto", &e);
    if (st == R1D_OK) st = run(model, backend, ids, n, last, mtp, act_quant, out, comm, &e);
    free(ids);
    int rc = st == R1D_OK ? 0 : cli_fail("logits", &e);
    comm_free(comm);
    return rc;
}
