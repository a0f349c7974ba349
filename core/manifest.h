/* YAML run manifests. libyaml parses the file into a document whose nodes keep their
 * line and column; a schema table (one mf_key_t per key: dotted path, type, default,
 * range or allowed values, one-line doc) then validates the whole manifest at once and
 * resolves it into a JSON tree with every default filled in and every path made
 * absolute. Errors are one line each, `FILE:LINE:COL: key 'a.b.c': expected ..., got ...`
 * (an unknown key names the closest known one). The canonical hash of a section is the
 * XXH3-64 of its resolved JSON with sorted keys, so the key order, quoting and layout of
 * the YAML, and whether a default is written out or left implicit, do not change it.
 * The schema itself lives with its user (the run command); nothing here knows stages.
 * Prefix: mf_. */
#ifndef R1D_MANIFEST_H
#define R1D_MANIFEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

typedef enum {
    MF_SECTION = 0, /* a mapping of keys */
    MF_LIST,        /* a list of mappings; item keys are "PATH[].key" */
    MF_STR,
    MF_INT,
    MF_FLOAT,
    MF_BOOL,
    MF_ENUM,        /* a string among `allowed` ("a|b|c") */
    MF_PATH,        /* a file or folder, relative to the manifest's folder */
    MF_DIR,         /* a folder, relative to the manifest's folder */
    MF_STR_LIST,    /* a list of strings (each among `allowed` when given) */
    MF_PATH_LIST,   /* a list of paths */
} mf_type_t;

enum {
    MF_REQUIRED = 1, /* absent is an error */
    MF_OPTIONAL = 2, /* no default: absent stays absent (sections: their keys are not filled in) */
    MF_RUNTIME = 4,  /* a path that must exist only when running (model folders, data pools), not for --check */
    MF_OUTPUT = 8,   /* a path written by the run: never checked */
};

typedef struct mf_key {
    const char *path;    /* "teacher.sampling.temperature", "prompts.sources[].weight" */
    mf_type_t type;
    const char *def;     /* default as YAML text ("0.6", "[]", "cosine"); NULL: none */
    const char *range;   /* numbers: "[0, 1)", "(0, 1]", "[1, inf)"; NULL: any */
    const char *allowed; /* MF_ENUM / MF_STR_LIST: "cpu|cuda" */
    unsigned flags;
    const char *doc;     /* one line */
} mf_key_t;

typedef struct mf_schema {
    const mf_key_t *keys;
    size_t n;
} mf_schema_t;

typedef struct mf mf_t;

/* Parses a YAML file (one document, a mapping at the top). Syntax errors, duplicate keys,
 * anchors used as keys and non-UTF-8 text are errors with FILE:LINE:COL. */
r1d_status mf_load(mf_t **m, const char *path, err_t *e);
/* The same from a buffer; name stands for the file in messages, dir resolves relative paths. */
r1d_status mf_load_string(mf_t **m, const char *text, size_t n, const char *name, const char *dir, err_t *e);
void mf_free(mf_t *m);

enum { MF_V_FILES = 1 /* MF_RUNTIME paths must exist too */ };

/* Validates the whole manifest against the schema and builds the resolved tree. Every
 * problem is collected (mf_n_errors / mf_error); e gets the first one, with
 * " (and N more)" when there are several. */
r1d_status mf_validate(mf_t *m, const mf_schema_t *s, unsigned opts, err_t *e);
size_t mf_n_errors(const mf_t *m);
const char *mf_error(const mf_t *m, size_t i);
/* Paths of MF_RUNTIME keys that do not exist (collected by mf_validate without MF_V_FILES). */
size_t mf_n_missing(const mf_t *m);
const char *mf_missing(const mf_t *m, size_t i); /* "KEY: PATH" */

/* Adds an error found by a check beyond the schema (an impossible combination): one line
 * "FILE:LINE:COL: key 'KEY': MSG" at KEY's position (or its closest written parent's). */
r1d_status mf_fail(mf_t *m, err_t *e, const char *key, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Records such an error without returning it (validation goes on). */
void mf_add_error(mf_t *m, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "FILE:LINE:COL" of KEY (list items: "a.b[2].c"). */
void mf_where(const mf_t *m, const char *key, char *buf, size_t n);

/* ---- the resolved manifest (after mf_validate) ---- */
const json_t *mf_root(const mf_t *m);
/* The value at a dotted path ("a.b[1].c"), or NULL when absent. */
const json_t *mf_get(const mf_t *m, const char *key);
int mf_has(const mf_t *m, const char *key);
/* Typed getters: def when the key is absent (optional keys without a default). */
const char *mf_str(const mf_t *m, const char *key, const char *def);
int64_t mf_i64(const mf_t *m, const char *key, int64_t def);
double mf_f64(const mf_t *m, const char *key, double def);
int mf_bool(const mf_t *m, const char *key, int def);
size_t mf_len(const mf_t *m, const char *key); /* lists; 0 when absent */

/* Canonical hash of the resolved value at key (a section or a leaf; absent hashes as null). */
uint64_t mf_hash(const mf_t *m, const char *key);
/* The canonical text that mf_hash hashes (malloc'd). */
char *mf_canonical(const mf_t *m, const char *key);

const char *mf_path(const mf_t *m); /* the manifest file */
const char *mf_dir(const mf_t *m);  /* its folder, absolute */

/* The reference of every key as Markdown tables, one per top-level section. */
void mf_schema_md(const mf_schema_t *s, FILE *fp);
/* Edit distance, for "did you mean" (exposed for tests). */
int mf_edit_distance(const char *a, const char *b);

#endif
