/* The demo's task: multi-step integer arithmetic word problems ("Mia has 12
 * shells. Mia finds 7 more shells. Then Mia gives 5 to Sam. How many now?")
 * with R1-style worked solutions, one operation per line inside <think>.
 * Problems are drawn from Philox streams (one per file), so the output is a pure
 * function of the config; a problem text never appears twice across the eval, sft
 * and prompt files except for the deliberately contaminated prompts. */
#include "dataset/synth.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/file.h"
#include "core/json.h"
#include "core/rng.h"
#include "dataset/synth_impl.h"
#include "eval/set.h"

/* Values stay in [0, SYN_MAX_VALUE] and operands in [1, SYN_MAX_OPERAND]: the demo's
 * 1M-parameter teacher learns this arithmetic within a few CPU minutes (docs/synth.md;
 * with digit-by-digit tokens, values up to 50 reached 8% pass@1 against 43% for 20). */
#define SYN_MAX_VALUE 20
#define SYN_MAX_OPERAND 9
#define SYN_MAX_OPS 12

enum { STREAM_EVAL = 1, STREAM_SFT, STREAM_PROMPTS, STREAM_CONTAM };

/* Every sentence names the person (no pronouns) and the question is three words, so
 * that an 8-word window of a problem nearly always holds a name and a number or two:
 * two different problems rarely share one, and decontamination's 8-gram check flags
 * the deliberately copied prompts, not template text. */
static const char *const PEOPLE[] = {
    "Mia", "Tom", "Ava", "Leo", "Zoe", "Sam", "Lily", "Ben", "Emma", "Max", "Nora", "Omar",
    "Ruby", "Ivan", "Chloe", "Noah", "Grace", "Eli", "Hana", "Jack", "Sofia", "Luca", "Maya", "Ravi",
};
#define N_PEOPLE (sizeof PEOPLE / sizeof PEOPLE[0])

static const char *const OBJECTS[] = {
    "apples", "marbles", "stickers", "coins",  "books",   "pencils", "cookies", "cards",
    "shells", "stamps",  "beads",    "flowers", "candies", "balloons", "toy cars", "eggs",
    "crayons", "buttons", "rocks",   "blocks",
};
#define N_OBJECTS (sizeof OBJECTS / sizeof OBJECTS[0])

/* A problem being drawn (at most SYN_MAX_OPS sentences of < 64 bytes). */
typedef struct syn_draft {
    char text[1024];  /* the problem statement */
    char think[1536]; /* the first sentence, then per operation its sentence and "a op b = c", one line each */
    int64_t answer;
} syn_draft_t;

typedef struct syn_problem {
    char *text, *think; /* malloc'd copies of the draft's */
    int64_t answer;
} syn_problem_t;

static void sb_printf(char *dst, size_t cap, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void sb_printf(char *dst, size_t cap, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(dst + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k > 0) *len += (size_t)k < cap - *len ? (size_t)k : cap - *len - 1;
}

static int64_t draw(rng_stream_t *r, int64_t lo, int64_t hi) { return lo + (int64_t)rng_next_below(r, (uint64_t)(hi - lo + 1)); }

/* One problem with nops operations. Every sentence gives its number explicitly, so
 * the solution is the chain of operations in the order they are told. */
static void problem_draw(rng_stream_t *r, int nops, syn_draft_t *p) {
    size_t iw = rng_next_below(r, N_PEOPLE), ip = rng_next_below(r, N_PEOPLE - 1);
    const char *who = PEOPLE[iw], *pal = PEOPLE[ip >= iw ? ip + 1 : ip];
    const char *obj = OBJECTS[rng_next_below(r, N_OBJECTS)];
    size_t tn = 0, kn = 0;
    int64_t cur = draw(r, 2, SYN_MAX_VALUE);
    static const char *const START[] = {"has", "starts with", "collects"};
    sb_printf(p->text, sizeof p->text, &tn, "%s %s %" PRId64 " %s.", who, START[rng_next_below(r, 3)], cur, obj);
    sb_printf(p->think, sizeof p->think, &kn, "%s\n", p->text);
    for (int i = 0; i < nops; i++) {
        /* add, subtract, or (rarely, and only while the product stays small) double */
        int kind;
        uint64_t u = rng_next_below(r, 10);
        if (u == 0 && cur >= 2 && cur * 2 <= SYN_MAX_VALUE) kind = 2;
        else if (u < 5 && cur >= 2) kind = 1;
        else kind = 0;
        if (kind == 0 && cur + 1 > SYN_MAX_VALUE) kind = 1;
        const char *then = i > 0 && rng_next_below(r, 2) ? " Then" : "";
        size_t sent = tn + 1; /* the sentence starts after its space */
        int64_t b, next;
        char op;
        if (kind == 0) {
            int64_t hi = SYN_MAX_VALUE - cur < SYN_MAX_OPERAND ? SYN_MAX_VALUE - cur : SYN_MAX_OPERAND;
            b = draw(r, 1, hi);
            next = cur + b;
            op = '+';
            switch (rng_next_below(r, 4)) {
            case 0: sb_printf(p->text, sizeof p->text, &tn, "%s %s buys %" PRId64 " more.", then, who, b); break;
            case 1: sb_printf(p->text, sizeof p->text, &tn, "%s %s finds %" PRId64 " more %s.", then, who, b, obj); break;
            case 2: sb_printf(p->text, sizeof p->text, &tn, "%s %s gives %s %" PRId64 " more.", then, pal, who, b); break;
            default: sb_printf(p->text, sizeof p->text, &tn, "%s %s gets %" PRId64 " more %s.", then, who, b, obj); break;
            }
        } else if (kind == 1) {
            b = draw(r, 1, cur < SYN_MAX_OPERAND ? cur : SYN_MAX_OPERAND);
            next = cur - b;
            op = '-';
            switch (rng_next_below(r, 4)) {
            case 0: sb_printf(p->text, sizeof p->text, &tn, "%s %s gives away %" PRId64 ".", then, who, b); break;
            case 1: sb_printf(p->text, sizeof p->text, &tn, "%s %s loses %" PRId64 " %s.", then, who, b, obj); break;
            case 2: sb_printf(p->text, sizeof p->text, &tn, "%s %s gives %" PRId64 " to %s.", then, who, b, pal); break;
            default: sb_printf(p->text, sizeof p->text, &tn, "%s %s sells %" PRId64 " %s.", then, who, b, obj); break;
            }
        } else {
            b = 2;
            next = cur * 2;
            op = '*';
            sb_printf(p->text, sizeof p->text, &tn, "%s %s doubles the %s.", then, who, obj);
        }
        sb_printf(p->think, sizeof p->think, &kn, "%s %" PRId64 " %c %" PRId64 " = %" PRId64 "\n", p->text + sent, cur, op,
                  b, next);
        cur = next;
    }
    sb_printf(p->text, sizeof p->text, &tn, " How many now?");
    p->answer = cur;
}

/* ---- distinct problems ---- */

typedef struct hset {
    uint64_t *slot; /* 0 = empty */
    size_t cap, n;
} hset_t;

static uint64_t text_key(const char *s) {
    uint64_t h = XXH3_64bits(s, strlen(s));
    return h ? h : 1;
}

static int hset_has(const hset_t *h, uint64_t k) {
    for (size_t i = k & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
        if (h->slot[i] == k) return 1;
        if (!h->slot[i]) return 0;
    }
}

static void hset_put(hset_t *h, uint64_t k) {
    size_t i = k & (h->cap - 1);
    while (h->slot[i] && h->slot[i] != k) i = (i + 1) & (h->cap - 1);
    if (!h->slot[i]) h->slot[i] = k, h->n++;
}

/* Draws n problems never seen in *seen (and adds them). Gives up, with an error,
 * when the settings cannot yield that many distinct problems. */
static r1d_status problems_draw(const ds_synth_cfg_t *c, uint64_t stream, int64_t n, hset_t *seen,
                                syn_problem_t *out, const char *what, err_t *e) {
    rng_stream_t r;
    rng_stream_init(&r, c->seed, stream);
    int64_t got = 0, tries = 0, max_tries = 50 * n + 1000;
    syn_draft_t d;
    while (got < n) {
        if (++tries > max_tries)
            return ERR(e, R1D_EINVAL, "synth: could only draw %" PRId64 " distinct %s problems of %" PRId64
                       " with %d..%d operations; ask for fewer or allow more operations", got, what, n, c->min_ops, c->max_ops);
        int nops = (int)draw(&r, c->min_ops, c->max_ops);
        memset(&d, 0, sizeof d);
        problem_draw(&r, nops, &d);
        uint64_t k = text_key(d.text);
        if (hset_has(seen, k)) continue;
        hset_put(seen, k);
        out[got].text = strdup(d.text);
        out[got].think = strdup(d.think);
        out[got].answer = d.answer;
        if (!out[got].text || !out[got].think) return ERR(e, R1D_ENOMEM, "synth: out of memory");
        got++;
    }
    return R1D_OK;
}

/* ---- files ---- */

/* The prompt every consumer sees: the eval harness's default directive around the problem. */
static char *prompt_of(const char *problem) {
    const char *tpl = EV_PROMPT_R1, *at = strstr(tpl, "{problem}");
    size_t n = strlen(tpl) - strlen("{problem}") + strlen(problem);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    size_t pre = (size_t)(at - tpl);
    memcpy(s, tpl, pre);
    memcpy(s + pre, problem, strlen(problem));
    strcpy(s + pre + strlen(problem), at + strlen("{problem}"));
    return s;
}

static char *solution_of(const syn_problem_t *p) {
    size_t n = strlen(p->think) + 128;
    char *s = malloc(n);
    if (s) snprintf(s, n, SYN_THINK "\n%s" SYN_THINK_END "\n\nThe answer is \\boxed{%" PRId64 "}.", p->think, p->answer);
    return s;
}

typedef struct jl {
    char *buf;
    size_t n;
    FILE *fp;
} jl_t;

static r1d_status jl_open(jl_t *w, err_t *e) {
    memset(w, 0, sizeof *w);
    w->fp = open_memstream(&w->buf, &w->n);
    return w->fp ? R1D_OK : ERR(e, R1D_ENOMEM, "synth: out of memory");
}

/* Writes the object (stolen) as one line. */
static r1d_status jl_put(jl_t *w, json_t *o, err_t *e) {
    if (!o) return ERR(e, R1D_ENOMEM, "synth: out of memory");
    r1d_status st = jsonl_write(w->fp, o, e);
    json_decref(o);
    return st;
}

static r1d_status jl_commit(jl_t *w, const char *dir, const char *name, err_t *e) {
    char path[4096];
    fclose(w->fp);
    w->fp = NULL;
    r1d_status st = file_join(path, sizeof path, dir, name, e);
    if (st == R1D_OK) st = file_write_atomic(path, w->buf, w->n, e);
    free(w->buf);
    w->buf = NULL;
    return st;
}

static void jl_abort(jl_t *w) {
    if (w->fp) fclose(w->fp);
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static json_t *answer_json(int64_t a) {
    char s[32];
    snprintf(s, sizeof s, "%" PRId64, a);
    return json_string(s);
}

static r1d_status write_eval(const syn_problem_t *ev, int64_t n, const char *dir, err_t *e) {
    jl_t w;
    TRY(jl_open(&w, e));
    r1d_status st = R1D_OK;
    for (int64_t i = 0; i < n && st == R1D_OK; i++) {
        char id[64];
        snprintf(id, sizeof id, "synth/eval/%05" PRId64, i);
        st = jl_put(&w, json_pack("{s:s, s:s, s:o}", "unique_id", id, "problem", ev[i].text, "answer", answer_json(ev[i].answer)), e);
    }
    if (st == R1D_OK) return jl_commit(&w, dir, "eval.jsonl", e);
    jl_abort(&w);
    return st;
}

static r1d_status write_sft(const syn_problem_t *sft, int64_t n, const char *dir, char **texts, err_t *e) {
    jl_t w;
    TRY(jl_open(&w, e));
    r1d_status st = R1D_OK;
    for (int64_t i = 0; i < n && st == R1D_OK; i++) {
        char *u = prompt_of(sft[i].text), *a = solution_of(&sft[i]);
        if (!u || !a) st = ERR(e, R1D_ENOMEM, "synth: out of memory");
        else
            st = jl_put(&w, json_pack("{s:[{s:s, s:s}, {s:s, s:s}]}", "messages", "role", "user", "content", u, "role",
                                      "assistant", "content", a), e);
        /* the tokenizer learns its merges from the whole conversation */
        size_t tn = u && a ? strlen(u) + strlen(a) + 2 : 0;
        texts[i] = tn ? malloc(tn) : NULL;
        if (texts[i]) snprintf(texts[i], tn, "%s\n%s", u, a);
        else if (st == R1D_OK) st = ERR(e, R1D_ENOMEM, "synth: out of memory");
        free(u);
        free(a);
    }
    if (st == R1D_OK) return jl_commit(&w, dir, "sft.jsonl", e);
    jl_abort(&w);
    return st;
}

/* Contaminated prompts sit at positions spread evenly over the file (prompt i is a
 * copy when floor((i+1)*f) > floor(i*f)), each the copy of an eval problem chosen
 * without repetition while eval problems last. */
static r1d_status write_prompts(const ds_synth_cfg_t *c, const syn_problem_t *pr, const syn_problem_t *ev,
                                const char *dir, err_t *e) {
    jl_t w;
    TRY(jl_open(&w, e));
    rng_stream_t r;
    rng_stream_init(&r, c->seed, STREAM_CONTAM);
    int64_t *perm = malloc(sizeof *perm * (size_t)c->n_eval);
    if (!perm) {
        jl_abort(&w);
        return ERR(e, R1D_ENOMEM, "synth: out of memory");
    }
    for (int64_t i = 0; i < c->n_eval; i++) perm[i] = i;
    for (int64_t i = c->n_eval - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_next_below(&r, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    r1d_status st = R1D_OK;
    int64_t used_clean = 0, used_contam = 0;
    for (int64_t i = 0; i < c->n_prompts && st == R1D_OK; i++) {
        int contam = (int64_t)((double)(i + 1) * c->contaminate) > (int64_t)((double)i * c->contaminate);
        const syn_problem_t *p = contam ? &ev[perm[used_contam++ % c->n_eval]] : &pr[used_clean++];
        char id[64], *u = prompt_of(p->text);
        snprintf(id, sizeof id, "synth-%06" PRId64, i);
        if (!u) st = ERR(e, R1D_ENOMEM, "synth: out of memory");
        else
            st = jl_put(&w, json_pack("{s:s, s:s, s:o, s:s, s:s}", "id", id, "prompt", u, "answer", answer_json(p->answer),
                                      "source", "synth-arith", "domain", "math"), e);
        free(u);
    }
    free(perm);
    if (st == R1D_OK) return jl_commit(&w, dir, "prompts.jsonl", e);
    jl_abort(&w);
    return st;
}

/* Contaminated prompts among n_prompts at fraction f (the rule of write_prompts). */
static int64_t contam_count(int64_t n, double f) { return (int64_t)((double)n * f); }

static r1d_status cfg_check(const ds_synth_cfg_t *c, err_t *e) {
    if (c->min_ops < 1 || c->max_ops > SYN_MAX_OPS || c->min_ops > c->max_ops)
        return ERR(e, R1D_EINVAL, "operations per problem: expected 1 <= min_ops <= max_ops <= %d, got %d..%d",
                   SYN_MAX_OPS, c->min_ops, c->max_ops);
    if (c->n_eval < 1) return ERR(e, R1D_EINVAL, "n_eval: expected at least 1 eval problem, got %" PRId64, c->n_eval);
    if (c->n_sft < 1) return ERR(e, R1D_EINVAL, "n_sft: expected at least 1 worked solution, got %" PRId64, c->n_sft);
    if (c->n_prompts < 0) return ERR(e, R1D_EINVAL, "n_prompts: expected >= 0, got %" PRId64, c->n_prompts);
    if (!(c->contaminate >= 0 && c->contaminate <= 1))
        return ERR(e, R1D_EINVAL, "contaminate: expected a fraction in [0, 1], got %g", c->contaminate);
    if (c->n_eval + c->n_sft + c->n_prompts > (int64_t)1 << 24)
        return ERR(e, R1D_EINVAL, "%" PRId64 " problems in all: at most %d are supported",
                   c->n_eval + c->n_sft + c->n_prompts, 1 << 24);
    return R1D_OK;
}

r1d_status ds_synth_write(const ds_synth_cfg_t *c, const char *dir, err_t *e) {
    TRY(cfg_check(c, e));
    int64_t n_clean = c->n_prompts - contam_count(c->n_prompts, c->contaminate);
    int64_t total = c->n_eval + c->n_sft + n_clean;
    hset_t seen = {0};
    for (seen.cap = 1024; seen.cap < (size_t)total * 2; seen.cap *= 2) {}
    seen.slot = calloc(seen.cap, sizeof *seen.slot);
    syn_problem_t *all = calloc((size_t)total, sizeof *all);
    char **texts = calloc((size_t)c->n_sft, sizeof *texts);
    r1d_status st = R1D_OK;
    if (!seen.slot || !all || !texts) st = ERR(e, R1D_ENOMEM, "synth: out of memory for %" PRId64 " problems", total);
    syn_problem_t *ev = all, *sft = all + c->n_eval, *pr = sft + c->n_sft;
    /* eval first, so the held-out set does not depend on how many sft or prompt problems are asked for */
    if (st == R1D_OK) st = problems_draw(c, STREAM_EVAL, c->n_eval, &seen, ev, "eval", e);
    if (st == R1D_OK) st = problems_draw(c, STREAM_SFT, c->n_sft, &seen, sft, "sft", e);
    if (st == R1D_OK) st = problems_draw(c, STREAM_PROMPTS, n_clean, &seen, pr, "prompt", e);
    if (st == R1D_OK) st = file_mkdirs(dir, e);
    if (st == R1D_OK) st = write_eval(ev, c->n_eval, dir, e);
    if (st == R1D_OK) st = write_sft(sft, c->n_sft, dir, texts, e);
    if (st == R1D_OK) st = write_prompts(c, pr, ev, dir, e);
    char tdir[4096];
    if (st == R1D_OK) st = file_join(tdir, sizeof tdir, dir, "tokenizer", e);
    if (st == R1D_OK) st = file_mkdirs(tdir, e);
    if (st == R1D_OK) st = syn_tok_write(tdir, (const char *const *)texts, (size_t)c->n_sft, e);
    if (texts)
        for (int64_t i = 0; i < c->n_sft; i++) free(texts[i]);
    free(texts);
    for (int64_t i = 0; all && i < total; i++) free(all[i].text), free(all[i].think);
    free(all);
    free(seen.slot);
    return st;
}
