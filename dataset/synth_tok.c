/* The demo's tokenizer: byte-level BPE in Hugging Face's tokenizer.json form
 * (GPT-2's byte-to-unicode alphabet and pre-tokenizer split), with up to SYN_MERGES
 * merges learnt from the worked solutions, and the special tokens of DeepSeek-R1's
 * chat template. The task's numbers (0..20) are frequent enough to become single
 * tokens ("19", " 19"), so each step's arithmetic is a lookup of three tokens, which
 * the demo's small teacher learns far sooner than digit-by-digit sums. Training
 * pre-splits text the way the written pre-tokenizer does for ASCII text (GPT-2's
 * pattern), counts the pieces, and merges the most frequent adjacent pair (ties:
 * lowest ids) until SYN_MERGES new tokens exist or no pair occurs twice. Encoding
 * applies the merges by rank, as every BPE does, so the training split only decides
 * which merges are learnt, never the encoding. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/chat.h"
#include "core/file.h"
#include "dataset/synth_impl.h"

#define MAX_VOCAB (256 + SYN_MERGES)

static const char *const SPECIALS[] = {SYN_BOS, SYN_EOS, SYN_USER, SYN_ASSISTANT, SYN_THINK, SYN_THINK_END};
static const int SPECIAL_IS_SPECIAL[] = {1, 1, 1, 1, 0, 0}; /* <think> tags stay in decoded text, as in R1's tokenizer */
#define N_SPECIALS (sizeof SPECIALS / sizeof SPECIALS[0])

typedef struct piece {
    int32_t *sym;
    int n;
    int64_t count;
    const char *text; /* into the training text, for hashing before symbols exist */
    int len;
} piece_t;

typedef struct trainer {
    piece_t *p;
    size_t n, cap;
    size_t *slot; /* open addressing over p, index + 1 */
    size_t nslot;
    char *tok[MAX_VOCAB]; /* raw bytes of each token */
    int tok_len[MAX_VOCAB];
    int n_tok;
    int32_t (*merges)[2];
    int n_merges, cap_merges;
} trainer_t;

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static int piece_add(trainer_t *t, const char *s, int len) {
    if (len <= 0) return 0;
    if (t->n * 2 >= t->nslot) {
        size_t ns = t->nslot ? t->nslot * 2 : 4096;
        size_t *slot = calloc(ns, sizeof *slot);
        if (!slot) return -1;
        for (size_t i = 0; i < t->n; i++) {
            size_t h = XXH3_64bits(t->p[i].text, (size_t)t->p[i].len) & (ns - 1);
            while (slot[h]) h = (h + 1) & (ns - 1);
            slot[h] = i + 1;
        }
        free(t->slot);
        t->slot = slot;
        t->nslot = ns;
    }
    size_t h = XXH3_64bits(s, (size_t)len) & (t->nslot - 1);
    for (; t->slot[h]; h = (h + 1) & (t->nslot - 1)) {
        piece_t *q = &t->p[t->slot[h] - 1];
        if (q->len == len && !memcmp(q->text, s, (size_t)len)) {
            q->count++;
            return 0;
        }
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        piece_t *p = realloc(t->p, cap * sizeof *p);
        if (!p) return -1;
        t->p = p;
        t->cap = cap;
    }
    t->p[t->n] = (piece_t){.text = s, .len = len, .count = 1};
    t->slot[h] = ++t->n;
    return 0;
}

/* GPT-2's split (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`)
 * of a span, for ASCII text. */
static int split_gpt2(trainer_t *t, const char *s, int n) {
    static const char *const CONTR[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    int i = 0;
    while (i < n) {
        int j = i, done = 0;
        for (size_t k = 0; k < sizeof CONTR / sizeof CONTR[0] && !done; k++) {
            int cl = (int)strlen(CONTR[k]);
            if (n - i >= cl && !memcmp(s + i, CONTR[k], (size_t)cl)) j = i + cl, done = 1;
        }
        if (!done) {
            int k = s[i] == ' ' && i + 1 < n && !is_space((unsigned char)s[i + 1]) ? i + 1 : i;
            unsigned char c = (unsigned char)s[k];
            if (is_alpha(c)) {
                for (j = k; j < n && is_alpha((unsigned char)s[j]); j++) {}
            } else if (is_digit(c)) {
                for (j = k; j < n && is_digit((unsigned char)s[j]); j++) {}
            } else if (!is_space(c)) {
                for (j = k; j < n && !is_space((unsigned char)s[j]) && !is_alpha((unsigned char)s[j]) &&
                            !is_digit((unsigned char)s[j]);
                     j++) {}
            } else {
                for (j = i; j < n && is_space((unsigned char)s[j]); j++) {}
                if (j < n && j - i > 1) j--; /* \s+(?!\S) leaves the last space to the next word */
            }
        }
        if (piece_add(t, s + i, j - i)) return -1;
        i = j;
    }
    return 0;
}

/* Splits text at special tokens, then with GPT-2's pattern. */
static int split_text(trainer_t *t, const char *s) {
    size_t n = strlen(s), i = 0, start = 0;
    while (i <= n) {
        size_t sp = 0;
        for (size_t k = 0; k < N_SPECIALS && i < n; k++)
            if (!strncmp(s + i, SPECIALS[k], strlen(SPECIALS[k]))) sp = strlen(SPECIALS[k]);
        if (i == n || sp) {
            if (split_gpt2(t, s + start, (int)(i - start))) return -1;
            if (i == n) break;
            i += sp;
            start = i;
        } else {
            i++;
        }
    }
    return 0;
}

static int tok_find(const trainer_t *t, const char *s, int len) {
    for (int i = 0; i < t->n_tok; i++)
        if (t->tok_len[i] == len && !memcmp(t->tok[i], s, (size_t)len)) return i;
    return -1;
}

static int train(trainer_t *t) {
    for (int b = 0; b < 256; b++) {
        t->tok[b] = malloc(1);
        if (!t->tok[b]) return -1;
        t->tok[b][0] = (char)b;
        t->tok_len[b] = 1;
    }
    t->n_tok = 256;
    for (size_t i = 0; i < t->n; i++) {
        piece_t *p = &t->p[i];
        p->sym = malloc(sizeof *p->sym * (size_t)p->len);
        if (!p->sym) return -1;
        for (int k = 0; k < p->len; k++) p->sym[k] = (unsigned char)p->text[k];
        p->n = p->len;
    }
    int64_t *cnt = malloc(sizeof *cnt * MAX_VOCAB * MAX_VOCAB);
    if (!cnt) return -1;
    /* a merge may rebuild an existing token ("ab"+"c" after "a"+"bc"); bound the rounds anyway */
    for (int round = 0; t->n_tok < MAX_VOCAB && round < 4 * SYN_MERGES; round++) {
        memset(cnt, 0, sizeof *cnt * MAX_VOCAB * MAX_VOCAB);
        for (size_t i = 0; i < t->n; i++)
            for (int k = 0; k + 1 < t->p[i].n; k++) cnt[t->p[i].sym[k] * MAX_VOCAB + t->p[i].sym[k + 1]] += t->p[i].count;
        int64_t best = 1;
        int ba = -1, bb = -1;
        for (int a = 0; a < t->n_tok; a++)
            for (int b = 0; b < t->n_tok; b++)
                if (cnt[a * MAX_VOCAB + b] > best) best = cnt[a * MAX_VOCAB + b], ba = a, bb = b;
        if (ba < 0) break; /* no pair occurs twice */
        int len = t->tok_len[ba] + t->tok_len[bb];
        char *s = malloc((size_t)len);
        if (!s) {
            free(cnt);
            return -1;
        }
        memcpy(s, t->tok[ba], (size_t)t->tok_len[ba]);
        memcpy(s + t->tok_len[ba], t->tok[bb], (size_t)t->tok_len[bb]);
        int id = tok_find(t, s, len);
        if (id < 0) {
            id = t->n_tok++;
            t->tok[id] = s;
            t->tok_len[id] = len;
        } else {
            free(s);
        }
        if (t->n_merges == t->cap_merges) {
            int cap = t->cap_merges ? t->cap_merges * 2 : 256;
            int32_t(*m)[2] = realloc(t->merges, sizeof *m * (size_t)cap);
            if (!m) {
                free(cnt);
                return -1;
            }
            t->merges = m;
            t->cap_merges = cap;
        }
        t->merges[t->n_merges][0] = ba;
        t->merges[t->n_merges][1] = bb;
        t->n_merges++;
        for (size_t i = 0; i < t->n; i++) {
            piece_t *p = &t->p[i];
            int w = 0;
            for (int k = 0; k < p->n; k++) {
                if (k + 1 < p->n && p->sym[k] == ba && p->sym[k + 1] == bb) p->sym[w++] = id, k++;
                else p->sym[w++] = p->sym[k];
            }
            p->n = w;
        }
    }
    free(cnt);
    return 0;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the others
 * to U+0100 onwards in byte order. */
static uint32_t byte_cp(unsigned b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    uint32_t n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) n++;
    return 256 + n;
}

/* The token's vocabulary string (UTF-8 of the mapped code points, at most 2 bytes each), malloc'd. */
static char *tok_string(const trainer_t *t, int id) {
    char *out = malloc(2 * (size_t)t->tok_len[id] + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (int k = 0; k < t->tok_len[id]; k++) {
        uint32_t cp = byte_cp((unsigned char)t->tok[id][k]);
        if (cp < 0x80) out[o++] = (char)cp;
        else out[o++] = (char)(0xc0 | (cp >> 6)), out[o++] = (char)(0x80 | (cp & 0x3f));
    }
    out[o] = 0;
    return out;
}

static json_t *added_token(int id, size_t k) {
    return json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", SPECIALS[k], "single_word", 0, "lstrip", 0,
                     "rstrip", 0, "normalized", 0, "special", SPECIAL_IS_SPECIAL[k]);
}

static json_t *tokenizer_json(const trainer_t *t) {
    json_t *vocab = json_object(), *merges = json_array(), *added = json_array();
    int ok = vocab && merges && added;
    for (int i = 0; i < t->n_tok && ok; i++) {
        char *a = tok_string(t, i);
        ok = a && !json_object_set_new(vocab, a, json_integer(i));
        free(a);
    }
    for (int i = 0; i < t->n_merges && ok; i++) {
        char *a = tok_string(t, t->merges[i][0]), *b = tok_string(t, t->merges[i][1]);
        char *m = a && b ? malloc(strlen(a) + strlen(b) + 2) : NULL;
        if (m) sprintf(m, "%s %s", a, b);
        ok = m && !json_array_append_new(merges, json_string(m));
        free(a);
        free(b);
        free(m);
    }
    if (!ok) {
        json_decref(vocab);
        json_decref(merges);
        json_decref(added);
        return NULL;
    }
    for (size_t k = 0; k < N_SPECIALS; k++) json_array_append_new(added, added_token(t->n_tok + (int)k, k));
    return json_pack(
        "{s:s, s:n, s:n, s:o, s:n, s:{s:s, s:b, s:b, s:b}, s:{s:s, s:b, s:b, s:b},"
        " s:{s:s, s:b, s:b, s:b}, s:{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}}",
        "version", "1.0", "truncation", "padding", "added_tokens", added, "normalizer",
        "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1,
        "post_processor", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 0, "use_regex", 1,
        "decoder", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1,
        "model", "type", "BPE", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
        "fuse_unk", 0, "byte_fallback", 0, "ignore_merges", 0, "vocab", vocab, "merges", merges);
}

static json_t *tokenizer_config(const trainer_t *t, const char *template_src) {
    json_t *dec = json_object();
    for (size_t k = 0; k < N_SPECIALS; k++) {
        char id[16];
        snprintf(id, sizeof id, "%d", t->n_tok + (int)k);
        json_t *a = added_token(t->n_tok + (int)k, k);
        json_object_del(a, "id");
        json_object_set_new(dec, id, a);
    }
    return json_pack("{s:b, s:b, s:o, s:s, s:s, s:s, s:b, s:i, s:s, s:s}", "add_bos_token", 0, "add_eos_token", 0,
                     "added_tokens_decoder", dec, "bos_token", SYN_BOS, "eos_token", SYN_EOS, "pad_token", SYN_EOS,
                     "clean_up_tokenization_spaces", 0, "model_max_length", 4096, "tokenizer_class",
                     "PreTrainedTokenizerFast", "chat_template", template_src);
}

static r1d_status dump(const json_t *j, const char *dir, const char *name, err_t *e) {
    char path[4096];
    TRY(file_join(path, sizeof path, dir, name, e));
    char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    if (!s) return ERR(e, R1D_ENOMEM, "%s: out of memory", path);
    size_t n = strlen(s);
    s[n] = '\n'; /* the terminator becomes the final newline (written as n + 1 bytes) */
    r1d_status st = file_write_atomic(path, s, n + 1, e);
    free(s);
    return st;
}

r1d_status syn_tok_write(const char *dir, const char *const *texts, size_t n, err_t *e) {
    const chat_template_t *tpl;
    TRY(chat_template_by_name(SYN_CHAT_TEMPLATE, &tpl, e));
    trainer_t t = {0};
    r1d_status st = R1D_OK;
    for (size_t i = 0; i < n && st == R1D_OK; i++)
        if (split_text(&t, texts[i])) st = ERR(e, R1D_ENOMEM, "synth: tokenizer: out of memory");
    if (st == R1D_OK && train(&t)) st = ERR(e, R1D_ENOMEM, "synth: tokenizer: out of memory");
    json_t *tj = st == R1D_OK ? tokenizer_json(&t) : NULL, *cj = st == R1D_OK ? tokenizer_config(&t, chat_template_source(tpl)) : NULL;
    if (st == R1D_OK) st = dump(tj, dir, "tokenizer.json", e);
    if (st == R1D_OK) st = dump(cj, dir, "tokenizer_config.json", e);
    json_decref(tj);
    json_decref(cj);
    for (size_t i = 0; i < t.n; i++) free(t.p[i].sym);
    for (int i = 0; i < t.n_tok; i++) free(t.tok[i]);
    free(t.p);
    free(t.slot);
    free(t.merges);
    return st;
}
