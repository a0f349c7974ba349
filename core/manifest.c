#define _GNU_SOURCE
#include "manifest.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <yaml.h>

#include "file.h"

struct mf {
    char path[4096]; /* as given, for messages */
    char dir[4096];  /* absolute folder for relative paths */
    yaml_document_t doc;
    int has_doc;
    json_t *root; /* resolved */
    json_t *locs; /* key path -> [line, col] */
    char **errors, **missing;
    size_t n_err, n_missing;
};

/* ---- loading ---- */

static r1d_status yaml_fail(yaml_parser_t *p, const char *name, err_t *e) {
    const yaml_mark_t *mk = p->context && p->problem_mark.line < p->context_mark.line ? &p->context_mark : &p->problem_mark;
    return ERR(e, R1D_EFORMAT, "%s:%zu:%zu: invalid YAML: %s%s%s", name, mk->line + 1, mk->column + 1,
               p->problem ? p->problem : "syntax error", p->context ? " " : "", p->context ? p->context : "");
}

r1d_status mf_load_string(mf_t **out, const char *text, size_t n, const char *name, const char *dir, err_t *e) {
    *out = NULL;
    mf_t *m = calloc(1, sizeof *m);
    if (!m) return ERR(e, R1D_ENOMEM, "%s: out of memory", name);
    snprintf(m->path, sizeof m->path, "%s", name);
    if (dir && dir[0] == '/') snprintf(m->dir, sizeof m->dir, "%s", dir);
    else {
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
        if (dir && *dir && strcmp(dir, ".")) snprintf(m->dir, sizeof m->dir, "%s/%s", cwd, dir);
        else snprintf(m->dir, sizeof m->dir, "%s", cwd);
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        free(m);
        return ERR(e, R1D_ENOMEM, "%s: out of memory", name);
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
    r1d_status st = R1D_OK;
    if (!yaml_parser_load(&p, &m->doc)) st = yaml_fail(&p, name, e);
    else {
        m->has_doc = 1;
        yaml_node_t *root = yaml_document_get_root_node(&m->doc);
        if (!root) st = ERR(e, R1D_EFORMAT, "%s:1:1: empty manifest: expected a mapping of sections (run, teacher, ...)", name);
        else if (root->type != YAML_MAPPING_NODE)
            st = ERR(e, R1D_EFORMAT, "%s:%zu:%zu: expected a mapping of sections (run, teacher, ...) at the top", name,
                     root->start_mark.line + 1, root->start_mark.column + 1);
        else {
            yaml_document_t next;
            if (!yaml_parser_load(&p, &next)) st = yaml_fail(&p, name, e);
            else {
                yaml_node_t *r2 = yaml_document_get_root_node(&next);
                if (r2)
                    st = ERR(e, R1D_EFORMAT, "%s:%zu:%zu: a second YAML document: a manifest is one document", name,
                             r2->start_mark.line + 1, r2->start_mark.column + 1);
                yaml_document_delete(&next);
            }
        }
    }
    yaml_parser_delete(&p);
    if (st != R1D_OK) {
        mf_free(m);
        return st;
    }
    *out = m;
    return R1D_OK;
}

r1d_status mf_load(mf_t **m, const char *path, err_t *e) {
    char *buf;
    size_t n;
    *m = NULL;
    TRY(file_read_all(path, &buf, &n, e));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    if (slash == dir) snprintf(dir, sizeof dir, "/");
    r1d_status st = mf_load_string(m, buf, n, path, dir, e);
    free(buf);
    return st;
}

void mf_free(mf_t *m) {
    if (!m) return;
    if (m->has_doc) yaml_document_delete(&m->doc);
    json_decref(m->root);
    json_decref(m->locs);
    for (size_t i = 0; i < m->n_err; i++) free(m->errors[i]);
    for (size_t i = 0; i < m->n_missing; i++) free(m->missing[i]);
    free(m->errors);
    free(m->missing);
    free(m);
}

/* ---- errors and positions ---- */

static void push(char ***list, size_t *n, char *s) {
    char **l = realloc(*list, (*n + 1) * sizeof *l);
    if (!l || !s) {
        free(s);
        return;
    }
    l[(*n)++] = s;
    *list = l;
}

static void add_at(mf_t *m, size_t line, size_t col, const char *key, const char *fmt, va_list ap) {
    char msg[900], *s;
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (asprintf(&s, "%s:%zu:%zu: key '%s': %s", m->path, line, col, key, msg) < 0) s = NULL;
    push(&m->errors, &m->n_err, s);
}

static void err_node(mf_t *m, const yaml_node_t *nd, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void err_node(mf_t *m, const yaml_node_t *nd, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add_at(m, nd ? nd->start_mark.line + 1 : 1, nd ? nd->start_mark.column + 1 : 1, key, fmt, ap);
    va_end(ap);
}

static void loc_set(mf_t *m, const char *key, const yaml_node_t *nd) {
    json_object_set_new(m->locs, key, json_pack("[I,I]", (json_int_t)nd->start_mark.line + 1,
                                                  (json_int_t)nd->start_mark.column + 1));
}

static void where_lc(const mf_t *m, const char *key, size_t *line, size_t *col) {
    char k[1024];
    snprintf(k, sizeof k, "%s", key);
    *line = *col = 1;
    while (m->locs) {
        const json_t *l = json_object_get(m->locs, k);
        if (l) {
            *line = (size_t)json_integer_value(json_array_get(l, 0));
            *col = (size_t)json_integer_value(json_array_get(l, 1));
            return;
        }
        char *cut = strrchr(k, '.'), *br = strrchr(k, '[');
        if (br && (!cut || br > cut)) cut = br;
        if (!cut) return;
        *cut = 0;
    }
}

void mf_where(const mf_t *m, const char *key, char *buf, size_t n) {
    size_t line, col;
    where_lc(m, key, &line, &col);
    snprintf(buf, n, "%s:%zu:%zu", m->path, line, col);
}

void mf_add_error(mf_t *m, const char *key, const char *fmt, ...) {
    size_t line, col;
    where_lc(m, key, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    add_at(m, line, col, key, fmt, ap);
    va_end(ap);
}

r1d_status mf_fail(mf_t *m, err_t *e, const char *key, const char *fmt, ...) {
    size_t line, col;
    where_lc(m, key, &line, &col);
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ERR(e, R1D_EINVAL, "%s:%zu:%zu: key '%s': %s", m->path, line, col, key, msg);
}

size_t mf_n_errors(const mf_t *m) { return m->n_err; }
const char *mf_error(const mf_t *m, size_t i) { return i < m->n_err ? m->errors[i] : NULL; }
size_t mf_n_missing(const mf_t *m) { return m->n_missing; }
const char *mf_missing(const mf_t *m, size_t i) { return i < m->n_missing ? m->missing[i] : NULL; }

/* ---- schema helpers ---- */

int mf_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 99;
    int d[65][65];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
                c = d[i - 2][j - 2] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

/* Length of the parent part of a schema path ("a.b[].c" -> 5 for "a.b[]"; "a" -> 0). */
static size_t parent_len(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}
static const char *leaf(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}
static int is_child(const char *path, const char *parent) {
    size_t pl = parent_len(path);
    return pl == strlen(parent) && !strncmp(path, parent, pl);
}

static const mf_key_t *find_key(const mf_schema_t *s, const char *path) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->keys[i].path, path)) return &s->keys[i];
    return NULL;
}

static const char *type_expect(const mf_key_t *k, char *buf, size_t n) {
    switch (k->type) {
    case MF_SECTION: return "a mapping";
    case MF_LIST: return "a list of mappings";
    case MF_STR: return "a string";
    case MF_INT: return k->range ? (snprintf(buf, n, "an integer in %s", k->range), buf) : "an integer";
    case MF_FLOAT: return k->range ? (snprintf(buf, n, "a number in %s", k->range), buf) : "a number";
    case MF_BOOL: return "true or false";
    case MF_ENUM: {
        size_t o = (size_t)snprintf(buf, n, "one of ");
        for (const char *p = k->allowed; *p && o + 3 < n; p++) {
            if (*p == '|') o += (size_t)snprintf(buf + o, n - o, ", ");
            else buf[o++] = *p, buf[o] = 0;
        }
        return buf;
    }
    case MF_PATH: return "a path";
    case MF_DIR: return "a folder";
    case MF_STR_LIST: return "a list of strings";
    case MF_PATH_LIST: return "a list of paths";
    }
    return "?";
}

static int is_null_scalar(const yaml_node_t *nd) {
    if (nd->type != YAML_SCALAR_NODE || nd->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)nd->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcasecmp(s, "null");
}

/* What a node is, for "got ..." */
static const char *got(const yaml_node_t *nd, char *buf, size_t n) {
    if (!nd) return "nothing";
    if (nd->type == YAML_MAPPING_NODE) return "a mapping";
    if (nd->type == YAML_SEQUENCE_NODE) return "a list";
    if (is_null_scalar(nd)) return "null";
    const char *s = (const char *)nd->data.scalar.value;
    if (nd->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) snprintf(buf, n, "'%.200s'", s);
    else snprintf(buf, n, "the string \"%.200s\"", s);
    return buf;
}

static int in_allowed(const char *allowed, const char *v) {
    size_t lv = strlen(v);
    for (const char *p = allowed; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == lv && !strncmp(p, v, l)) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

/* "[0, 1)", "(0, inf)": 1 when v is inside (or no range is given). */
static int in_range(const char *range, double v) {
    if (!range) return 1;
    char lo_b, hi_b, lo_s[32], hi_s[32];
    if (sscanf(range, " %c %31[^,] , %31[^])] %c", &lo_b, lo_s, hi_s, &hi_b) != 4) return 1;
    double lo = !strcmp(lo_s, "-inf") ? -INFINITY : strtod(lo_s, NULL);
    double hi = !strcmp(hi_s, "inf") ? INFINITY : strtod(hi_s, NULL);
    if (lo_b == '[' ? v < lo : v <= lo) return 0;
    if (hi_b == ']' ? v > hi : v >= hi) return 0;
    return 1;
}

typedef struct vctx {
    mf_t *m;
    const mf_schema_t *s;
    unsigned opts;
} vctx_t;

/* A scalar's text (and whether it was quoted) into a JSON value of the key's type;
 * NULL (with an error recorded at nd) when it does not fit. nd NULL: a schema default. */
static json_t *conv_scalar(vctx_t *v, const mf_key_t *k, const char *key, const yaml_node_t *nd, const char *text,
                           int quoted) {
    char eb[256], gb[256];
    const char *expect = type_expect(k, eb, sizeof eb);
    mf_t *m = v->m;
#define BAD() (err_node(m, nd, key, "expected %s, got %s", expect, got(nd, gb, sizeof gb)), (json_t *)NULL)
    char *end;
    switch (k->type) {
    case MF_INT: {
        if (quoted || !*text) return BAD();
        long long x = strtoll(text, &end, 0);
        if (*end) return BAD();
        if (!in_range(k->range, (double)x)) return BAD();
        return json_integer(x);
    }
    case MF_FLOAT: {
        if (quoted || !*text) return BAD();
        double x = strtod(text, &end);
        if (*end || !isfinite(x)) return BAD();
        if (!in_range(k->range, x)) return BAD();
        return json_real(x);
    }
    case MF_BOOL:
        if (quoted) return BAD();
        if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcasecmp(text, "on")) return json_true();
        if (!strcasecmp(text, "false") || !strcasecmp(text, "no") || !strcasecmp(text, "off")) return json_false();
        return BAD();
    case MF_ENUM:
        if (!in_allowed(k->allowed, text)) return BAD();
        return json_string(text);
    case MF_STR: return json_string(text);
    case MF_PATH:
    case MF_DIR: {
        if (!*text) return BAD();
        char abs[8192];
        if (text[0] == '/' || (k->flags & MF_OUTPUT)) snprintf(abs, sizeof abs, "%s", text);
        else snprintf(abs, sizeof abs, "%s/%s", m->dir, text);
        if (!(k->flags & MF_OUTPUT)) {
            struct stat sb;
            int exists = stat(abs, &sb) == 0, ok = exists && (k->type == MF_PATH || S_ISDIR(sb.st_mode));
            if (!ok && exists)
                err_node(m, nd, key, "expected a folder, got the file '%s'", abs);
            else if (!ok && (!(k->flags & MF_RUNTIME) || (v->opts & MF_V_FILES)))
                err_node(m, nd, key, "expected an existing %s, got '%s' (not found)",
                         k->type == MF_DIR ? "folder" : "file or folder", abs);
            else if (!ok) {
                char *s;
                if (asprintf(&s, "%s: %s", key, abs) >= 0) push(&m->missing, &m->n_missing, s);
            }
            if (!ok && exists) return NULL;
            if (!ok && (!(k->flags & MF_RUNTIME) || (v->opts & MF_V_FILES))) return NULL;
        }
        return json_string(abs);
    }
    default: return BAD();
    }
#undef BAD
}

static void validate_map(vctx_t *v, const yaml_node_t *map, const char *sprefix, const char *kprefix, json_t *out);

static void suggest_unknown(vctx_t *v, const yaml_node_t *knode, const char *sprefix, const char *kpath,
                            const char *name) {
    const mf_key_t *best = NULL;
    int bd = INT_MAX;
    for (size_t i = 0; i < v->s->n; i++) {
        const mf_key_t *k = &v->s->keys[i];
        if (!is_child(k->path, sprefix)) continue;
        int d = mf_edit_distance(name, leaf(k->path));
        if (d < bd) bd = d, best = k;
    }
    int close = best && bd <= (strlen(name) > 6 ? 3 : 2);
    const mf_key_t *elsewhere = NULL;
    for (size_t i = 0; !close && i < v->s->n; i++)
        if (!strcmp(leaf(v->s->keys[i].path), name)) elsewhere = &v->s->keys[i];
    if (close) err_node(v->m, knode, kpath, "unknown key; did you mean '%s'?", best->path);
    else if (elsewhere) err_node(v->m, knode, kpath, "unknown key here; did you mean '%s'?", elsewhere->path);
    else if (best) err_node(v->m, knode, kpath, "unknown key (known here: %s, ...)", best->path);
    else err_node(v->m, knode, kpath, "unknown key");
}

static json_t *conv_list(vctx_t *v, const mf_key_t *k, const char *kpath, const yaml_node_t *nd) {
    char eb[128], gb[256];
    if (nd->type != YAML_SEQUENCE_NODE) {
        err_node(v->m, nd, kpath, "expected %s, got %s", type_expect(k, eb, sizeof eb), got(nd, gb, sizeof gb));
        return NULL;
    }
    json_t *arr = json_array();
    int bad = 0;
    size_t i = 0;
    for (yaml_node_item_t *it = nd->data.sequence.items.start; it < nd->data.sequence.items.top; it++, i++) {
        yaml_node_t *item = yaml_document_get_node(&v->m->doc, *it);
        char ip[1024];
        snprintf(ip, sizeof ip, "%.900s[%zu]", kpath, i);
        loc_set(v->m, ip, item);
        if (k->type == MF_LIST) {
            if (item->type != YAML_MAPPING_NODE) {
                err_node(v->m, item, ip, "expected a mapping, got %s", got(item, gb, sizeof gb));
                bad = 1;
                continue;
            }
            char sp[512];
            snprintf(sp, sizeof sp, "%.500s[]", k->path);
            json_t *obj = json_object();
            validate_map(v, item, sp, ip, obj);
            json_array_append_new(arr, obj);
            continue;
        }
        if (item->type != YAML_SCALAR_NODE || is_null_scalar(item)) {
            err_node(v->m, item, ip, "expected %s, got %s", k->type == MF_PATH_LIST ? "a path" : "a string",
                     got(item, gb, sizeof gb));
            bad = 1;
            continue;
        }
        const char *text = (const char *)item->data.scalar.value;
        json_t *j;
        if (k->type == MF_PATH_LIST) {
            mf_key_t pk = *k;
            pk.type = MF_PATH;
            j = conv_scalar(v, &pk, ip, item, text, item->data.scalar.style != YAML_PLAIN_SCALAR_STYLE);
        } else if (k->allowed && !in_allowed(k->allowed, text)) {
            mf_key_t ek = *k;
            ek.type = MF_ENUM;
            err_node(v->m, item, ip, "expected %s, got '%s'", type_expect(&ek, eb, sizeof eb), text);
            j = NULL;
        } else {
            j = json_string(text);
        }
        if (j) json_array_append_new(arr, j);
        else bad = 1;
    }
    if (bad) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* The default of a key (text parsed like the YAML would be). */
static json_t *conv_default(vctx_t *v, const mf_key_t *k, const char *kpath) {
    if (k->type == MF_STR_LIST || k->type == MF_PATH_LIST || k->type == MF_LIST) return json_array(); /* "[]" */
    mf_key_t dk = *k;
    dk.flags |= MF_RUNTIME; /* a default path that is absent is not the user's mistake: note it */
    return conv_scalar(v, &dk, kpath, NULL, k->def, 0);
}

static void fill_defaults(vctx_t *v, const yaml_node_t *map, const char *sprefix, const char *kprefix, json_t *out) {
    for (size_t i = 0; i < v->s->n; i++) {
        const mf_key_t *k = &v->s->keys[i];
        if (!is_child(k->path, sprefix)) continue;
        const char *name = leaf(k->path);
        if (json_object_get(out, name)) continue;
        char kp[1024];
        if (*kprefix) snprintf(kp, sizeof kp, "%.700s.%.300s", kprefix, name);
        else snprintf(kp, sizeof kp, "%s", name);
        if (k->flags & MF_REQUIRED) {
            if (map) err_node(v->m, map, kp, "missing (required)");
            else mf_add_error(v->m, kp, "missing (required)");
            continue;
        }
        if (k->type == MF_SECTION) {
            if (k->flags & MF_OPTIONAL) continue;
            json_t *obj = json_object();
            validate_map(v, NULL, k->path, kp, obj);
            json_object_set_new(out, name, obj);
            continue;
        }
        if (!k->def) continue;
        json_t *j = conv_default(v, k, kp);
        if (j) json_object_set_new(out, name, j);
    }
}

static void validate_map(vctx_t *v, const yaml_node_t *map, const char *sprefix, const char *kprefix, json_t *out) {
    char gb[256], eb[256];
    if (map) {
        for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
            yaml_node_t *kn = yaml_document_get_node(&v->m->doc, pr->key);
            yaml_node_t *vn = yaml_document_get_node(&v->m->doc, pr->value);
            if (kn->type != YAML_SCALAR_NODE) {
                err_node(v->m, kn, *kprefix ? kprefix : "(top)", "expected a key name, got %s", got(kn, gb, sizeof gb));
                continue;
            }
            const char *name = (const char *)kn->data.scalar.value;
            char sp[512], kp[1024];
            if (*sprefix) snprintf(sp, sizeof sp, "%.300s.%.200s", sprefix, name);
            else snprintf(sp, sizeof sp, "%s", name);
            if (*kprefix) snprintf(kp, sizeof kp, "%.700s.%.300s", kprefix, name);
            else snprintf(kp, sizeof kp, "%s", name);
            if (json_object_get(out, name) || json_object_get(v->m->locs, kp)) {
                char where[64];
                size_t l, c;
                where_lc(v->m, kp, &l, &c);
                snprintf(where, sizeof where, "%zu:%zu", l, c);
                err_node(v->m, kn, kp, "duplicate key (first at %s)", where);
                continue;
            }
            const mf_key_t *k = find_key(v->s, sp);
            if (!k) {
                suggest_unknown(v, kn, sprefix, kp, name);
                continue;
            }
            loc_set(v->m, kp, vn);
            if (is_null_scalar(vn) && k->type != MF_SECTION) {
                if (k->flags & MF_REQUIRED) err_node(v->m, vn, kp, "expected %s, got null", type_expect(k, eb, sizeof eb));
                continue; /* as if absent: the default applies */
            }
            json_t *j = NULL;
            if (k->type == MF_SECTION) {
                if (is_null_scalar(vn)) j = json_object(), validate_map(v, NULL, sp, kp, j); /* "synth:" alone */
                else if (vn->type != YAML_MAPPING_NODE)
                    err_node(v->m, vn, kp, "expected a mapping, got %s", got(vn, gb, sizeof gb));
                else j = json_object(), validate_map(v, vn, sp, kp, j);
            } else if (k->type == MF_LIST || k->type == MF_STR_LIST || k->type == MF_PATH_LIST) {
                j = conv_list(v, k, kp, vn);
            } else if (vn->type != YAML_SCALAR_NODE) {
                err_node(v->m, vn, kp, "expected %s, got %s", type_expect(k, eb, sizeof eb), got(vn, gb, sizeof gb));
            } else {
                j = conv_scalar(v, k, kp, vn, (const char *)vn->data.scalar.value,
                                vn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE);
            }
            if (j) json_object_set_new(out, name, j);
            else json_object_set_new(out, name, json_null()); /* counted as present: no default, no second error */
        }
    }
    fill_defaults(v, map, sprefix, kprefix, out);
}

/* Drops the null placeholders of keys that failed, so getters see them as absent. */
static void drop_nulls(json_t *o) {
    if (json_is_object(o)) {
        const char *k;
        json_t *x;
        void *tmp;
        json_object_foreach_safe(o, tmp, k, x) {
            if (json_is_null(x)) json_object_del(o, k);
            else drop_nulls(x);
        }
    } else if (json_is_array(o)) {
        size_t i;
        json_t *x;
        json_array_foreach(o, i, x) drop_nulls(x);
    }
}

r1d_status mf_validate(mf_t *m, const mf_schema_t *s, unsigned opts, err_t *e) {
    json_decref(m->root);
    json_decref(m->locs);
    for (size_t i = 0; i < m->n_err; i++) free(m->errors[i]);
    for (size_t i = 0; i < m->n_missing; i++) free(m->missing[i]);
    m->n_err = m->n_missing = 0;
    m->root = json_object();
    m->locs = json_object();
    if (!m->root || !m->locs) return ERR(e, R1D_ENOMEM, "%s: out of memory", m->path);
    vctx_t v = {m, s, opts};
    validate_map(&v, yaml_document_get_root_node(&m->doc), "", "", m->root);
    drop_nulls(m->root);
    if (m->n_err) {
        if (m->n_err == 1) return ERR(e, R1D_EINVAL, "%s", m->errors[0]);
        return ERR(e, R1D_EINVAL, "%s (and %zu more)", m->errors[0], m->n_err - 1);
    }
    return R1D_OK;
}

/* ---- resolved values ---- */

const json_t *mf_root(const mf_t *m) { return m->root; }

const json_t *mf_get(const mf_t *m, const char *key) {
    const json_t *cur = m->root;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", key);
    for (char *p = buf; cur && p && *p;) {
        char *dot = strchr(p, '.');
        if (dot) *dot = 0;
        char *br = strchr(p, '[');
        if (br) *br = 0;
        cur = json_object_get(cur, p);
        while (cur && br) {
            size_t idx = strtoul(br + 1, NULL, 10);
            cur = json_array_get(cur, idx);
            br = strchr(br + 1, '[');
        }
        p = dot ? dot + 1 : NULL;
    }
    return cur;
}

int mf_has(const mf_t *m, const char *key) { return mf_get(m, key) != NULL; }

const char *mf_str(const mf_t *m, const char *key, const char *def) {
    const json_t *j = mf_get(m, key);
    return json_is_string(j) ? json_string_value(j) : def;
}

int64_t mf_i64(const mf_t *m, const char *key, int64_t def) {
    const json_t *j = mf_get(m, key);
    return json_is_integer(j) ? (int64_t)json_integer_value(j) : def;
}

double mf_f64(const mf_t *m, const char *key, double def) {
    const json_t *j = mf_get(m, key);
    return json_is_number(j) ? json_number_value(j) : def;
}

int mf_bool(const mf_t *m, const char *key, int def) {
    const json_t *j = mf_get(m, key);
    return json_is_boolean(j) ? json_is_true(j) : def;
}

size_t mf_len(const mf_t *m, const char *key) {
    const json_t *j = mf_get(m, key);
    return json_is_array(j) ? json_array_size(j) : 0;
}

char *mf_canonical(const mf_t *m, const char *key) {
    const json_t *j = mf_get(m, key);
    if (!j) return strdup("null");
    return json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

uint64_t mf_hash(const mf_t *m, const char *key) {
    char *s = mf_canonical(m, key);
    uint64_t h = s ? XXH3_64bits(s, strlen(s)) : 0;
    free(s);
    return h;
}

const char *mf_path(const mf_t *m) { return m->path; }
const char *mf_dir(const mf_t *m) { return m->dir; }

/* ---- reference ---- */

static const char *type_doc(const mf_key_t *k) {
    switch (k->type) {
    case MF_SECTION: return "section";
    case MF_LIST: return "list of mappings";
    case MF_STR: return "string";
    case MF_INT: return "integer";
    case MF_FLOAT: return "number";
    case MF_BOOL: return "boolean";
    case MF_ENUM: return "string";
    case MF_PATH: return "path";
    case MF_DIR: return "folder";
    case MF_STR_LIST: return "list of strings";
    case MF_PATH_LIST: return "list of paths";
    }
    return "?";
}

static void md_values(const mf_key_t *k, FILE *fp) {
    if (k->allowed) {
        for (const char *p = k->allowed; *p; p++) {
            if (p == k->allowed) fputc('`', fp);
            if (*p == '|') fputs("`, `", fp);
            else fputc(*p, fp);
        }
        fputc('`', fp);
    } else if (k->range) {
        fprintf(fp, "%s", k->range);
    }
}

void mf_schema_md(const mf_schema_t *s, FILE *fp) {
    for (size_t i = 0; i < s->n; i++) {
        const mf_key_t *k = &s->keys[i];
        if (strchr(k->path, '.')) continue;
        fprintf(fp, "\n## `%s`\n\n%s%s\n\n", k->path, k->doc,
                k->flags & MF_REQUIRED ? " Required." : k->flags & MF_OPTIONAL && k->type == MF_SECTION
                                                            ? " Optional: the stages it drives run only when it is present."
                                                            : "");
        fputs("| key | type | default | values | meaning |\n|---|---|---|---|---|\n", fp);
        size_t pl = strlen(k->path);
        for (size_t j = 0; j < s->n; j++) {
            const mf_key_t *c = &s->keys[j];
            int self = j == i && k->type != MF_SECTION && k->type != MF_LIST;
            int under = !strncmp(c->path, k->path, pl) && (c->path[pl] == '.' || c->path[pl] == '[');
            if (!self && !under) continue;
            fprintf(fp, "| `%s` | %s | ", c->path, type_doc(c));
            if (c->def && (c->type == MF_STR_LIST || c->type == MF_PATH_LIST || c->type == MF_LIST)) fputs("`[]`", fp);
            else if (c->def) fprintf(fp, "`%s`", c->def);
            else if (c->flags & MF_REQUIRED) fputs("required", fp);
            else fputs("—", fp);
            fputs(" | ", fp);
            md_values(c, fp);
            fprintf(fp, " | %s%s%s |\n", c->doc,
                    c->type == MF_SECTION && c->flags & MF_OPTIONAL ? " Optional section." : "",
                    c->flags & MF_RUNTIME ? " Must exist when the run starts; `--check` only lists it when missing." : "");
        }
    }
}
