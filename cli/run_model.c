/* Model stages of `r1d run`: a teacher trained from scratch (the demo), the student's SFT
 * and its release. Training resumes from the trainer's latest checkpoint; the released
 * weights are moved out of the trainer's folder into model/ so that the stage's outputs
 * hold no checkpoint or timing file. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "cli/run.h"
#include "core/chat.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "core/tok.h"
#include "student/init.h"
#include "student/trainer.h"
#include "teacher/model.h"

/* A new random model in dir, written into a temporary folder renamed when complete. */
static r1d_status init_model(run_ctx_t *c, const char *prefix, const char *tokdir, const char *dir, err_t *e) {
    if (file_is_dir(dir)) return R1D_OK;
    char tmp[4400], k[10][128];
    const char *names[] = {"arch", "hidden", "layers", "heads", "kv_heads", "intermediate", "max_pos", "rope_theta",
                           "tie_embeddings", "init_seed"};
    for (int i = 0; i < 10; i++) snprintf(k[i], sizeof k[i], "%s.%s", prefix, names[i]);
    const mf_t *m = c->m;
    stu_init_cfg_t ic = {.arch = mf_str(m, k[0], "qwen2"), .hidden = mf_i64(m, k[1], 0), .layers = mf_i64(m, k[2], 0),
                         .heads = mf_i64(m, k[3], 0), .kv_heads = mf_i64(m, k[4], 0), .intermediate = mf_i64(m, k[5], 0),
                         .max_pos = mf_i64(m, k[6], 0), .rope_theta = mf_f64(m, k[7], 0),
                         .tie_embeddings = mf_bool(m, k[8], 1), .seed = (uint64_t)mf_i64(m, k[9], 0)};
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    TRY(run_rmtree(c, tmp, e));
    TRY(stu_init_write(&ic, tokdir, tmp, e));
    if (rename(tmp, dir)) return ERR(e, R1D_EIO, "%s: cannot rename to %s", tmp, dir);
    log_info("%s: a random %s model (hidden %lld, %lld layers) in %s", prefix, ic.arch, (long long)ic.hidden,
             (long long)ic.layers, dir);
    return R1D_OK;
}

/* The trainer's hyper-parameters from a section (student, teacher.train). */
static r1d_status train_cfg(const mf_t *m, const char *p, stu_train_cfg_t *t, err_t *e) {
    char k[128];
#define I(name) (snprintf(k, sizeof k, "%s." name, p), mf_i64(m, k, 0))
#define F(name) (snprintf(k, sizeof k, "%s." name, p), mf_f64(m, k, 0))
#define B(name) (snprintf(k, sizeof k, "%s." name, p), mf_bool(m, k, 0))
#define S(name) (snprintf(k, sizeof k, "%s." name, p), mf_str(m, k, ""))
    memset(t, 0, sizeof *t);
    t->seq_len = I("seq_len"), t->micro_batch = I("micro_batch"), t->grad_accum = I("grad_accum");
    t->epochs = I("epochs"), t->max_steps = I("max_steps"), t->save_every = I("save_every");
    t->warmup_ratio = F("warmup_ratio"), t->seed = (uint64_t)I("seed");
    t->packing = B("packing"), t->truncate = B("truncate");
    t->save_dtype = !strcmp(S("save_dtype"), "f32") ? DT_F32 : DT_BF16;
    t->opt = (stu_optim_cfg_t){.lr = F("lr"), .min_lr_ratio = F("min_lr_ratio"), .beta1 = F("beta1"),
                               .beta2 = F("beta2"), .eps = F("eps"), .weight_decay = F("weight_decay"), .clip = F("clip")};
    TRY(stu_sched_parse(S("schedule"), &t->opt.schedule, e));
#undef I
#undef F
#undef B
#undef S
    return R1D_OK;
}

/* out/'s release files (everything but checkpoints, `latest`, metrics and hidden
 * temporaries) into model/, through model.tmp/ renamed when complete. */
static r1d_status take_release(run_ctx_t *c, const char *out, const char *model, err_t *e) {
    char tmp[4400];
    run_pathf(tmp, sizeof tmp, "%s.tmp", model);
    TRY(run_rmtree(c, tmp, e));
    TRY(file_mkdirs(tmp, e));
    DIR *d = opendir(out);
    if (!d) return ERR(e, R1D_EIO, "%s: cannot open", out);
    struct dirent *de;
    r1d_status st = R1D_OK;
    while (st == R1D_OK && (de = readdir(d))) {
        const char *n = de->d_name;
        if (n[0] == '.' || !strcmp(n, "latest") || !strcmp(n, "metrics.jsonl") || !strncmp(n, "checkpoint-", 11) ||
            run_is_temp(n))
            continue;
        char a[4400], b[4400];
        run_pathf(a, sizeof a, "%s/%s", out, n);
        run_pathf(b, sizeof b, "%s/%s", tmp, n);
        if (file_is_dir(a)) continue;
        if (rename(a, b)) st = ERR(e, R1D_EIO, "%s: cannot move to %s", a, b);
    }
    closedir(d);
    TRY(st);
    TRY(run_rmtree(c, model, e)); /* a release taken before an interruption: this one replaces it */
    if (rename(tmp, model)) return ERR(e, R1D_EIO, "%s: cannot rename to %s", tmp, model);
    return R1D_OK;
}

/* Initialise (rank 0), train (every rank; resumes from out/latest), take the release (rank 0). */
static r1d_status train_stage(run_ctx_t *c, const char *sdir, const char *section, const char *base, int init,
                              const char *tokdir, const char *data, const char *chat, err_t *e) {
    char out[4400], model[4400], latest[4400];
    snprintf(out, sizeof out, "%s/out", sdir);
    snprintf(model, sizeof model, "%s/model", sdir);
    run_pathf(latest, sizeof latest, "%s/latest", out);
    char iprefix[64];
    snprintf(iprefix, sizeof iprefix, "%s", section);
    if (!strcmp(section, "student")) snprintf(iprefix, sizeof iprefix, "student.init");
    r1d_status st = c->rank == 0 && init ? init_model(c, iprefix, tokdir, base, e) : R1D_OK;
    TRY(run_agree(c, st, e));
    stu_train_cfg_t t;
    TRY(train_cfg(c->m, section, &t, e));
    t.model_dir = base, t.data_path = data, t.out_dir = out, t.chat_template = chat;
    t.resume = file_exists(latest) ? out : NULL;
    if (t.resume && c->rank == 0) log_info("%s: resuming from the latest checkpoint in %s", section, out);
    stu_train_result_t res;
    st = stu_train_run(&t, c->comm, &res, e);
    if (st == R1D_OK && !res.released && c->rank == 0)
        st = ERR(e, R1D_EINTERNAL, "%s: training ended at step %lld of %lld without a release", out,
                 (long long)res.steps_done, (long long)res.total_steps);
    TRY(run_agree(c, st, e));
    if (c->rank == 0) {
        log_info("%s: %lld steps, final loss %.4f", section, (long long)res.total_steps, res.final_loss);
        st = take_release(c, out, model, e);
    }
    return st;
}

r1d_status run_teacher_train(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    (void)outs;
    char base[4400], tokdir[4400], data[4400];
    snprintf(base, sizeof base, "%s/init", sdir);
    if (mf_has(c->m, "teacher.train.tokenizer")) snprintf(tokdir, sizeof tokdir, "%s", mf_str(c->m, "teacher.train.tokenizer", ""));
    else run_file(c, "synth", "tokenizer", tokdir, sizeof tokdir);
    if (mf_has(c->m, "teacher.train.data")) snprintf(data, sizeof data, "%s", mf_str(c->m, "teacher.train.data", ""));
    else run_file(c, "synth", "sft.jsonl", data, sizeof data);
    return train_stage(c, sdir, "teacher.train", base, 1, tokdir, data, NULL, e);
}

r1d_status run_train(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    char base[4400], tokdir[4096], data[4400];
    int init = !mf_has(c->m, "student.model");
    if (init) snprintf(base, sizeof base, "%s/init", sdir);
    else snprintf(base, sizeof base, "%s", mf_str(c->m, "student.model", ""));
    run_student_tokenizer(c, tokdir, sizeof tokdir);
    run_file(c, "export", "dataset.", data, sizeof data);
    snprintf(data + strlen(data), sizeof data - strlen(data), "%s", mf_str(c->m, "export.format", "tar.zst"));
    if (init) json_array_append_new(outs, json_string("init"));
    return train_stage(c, sdir, "student", base, init, tokdir, data, mf_str(c->m, "student.chat_template", NULL), e);
}

void run_progress_train(const run_ctx_t *c, const char *sdir, char *buf, size_t n) {
    (void)c;
    char p[4400], *lat = NULL;
    size_t len;
    err_t e;
    snprintf(p, sizeof p, "%s/out/metrics.jsonl", sdir);
    int64_t steps = run_count_lines(p), ck = 0, total = 0;
    snprintf(p, sizeof p, "%s/out/latest", sdir);
    if (file_exists(p) && file_read_all(p, &lat, &len, &e) == R1D_OK) {
        while (len && (lat[len - 1] == '\n' || lat[len - 1] == ' ')) lat[--len] = 0;
        char st[4800];
        if (lat[0] == '/') snprintf(st, sizeof st, "%s/state.json", lat);
        else snprintf(st, sizeof st, "%s/out/%s/state.json", sdir, lat);
        json_t *j;
        if (js_load_file(st, &j, &e) == R1D_OK) {
            ck = json_integer_value(json_object_get(j, "step"));
            total = json_integer_value(json_object_get(j, "total_steps"));
            json_decref(j);
        }
    }
    free(lat);
    snprintf(p, sizeof p, "%s/init", sdir);
    if (!steps && !ck) snprintf(buf, n, "%s", file_is_dir(p) ? "initialised, training not started" : "not started");
    else if (total) snprintf(buf, n, "step %lld / %lld (checkpoint at %lld)", (long long)steps, (long long)total, (long long)ck);
    else snprintf(buf, n, "step %lld (no checkpoint yet)", (long long)steps);
}

/* ---- release ---- */

static r1d_status copy_file(const char *src, const char *dst, err_t *e) {
    file_map_t fm;
    TRY(file_map_open(&fm, src, e));
    file_atomic_t w;
    r1d_status st = file_atomic_open(&w, dst, e);
    if (st == R1D_OK) {
        if (fm.size && fwrite(fm.data, 1, fm.size, w.fp) != fm.size) {
            file_atomic_abort(&w);
            st = ERR(e, R1D_EIO, "%s: write failed", dst);
        } else {
            st = file_atomic_commit(&w, e);
        }
    }
    file_map_close(&fm);
    return st;
}

r1d_status run_release(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e) {
    char src[4400], dst[4400], tmp[4400];
    run_file(c, "train", "model", src, sizeof src);
    run_student_release(c, dst, sizeof dst);
    run_pathf(tmp, sizeof tmp, "%s.tmp", dst);
    TRY(run_rmtree(c, tmp, e));
    TRY(run_rmtree(c, dst, e));
    TRY(file_mkdirs(tmp, e));
    json_t *files = json_object();
    DIR *d = opendir(src);
    if (!d) {
        json_decref(files);
        return ERR(e, R1D_EIO, "%s: cannot open", src);
    }
    struct dirent *de;
    r1d_status st = R1D_OK;
    while (st == R1D_OK && (de = readdir(d))) {
        char a[4700], b[4700], hex[17];
        snprintf(a, sizeof a, "%s/%s", src, de->d_name);
        snprintf(b, sizeof b, "%s/%s", tmp, de->d_name);
        if (de->d_name[0] == '.' || file_is_dir(a)) continue;
        st = copy_file(a, b, e);
        if (st == R1D_OK) st = run_hash_path(b, hex, e);
        if (st == R1D_OK) json_object_set_new(files, de->d_name, json_string(hex));
    }
    closedir(d);
    if (st == R1D_OK && rename(tmp, dst)) st = ERR(e, R1D_EIO, "%s: cannot rename to %s", tmp, dst);
    /* the release must load as a model, with its tokenizer and chat template */
    tch_model_t *m = NULL;
    tok_t *tok = NULL;
    const chat_template_t *ct = NULL;
    if (st == R1D_OK) st = tch_model_load(&m, dst, e);
    if (st == R1D_OK) st = tok_load(&tok, dst, e);
    if (st == R1D_OK) st = chat_template_from_model_dir(dst, &ct, e);
    if (st == R1D_OK) {
        char desc[512];
        tch_model_describe(m, desc, sizeof desc);
        const char *name = strrchr(dst, '/') + 1;
        json_t *r = json_pack("{s:s,s:i,s:s,s:s,s:I,s:s,s:O}", "format", "r1d.release", "version", 1, "name", name,
                              "model", desc, "parameters", (json_int_t)m->n_params, "chat_template",
                              chat_template_name(ct), "files", files);
        char p[4400];
        snprintf(p, sizeof p, "%s/release.json", sdir);
        st = run_write_json(p, r, e);
        json_decref(r);
        json_array_append_new(outs, json_string(name));
        log_info("release: %s (%s)", dst, desc);
    }
    tok_free(tok);
    tch_model_free(m);
    json_decref(files);
    return st;
}
