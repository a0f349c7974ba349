/* The manifest runner (`r1d run`, `r1d status`): the schema of run manifests
 * (cli/run_schema.c), the stage table and its bookkeeping (cli/run_stages.c: run folder,
 * DONE markers, input hashes), and the stages, one file per family (run_data.c: synth,
 * generation and the dataset stages; run_model.c: teacher and student training, release;
 * run_eval.c: eval and the side-by-side report). Prefix: run_. */
#ifndef R1D_CLI_RUN_H
#define R1D_CLI_RUN_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "core/comm.h"
#include "core/manifest.h"

/* ---- schema (run_schema.c) ---- */
extern const mf_schema_t run_schema;
/* Checks across keys (impossible combinations), after mf_validate; adds errors to m.
 * files: the run is about to start (model folders are read for their architecture). */
void run_schema_check(mf_t *m, int files);
/* Loads, validates and checks a manifest; e gets the first error (all are in m). */
r1d_status run_manifest_load(mf_t **m, const char *path, int files, err_t *e);
/* docs/manifest.md, whole. */
void run_schema_doc(FILE *fp);

/* ---- run context ---- */
typedef struct run_ctx {
    mf_t *m;
    char dir[2048];   /* RUN_DIR, absolute */
    comm_t *comm;
    int rank, size;
    int64_t epoch;    /* timestamps written into outputs (SOURCE_DATE_EPOCH, else the run's creation) */
} run_ctx_t;

typedef struct run_stage {
    const char *name;
    const char *keys;     /* manifest keys whose canonical values are inputs, space separated */
    const char *deps;     /* stages whose outputs it consumes, space separated */
    const char *outputs;  /* files or folders in its folder hashed into DONE, space separated ("?x": if present) */
    int all_ranks;        /* under mpirun every rank works (generation, training); else rank 0 alone */
    int (*enabled)(const run_ctx_t *c);
    /* Runs the stage in sdir; may append more output names (relative to sdir) to outs. */
    r1d_status (*run)(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
    /* One line of progress of an unfinished stage ("120 / 400 samples"); may be NULL. */
    void (*progress)(const run_ctx_t *c, const char *sdir, char *buf, size_t n);
    const char *what;     /* what it produces, for --check */
} run_stage_t;

extern const run_stage_t run_stages[];
extern const int run_n_stages;

typedef enum { RUN_OFF = 0, RUN_WAITING, RUN_PENDING, RUN_PARTIAL, RUN_STALE, RUN_DONE } run_state_t;
const char *run_state_name(run_state_t s);

/* snprintf for paths, out of line: a path too long for its buffer is cut and logged (paths
 * here are bounded by PATH_MAX-sized buffers, and the file call on it then fails clearly). */
void run_pathf(char *out, size_t n, const char *fmt, ...);
/* RUN_DIR/NN-name */
void run_sdir(const run_ctx_t *c, const char *stage, char *buf, size_t n);
/* RUN_DIR/NN-stage/rel */
void run_file(const run_ctx_t *c, const char *stage, const char *rel, char *buf, size_t n);
const run_stage_t *run_stage_find(const char *name);
int run_stage_index(const char *name);
int run_enabled(const run_ctx_t *c, const char *stage);
/* State of a stage; inputs (17 bytes) gets its input hash when its dependencies are done. */
run_state_t run_stage_state(const run_ctx_t *c, const run_stage_t *s, char *inputs);
/* Reads a stage's DONE (NULL when absent or unreadable). */
json_t *run_done_load(const run_ctx_t *c, const char *stage);
/* XXH3-64 of a file, or of a folder's regular files (names and contents, sorted), as 16 hex digits. */
r1d_status run_hash_path(const char *path, char hex[17], err_t *e);
/* 1 for a temporary of core/file.h's atomic writers ("NAME.tmp.PID"). */
int run_is_temp(const char *name);
/* Removes the temporaries a killed writer left anywhere under sdir (before resuming a stage:
 * they would otherwise become part of its outputs). */
void run_clean_temps(const char *sdir);
/* rm -r of a stage folder (refuses anything outside RUN_DIR). */
r1d_status run_rmtree(const run_ctx_t *c, const char *path, err_t *e);

/* ---- resolved inputs shared by stages ---- */
/* The teacher's model folder: teacher.model or the teacher_train stage's release. */
void run_teacher_dir(const run_ctx_t *c, char *buf, size_t n);
/* The name samples record as their teacher (not a path: outputs must not depend on RUN_DIR's location). */
void run_teacher_name(const run_ctx_t *c, char *buf, size_t n);
/* The student's tokenizer folder (student.model, student.init.tokenizer or synth's). */
void run_student_tokenizer(const run_ctx_t *c, char *buf, size_t n);
/* The student's base folder: student.model, or the train stage's initialised model. */
void run_student_base(const run_ctx_t *c, char *buf, size_t n);
/* The released student. */
void run_student_release(const run_ctx_t *c, char *buf, size_t n);
/* Eval sets: eval.sets, else synth's eval.jsonl. *paths are malloc'd strings; free with run_strs_free. */
int run_eval_sets(const run_ctx_t *c, char ***paths);
/* Sets decontamination checks against: decontam.sets, else the eval sets. */
int run_decontam_sets(const run_ctx_t *c, char ***paths);
void run_strs_free(char **v, int n);
/* Lines of a file (0 when absent). */
int64_t run_count_lines(const char *path);
/* Every rank learns whether any failed: call on every rank, whatever its status. */
r1d_status run_agree(run_ctx_t *c, r1d_status st, err_t *e);
/* Writes a JSON document atomically (indented). */
r1d_status run_write_json(const char *path, const json_t *j, err_t *e);

/* ---- stages ---- */
int run_on_synth(const run_ctx_t *c);
int run_on_teacher_train(const run_ctx_t *c);
int run_on_always(const run_ctx_t *c);
int run_on_decontam(const run_ctx_t *c);
int run_on_eval(const run_ctx_t *c);

r1d_status run_synth(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
r1d_status run_generate(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
r1d_status run_filter(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
r1d_status run_dedup(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
r1d_status run_decontam(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
r1d_status run_export(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
r1d_status run_teacher_train(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
r1d_status run_train(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
r1d_status run_release(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
r1d_status run_eval(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);
r1d_status run_report(run_ctx_t *c, const char *sdir, json_t *outs, err_t *e);

void run_progress_generate(const run_ctx_t *c, const char *sdir, char *buf, size_t n);
void run_progress_train(const run_ctx_t *c, const char *sdir, char *buf, size_t n);
void run_progress_eval(const run_ctx_t *c, const char *sdir, char *buf, size_t n);

/* --check: the teacher's layout and memory (teacher/plan.h), the student, the data; 1 when the
 * teacher's layout cannot be built or does not fit. */
int run_plan_print(const run_ctx_t *c, FILE *fp);

#endif
