#include "student/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "student/ckpt.h"
#include "student/data.h"
#include "student/release.h"
#include "student/row.h"

typedef struct run {
    const stu_train_cfg_t *cfg;
    comm_t *comm;
    int rank, world;
    ops_t *ops;
    stu_model_t *m;
    stu_data_t data;
    int64_t *targets;            /* [data.n] target tokens of each sample */
    stu_plan_t plan;
    int64_t plan_epoch;
    stu_acts_t acts;
    stu_rowbuf_t rb;
    stu_optim_t opt;
    float *gshard;               /* [opt.n] reduce-scattered gradients (world > 1) */
    int64_t rows_per_step, steps_per_epoch, total;
    FILE *metrics;
} run_t;

static r1d_status plan_for(run_t *r, int64_t epoch, err_t *e) {
    if (r->plan.row_off && r->plan_epoch == epoch) return R1D_OK;
    stu_plan_free(&r->plan);
    TRY(stu_plan_build(&r->plan, &r->data, r->cfg->seq_len, r->cfg->packing, r->cfg->seed, epoch, e));
    r->plan_epoch = epoch;
    return R1D_OK;
}

static int64_t row_targets(const run_t *r, int64_t row) {
    int64_t n = 0;
    for (int64_t i = r->plan.row_off[row]; i < r->plan.row_off[row + 1]; i++) n += r->targets[r->plan.sample[i]];
    return n;
}

static r1d_status row_build(run_t *r, int64_t row, err_t *e) {
    stu_rowbuf_clear(&r->rb);
    for (int64_t i = r->plan.row_off[row]; i < r->plan.row_off[row + 1]; i++) {
        int64_t s = r->plan.sample[i], o = r->data.off[s];
        TRY(stu_rowbuf_add(&r->rb, r->data.ids + o, r->data.mask + o, r->data.off[s + 1] - o, e));
    }
    return R1D_OK;
}

/* Full moments on every rank (ZeRO-1 gathers the slices) for a checkpoint. */
static r1d_status save(run_t *r, int64_t step, double loss, err_t *e) {
    stu_model_t *m = r->m;
    size_t bytes = (size_t)m->n_params * sizeof(float);
    float *m1 = calloc(1, bytes), *m2 = calloc(1, bytes);
    r1d_status st = m1 && m2 ? R1D_OK : ERR(e, R1D_ENOMEM, "out of memory gathering the AdamW state");
    if (st == R1D_OK && r->world > 1) {
        st = comm_allgather(r->comm, r->opt.m, m1, (size_t)m->n_params, DT_F32, e);
        if (st == R1D_OK) st = comm_allgather(r->comm, r->opt.v, m2, (size_t)m->n_params, DT_F32, e);
    } else if (st == R1D_OK) {
        memcpy(m1, r->opt.m, bytes), memcpy(m2, r->opt.v, bytes);
    }
    char path[4400];
    stu_ckpt_state_t s = {step, r->total, r->world, r->cfg->seq_len, r->cfg->micro_batch, r->cfg->grad_accum,
                          r->cfg->packing, r->cfg->seed, r->data.hash, loss};
    if (st == R1D_OK && r->rank == 0) {
        st = stu_ckpt_save(r->cfg->out_dir, m, m1, m2, &s, path, sizeof path, e);
        if (st == R1D_OK) log_info("saved %s", path);
    }
    free(m1), free(m2);
    if (st == R1D_OK && r->world > 1) st = comm_barrier(r->comm, e);
    return st;
}

static r1d_status state_check(const run_t *r, const stu_ckpt_state_t *s, const char *path, err_t *e) {
    const stu_train_cfg_t *c = r->cfg;
#define SAME(field, val)                                                                                         \
    if ((int64_t)(s->field) != (int64_t)(val))                                                                   \
        return ERR(e, R1D_EINVAL, "%s: %s is %lld in the checkpoint but %lld in this run; resume with the same " \
                   "settings", path, #field, (long long)(s->field), (long long)(val));
    SAME(world_size, r->world);
    SAME(seq_len, c->seq_len);
    SAME(micro_batch, c->micro_batch);
    SAME(grad_accum, c->grad_accum);
    SAME(packing, c->packing);
    SAME(seed, c->seed);
    SAME(total_steps, r->total);
#undef SAME
    if (s->data_hash != r->data.hash)
        return ERR(e, R1D_EINVAL, "%s: the data differs (xxh3 %016llx in the checkpoint, %016llx now)", path,
                   (unsigned long long)s->data_hash, (unsigned long long)r->data.hash);
    if (s->step > r->total)
        return ERR(e, R1D_EINVAL, "%s: step %lld is past the run's %lld steps", path, (long long)s->step, (long long)r->total);
    return R1D_OK;
}

/* metrics.jsonl: truncated for a fresh run; on resume, lines past the checkpoint's step
 * (from the interrupted run) are dropped so every step appears once. */
static r1d_status metrics_open(run_t *r, int64_t keep_steps, err_t *e) {
    char path[4400];
    snprintf(path, sizeof path, "%s/metrics.jsonl", r->cfg->out_dir);
    char *old = NULL;
    size_t n = 0;
    if (keep_steps > 0 && file_exists(path)) TRY(file_read_all(path, &old, &n, e));
    size_t keep = 0;
    for (char *line = old; line && line < old + n;) {
        char *end = memchr(line, '\n', (size_t)(old + n - line));
        if (!end) break;
        json_t *o = json_loadb(line, (size_t)(end - line), 0, NULL);
        int64_t step = o ? json_integer_value(json_object_get(o, "step")) : 0;
        json_decref(o);
        if (step < 1 || step > keep_steps) break;
        keep = (size_t)(end + 1 - old);
        line = end + 1;
    }
    r1d_status st = file_write_atomic(path, old ? old : "", keep, e);
    free(old);
    TRY(st);
    r->metrics = fopen(path, "a");
    if (!r->metrics) return ERR(e, R1D_EIO, "%s: cannot open for appending", path);
    return R1D_OK;
}

static r1d_status step_run(run_t *r, int64_t s, double *loss, double *gnorm, double *lr, int64_t *tokens, err_t *e) {
    stu_model_t *m = r->m;
    TRY(plan_for(r, s / r->steps_per_epoch, e));
    int64_t r0 = (s % r->steps_per_epoch) * r->rows_per_step, r1 = r0 + r->rows_per_step;
    if (r1 > r->plan.n_rows) r1 = r->plan.n_rows;
    int64_t N = 0, toks = 0;
    for (int64_t row = r0; row < r1; row++) N += row_targets(r, row);
    stu_model_zero_grad(m);
    float lsum = 0;
    for (int64_t row = r0 + r->rank; row < r1; row += r->world) {
        TRY(row_build(r, row, e));
        stu_row_t x = stu_rowbuf_row(&r->rb);
        double ls;
        int64_t nt;
        TRY(stu_forward_backward(m, &r->acts, &x, 1.0f / (float)N, &ls, &nt, e));
        lsum += (float)ls;
        toks += x.T;
    }
    float *g = m->grads;
    float red[2] = {lsum, (float)toks};
    if (r->world > 1) {
        TRY(comm_allreduce(r->comm, red, 2, DT_F32, COMM_SUM, e));
        TRY(comm_reduce_scatter(r->comm, m->grads, r->gshard, (size_t)m->n_params, DT_F32, COMM_SUM, e));
        g = r->gshard;
    }
    double sumsq = stu_optim_sumsq(&r->opt, m, g);
    if (r->world > 1) {
        float sq = (float)sumsq;
        TRY(comm_allreduce(r->comm, &sq, 1, DT_F32, COMM_SUM, e));
        sumsq = sq;
    }
    *gnorm = sqrt(sumsq);
    *lr = stu_optim_step(&r->opt, m, g, *gnorm);
    if (r->world > 1)
        TRY(comm_allgather(r->comm, m->params + r->opt.off, m->params, (size_t)m->n_params, DT_F32, e));
    *loss = (double)red[0] / (double)N;
    *tokens = (int64_t)red[1];
    return R1D_OK;
}

static r1d_status run_setup(run_t *r, err_t *e) {
    const stu_train_cfg_t *c = r->cfg;
    if (c->micro_batch < 1 || c->grad_accum < 1 || c->epochs < 1)
        return ERR(e, R1D_EINVAL, "micro-batch, grad-accum and epochs must be at least 1");
    TRY(ops_cpu_init(&r->ops, e));
    TRY(stu_model_load(&r->m, c->model_dir, r->ops, e));
    TRY(stu_data_load(&r->data, c->data_path, c->model_dir, c->chat_template, c->seq_len, c->truncate, r->m->cfg->vocab_size, e));
    r->targets = malloc((size_t)r->data.n * sizeof *r->targets);
    if (!r->targets) return ERR(e, R1D_ENOMEM, "out of memory");
    for (int64_t s = 0; s < r->data.n; s++) {
        int64_t n = 0;
        for (int64_t i = r->data.off[s] + 1; i < r->data.off[s + 1]; i++) n += r->data.mask[i];
        r->targets[s] = n;
    }
    TRY(plan_for(r, 0, e));
    r->rows_per_step = c->micro_batch * c->grad_accum * r->world;
    r->steps_per_epoch = (r->plan.n_rows + r->rows_per_step - 1) / r->rows_per_step;
    r->total = r->steps_per_epoch * c->epochs;
    if (c->max_steps > 0 && c->max_steps < r->total) r->total = c->max_steps;
    stu_optim_cfg_t oc = c->opt;
    oc.total_steps = r->total;
    oc.warmup_steps = (int64_t)ceil(c->warmup_ratio * (double)r->total);
    size_t off, n;
    comm_shard((size_t)r->m->n_params, r->world, r->rank, &off, &n);
    TRY(stu_optim_init(&r->opt, r->m, &oc, (int64_t)off, (int64_t)n, e));
    if (r->world > 1) {
        r->gshard = malloc((n ? n : 1) * sizeof(float));
        if (!r->gshard) return ERR(e, R1D_ENOMEM, "out of memory");
    }
    TRY(stu_acts_init(&r->acts, r->m, c->seq_len, 0, e));
    TRY(stu_rowbuf_init(&r->rb, c->seq_len, e));
    return R1D_OK;
}

static r1d_status resume(run_t *r, int64_t *start, double *loss, err_t *e) {
    char path[4400];
    TRY(stu_ckpt_resolve(r->cfg->resume, path, sizeof path, e));
    size_t bytes = (size_t)r->m->n_params * sizeof(float);
    float *m1 = malloc(bytes), *m2 = malloc(bytes);
    stu_ckpt_state_t s;
    r1d_status st = m1 && m2 ? stu_ckpt_load(path, r->m, m1, m2, &s, e) : ERR(e, R1D_ENOMEM, "out of memory");
    if (st == R1D_OK) st = state_check(r, &s, path, e);
    if (st == R1D_OK) {
        memcpy(r->opt.m, m1 + r->opt.off, (size_t)r->opt.n * sizeof(float));
        memcpy(r->opt.v, m2 + r->opt.off, (size_t)r->opt.n * sizeof(float));
        r->opt.step = s.step;
        *start = s.step;
        *loss = s.loss;
        log_info("resuming %s at step %lld of %lld", path, (long long)s.step, (long long)r->total);
    }
    free(m1), free(m2);
    return st;
}

static r1d_status train_loop(run_t *r, stu_train_result_t *res, err_t *e) {
    const stu_train_cfg_t *c = r->cfg;
    int64_t start = 0;
    double loss = 0; /* the last step's mean loss (the checkpoint's when nothing is left to run) */
    if (c->resume) TRY(resume(r, &start, &loss, e));
    if (r->rank == 0) {
        TRY(file_mkdirs(c->out_dir, e));
        TRY(metrics_open(r, start, e));
        log_info("%lld samples (%lld target tokens) in %lld rows of <= %lld tokens per epoch; %lld rows per step; "
                 "%lld steps (%lld warmup)", (long long)r->data.n, (long long)r->data.n_targets,
                 (long long)r->plan.n_rows, (long long)c->seq_len, (long long)r->rows_per_step, (long long)r->total,
                 (long long)r->opt.cfg.warmup_steps);
        if (r->world > 1)
            log_info("ZeRO-1 over %d ranks: AdamW state %.2f MiB per rank instead of %.2f MiB", r->world,
                     (double)r->opt.n * 8 / 1048576.0, (double)r->m->n_params * 8 / 1048576.0);
    }
    progress_t *bar = r->rank == 0 ? progress_init("train", (uint64_t)(r->total - start), "steps") : NULL;
    double t0 = time_now(), logged = -INFINITY;
    int64_t s = start, ran = 0;
    r1d_status st = R1D_OK;
    for (; s < r->total; s++) {
        double ts = time_now(), gn, lr;
        int64_t toks;
        if ((st = step_run(r, s, &loss, &gn, &lr, &toks, e)) != R1D_OK) break;
        double dt = time_now() - ts, el = time_now() - t0;
        if (r->rank == 0) {
            /* every step is in metrics.jsonl; the log gets one line per 10 s (all at debug level) */
            int line = s + 1 == r->total || el - logged >= 10.0;
            if (line) logged = el;
            log_msg(line ? LOG_INFO : LOG_DEBUG, "step %lld/%lld loss %.6f lr %.4g grad_norm %.4f tok/s %.0f elapsed %.1fs",
                    (long long)s + 1, (long long)r->total, loss, lr, gn, (double)toks / dt, el);
            char note[48];
            snprintf(note, sizeof note, "loss %.4f", loss);
            progress_set_note(bar, note);
            json_t *o = json_pack("{s:I, s:f, s:f, s:f, s:I, s:f, s:f}", "step", (json_int_t)(s + 1), "loss", loss,
                                  "lr", lr, "grad_norm", gn, "tokens", (json_int_t)toks, "tokens_per_s",
                                  (double)toks / dt, "elapsed_s", el);
            jsonl_write(r->metrics, o, e);
            json_decref(o);
            fflush(r->metrics);
            progress_add(bar, 1);
        }
        ran++;
        int last = s + 1 == r->total, halt = c->stop_after > 0 && ran == c->stop_after;
        if (last || halt || (c->save_every > 0 && (s + 1) % c->save_every == 0))
            if ((st = save(r, s + 1, loss, e)) != R1D_OK) break;
        if (halt && !last) {
            s++;
            break;
        }
    }
    if (bar) progress_free(bar);
    TRY(st);
    res->steps_done = s;
    res->total_steps = r->total;
    res->final_loss = loss;
    if (s == r->total && r->rank == 0) {
        stu_release_info_t info = {c->data_path, r->data.hash, r->data.n, r->data.n_targets, r->total, c->epochs,
                                   c->seq_len, r->rows_per_step, c->opt.lr, c->opt.min_lr_ratio, c->warmup_ratio,
                                   c->opt.weight_decay, c->opt.beta1, c->opt.beta2, c->opt.eps, c->opt.clip,
                                   c->opt.schedule == STU_SCHED_COSINE   ? "cosine"
                                   : c->opt.schedule == STU_SCHED_LINEAR ? "linear"
                                                                          : "constant",
                                   loss, c->seed, c->chat_template};
        TRY(stu_release_write(r->m, c->out_dir, c->save_dtype, &info, e));
        res->released = 1;
        log_info("released %s", c->out_dir);
    }
    return R1D_OK;
}

r1d_status stu_train_run(const stu_train_cfg_t *cfg, comm_t *comm, stu_train_result_t *res, err_t *e) {
    run_t r = {.cfg = cfg, .comm = comm, .rank = comm_rank(comm), .world = comm_size(comm), .plan_epoch = -1};
    memset(res, 0, sizeof *res);
    r1d_status st = run_setup(&r, e);
    if (st == R1D_OK) {
        res->rows_per_epoch = r.plan.n_rows;
        res->optim_bytes_rank = (size_t)r.opt.n * 2 * sizeof(float);
        res->optim_bytes_full = (size_t)r.m->n_params * 2 * sizeof(float);
        st = train_loop(&r, res, e);
    }
    if (r.metrics) fclose(r.metrics);
    free(r.gshard);
    if (r.m) {
        stu_optim_free(&r.opt, r.m);
        stu_acts_free(&r.acts, r.m);
    }
    stu_rowbuf_free(&r.rb);
    stu_plan_free(&r.plan);
    free(r.targets);
    stu_data_free(&r.data);
    stu_model_free(r.m);
    ops_free(r.ops);
    return st;
}
