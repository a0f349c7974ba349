/* Host-side planning of the CUDA backend (kernels/cuda_plan.h): pure C, so it runs on every
 * machine, GPU or not. The kernels trust these layouts blindly, so each is checked against
 * an independent recomputation. */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/cuda_plan.h"
#include "test.h"

static void test_arena(void) {
    cplan_arena_t a = {0};
    size_t sizes[] = {1, 255, 256, 257, 0, 1000, 3};
    size_t prev_end = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t off = cplan_arena_take(&a, sizes[i]);
        CHECK_MSG(off % CPLAN_ALIGN == 0, "region %zu at %zu", i, off);
        CHECK_MSG(off >= prev_end, "region %zu at %zu overlaps the previous one ending at %zu", i, off, prev_end);
        CHECK_MSG(off - prev_end < CPLAN_ALIGN, "region %zu wastes %zu bytes", i, off - prev_end);
        prev_end = off + sizes[i];
        CHECK_EQ_INT((long long)a.used, (long long)prev_end);
    }
    CHECK_EQ_INT((long long)cplan_round_up(0, 256), 0);
    CHECK_EQ_INT((long long)cplan_round_up(1, 16), 16);
    CHECK_EQ_INT((long long)cplan_round_up(32, 32), 32);
}

/* A batch that mixes decode rows (1, 3 and exactly CPLAN_DECODE_MAX_NEW new tokens) with
 * prefill chunks (9, 64, 65, 200 tokens), contexts crossing page boundaries, and shuffled
 * page ids, as a long-running pool hands them out. */
enum { NSEQ = 7, BS = 16, NBLK = 200 };

static void make_batch(ops_attn_seq_t *s, int32_t **tables) {
    static const int32_t n_new[NSEQ] = {1, 3, CPLAN_DECODE_MAX_NEW, CPLAN_DECODE_MAX_NEW + 1, 64, 65, 200};
    static const int32_t n_old[NSEQ] = {40, 15, 0, 16, 1, 33, 17};
    int32_t next = 0;
    for (int b = 0; b < NSEQ; b++) {
        int32_t ctx = n_old[b] + n_new[b], np = (ctx + BS - 1) / BS;
        tables[b] = malloc((size_t)np * sizeof(int32_t));
        for (int32_t i = 0; i < np; i++) tables[b][i] = (next++ * 37) % NBLK; /* distinct, out of order */
        s[b] = (ops_attn_seq_t){n_new[b], ctx, tables[b]};
    }
}

static void test_attn_plan_layout(void) {
    ops_attn_seq_t s[NSEQ];
    int32_t *tables[NSEQ];
    make_batch(s, tables);
    size_t cap = cplan_attn_words(s, NSEQ, BS);
    int32_t *buf = malloc((cap + 8) * sizeof(int32_t));
    for (size_t i = 0; i < cap + 8; i++) buf[i] = -7; /* guard words past cap stay untouched */
    cplan_attn_t p;
    CHECK_EQ_INT(cplan_attn_build(s, NSEQ, BS, NBLK, 2, 132, 0, buf, cap, &p), 0);
    CHECK_MSG((size_t)p.words <= cap, "plan of %d words over the bound %zu", p.words, cap);
    for (size_t i = cap; i < cap + 8; i++) CHECK_EQ_INT(buf[i], -7);
    int32_t T = 0, dec = 0, tiles = 0;
    for (int b = 0; b < NSEQ; b++) {
        T += s[b].n_new;
        if (s[b].n_new <= CPLAN_DECODE_MAX_NEW) dec += s[b].n_new;
        else tiles += (s[b].n_new + 63) / 64;
    }
    CHECK_EQ_INT(p.T, T);
    CHECK_EQ_INT(p.n_dec, dec);
    CHECK_EQ_INT(p.n_tiles, tiles);
    CHECK_EQ_INT(p.max_dec_ctx, 16 + CPLAN_DECODE_MAX_NEW > 41 ? 16 + CPLAN_DECODE_MAX_NEW : 41);
    int32_t t = 0, ti = 0, di = 0;
    for (int b = 0; b < NSEQ; b++) {
        const int32_t *row = buf + p.off_seq + 4 * b;
        CHECK_EQ_INT(row[0], s[b].n_new);
        CHECK_EQ_INT(row[1], s[b].n_ctx);
        CHECK_EQ_INT(row[2], t);
        const int32_t *pages = buf + p.off_pages + row[3];
        for (int32_t i = 0; i < (s[b].n_ctx + BS - 1) / BS; i++) CHECK_EQ_INT(pages[i], s[b].blocks[i]);
        for (int32_t i = 0; i < s[b].n_new; i++) {
            int32_t pos = s[b].n_ctx - s[b].n_new + i;
            CHECK_EQ_INT(buf[p.off_slot + t + i], s[b].blocks[pos / BS] * BS + pos % BS);
        }
        if (s[b].n_new <= CPLAN_DECODE_MAX_NEW) {
            for (int32_t i = 0; i < s[b].n_new; i++, di++) {
                CHECK_EQ_INT(buf[p.off_dec + 2 * di], t + i);
                CHECK_EQ_INT(buf[p.off_dec + 2 * di + 1], b);
            }
        } else {
            for (int32_t q0 = 0; q0 < s[b].n_new; q0 += 64, ti++) {
                CHECK_EQ_INT(buf[p.off_tiles + 2 * ti], b);
                CHECK_EQ_INT(buf[p.off_tiles + 2 * ti + 1], q0);
            }
        }
        t += s[b].n_new;
    }
    CHECK_EQ_INT(ti, tiles);
    CHECK_EQ_INT(di, dec);
    /* too small a buffer, and caches whose row index overflows int32, are refused */
    CHECK_EQ_INT(cplan_attn_build(s, NSEQ, BS, NBLK, 2, 132, 0, buf, (size_t)p.words - 1, &p), -1);
    CHECK_EQ_INT(cplan_attn_build(s, NSEQ, BS, INT32_MAX / BS + 1, 2, 132, 0, buf, cap, &p), -1);
    for (int b = 0; b < NSEQ; b++) free(tables[b]);
    free(buf);
}

/* The same step planned twice gives identical words: the backend skips the upload then,
 * and kv_store (no head count) plans exactly what attention plans. */
static void test_attn_plan_stable(void) {
    ops_attn_seq_t s[NSEQ];
    int32_t *tables[NSEQ];
    make_batch(s, tables);
    size_t cap = cplan_attn_words(s, NSEQ, BS);
    int32_t *a = calloc(cap, sizeof(int32_t)), *b = calloc(cap, sizeof(int32_t));
    cplan_attn_t pa, pb;
    CHECK_EQ_INT(cplan_attn_build(s, NSEQ, BS, NBLK, 4, 132, 0, a, cap, &pa), 0);
    CHECK_EQ_INT(cplan_attn_build(s, NSEQ, BS, NBLK, 4, 132, 0, b, cap, &pb), 0);
    CHECK(memcmp(&pa, &pb, sizeof pa) == 0 && memcmp(a, b, (size_t)pa.words * sizeof(int32_t)) == 0);
    /* a prefill-only batch has no decode rows and one split */
    CHECK_EQ_INT(cplan_attn_build(s + 4, 3, BS, NBLK, 4, 132, 0, a, cap, &pa), 0);
    CHECK_EQ_INT(pa.n_dec, 0);
    CHECK_EQ_INT(pa.n_splits, 1);
    CHECK_EQ_INT(pa.off_slot, 4 * 3 + pa.n_pages);
    for (int i = 0; i < NSEQ; i++) free(tables[i]);
    free(a);
    free(b);
}

static void test_split_k(void) {
    static const int32_t ctxs[] = {1, 63, 64, 65, 511, 512, 513, 4096, 32768, 131072};
    static const int64_t units[] = {1, 2, 8, 64, 264, 4096};
    for (size_t i = 0; i < sizeof ctxs / sizeof *ctxs; i++)
        for (size_t j = 0; j < sizeof units / sizeof *units; j++) {
            int32_t len = 0, n = 0;
            cplan_split(ctxs[i], units[j], 132, &len, &n);
            CHECK_MSG(len >= CPLAN_SPLIT_MIN && len <= CPLAN_SPLIT_MAX && (len & (len - 1)) == 0,
                      "ctx %d units %lld: split of %d keys", ctxs[i], (long long)units[j], len);
            CHECK_MSG((int64_t)n * len >= ctxs[i] && (int64_t)(n - 1) * len < ctxs[i],
                      "ctx %d: %d splits of %d keys", ctxs[i], n, len);
            /* the split stops shrinking at its minimum, at two CTAs per SM, or when a split
             * would hold under half the context */
            CHECK_MSG(len == CPLAN_SPLIT_MIN || units[j] * n >= 264 || ctxs[i] <= len / 2,
                      "ctx %d units %lld: only %lld CTAs with splits of %d", ctxs[i], (long long)units[j],
                      (long long)(units[j] * n), len);
            /* a full grid keeps the largest split (fewest partials to combine) */
            if (units[j] >= 264) CHECK_EQ_INT(len, CPLAN_SPLIT_MAX);
        }
    /* batch-1 decode of a long context on 132 SMs: spread over at least 2 CTAs per SM */
    int32_t len, n;
    cplan_split(32768, 2, 132, &len, &n);
    CHECK_MSG(2 * n >= 264, "32k context, 2 kv heads: %d splits of %d", n, len);
    /* the hint plans for the longest context of a run (graph replays keep their grid) */
    ops_attn_seq_t s = {1, 100, NULL};
    int32_t pages[8] = {0, 1, 2, 3, 4, 5, 6, 7}, buf[64];
    s.blocks = pages;
    cplan_attn_t a, b;
    CHECK_EQ_INT(cplan_attn_build(&s, 1, 16, 8, 2, 132, 0, buf, 64, &a), 0);
    CHECK_EQ_INT(cplan_attn_build(&s, 1, 16, 8, 2, 132, 8192, buf, 64, &b), 0);
    int32_t hl, hn;
    cplan_split(8192, 2, 132, &hl, &hn);
    CHECK_EQ_INT(b.split_len, hl);
    CHECK_EQ_INT(b.n_splits, hn);
    CHECK(b.n_splits > a.n_splits);
}

static int disjoint(int32_t a, int32_t an, int32_t b, int32_t bn) { return a + an <= b || b + bn <= a; }

static void test_prefill_layout(void) {
    static const int dims[] = {1, 8, 15, 16, 17, 64, 80, 96, 128, 192, 256};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        int D = dims[i];
        cplan_prefill_t L;
        CHECK_EQ_INT(cplan_prefill_layout(D, &L), 0);
        CHECK_MSG(L.D16 >= D && L.D16 % 16 == 0 && L.D16 - D < 16, "D %d: D16 %d", D, L.D16);
        /* WMMA: bf16 leading dims multiples of 8, f32 of 4 */
        CHECK(L.ld_h % 8 == 0 && L.ld_p % 8 == 0 && L.ld_s % 4 == 0 && L.ld_o % 4 == 0);
        CHECK(L.ld_h >= L.D16 && L.ld_o >= L.D16 && L.ld_s >= CPLAN_TILE_K && L.ld_p >= CPLAN_TILE_K);
        int32_t off[] = {L.off_q, L.off_k, L.off_v, L.off_s, L.off_p, L.off_o, L.off_m, L.off_l, L.off_a};
        int32_t len[] = {64 * L.ld_h * 2, 64 * L.ld_h * 2, 64 * L.ld_h * 2, 64 * L.ld_s * 4, 64 * L.ld_p * 2,
                         64 * L.ld_o * 4, 256, 256, 256};
        for (int a = 0; a < 9; a++) {
            CHECK_MSG(off[a] % 32 == 0 && off[a] + len[a] <= L.bytes, "D %d: region %d at %d+%d of %d", D, a, off[a],
                      len[a], L.bytes);
            for (int b = a + 1; b < 9; b++) CHECK_MSG(disjoint(off[a], len[a], off[b], len[b]), "D %d: regions %d, %d", D, a, b);
        }
        /* H100/H200 give a block at most 227 KiB of shared memory */
        CHECK_MSG(L.bytes <= 227 * 1024, "D %d: %d bytes of shared memory", D, L.bytes);
    }
    cplan_prefill_t L;
    CHECK_EQ_INT(cplan_prefill_layout(0, &L), -1);
    CHECK_EQ_INT(cplan_prefill_layout(CPLAN_HEAD_DIM_MAX + 1, &L), -1);
}

static void test_partials_and_grids(void) {
    cplan_attn_t p = {.n_dec = 3, .n_splits = 4};
    CHECK_EQ_INT((long long)cplan_partial_floats(&p, 12, 128), 3LL * 12 * 4 * 130);
    p.n_splits = 1;
    CHECK_EQ_INT((long long)cplan_partial_floats(&p, 12, 128), 0);
    CHECK_EQ_INT(cplan_blocks(0, 256, 4096), 1);
    CHECK_EQ_INT(cplan_blocks(1, 256, 4096), 1);
    CHECK_EQ_INT(cplan_blocks(257, 256, 4096), 2);
    CHECK_EQ_INT(cplan_blocks((int64_t)1 << 40, 256, 4096), 4096);
    CHECK_EQ_INT(cplan_head_chunks(1), 1);
    CHECK_EQ_INT(cplan_head_chunks(CPLAN_GROUP_MAX), 1);
    CHECK_EQ_INT(cplan_head_chunks(CPLAN_GROUP_MAX + 1), 2);
    CHECK_EQ_INT(cplan_pow2(1), 1);
    CHECK_EQ_INT(cplan_pow2(151936), 262144);
    CHECK_EQ_INT(cplan_pow2(262144), 262144);
    CHECK_EQ_INT(cplan_sample_ctas(0), 1);
    CHECK_EQ_INT(cplan_sample_ctas(5), 5);
    CHECK_EQ_INT(cplan_sample_ctas(256), 32);
    CHECK_EQ_INT((long long)cplan_sample_scratch_bytes(256, 151936), 32LL * 262144 * 8);
}

/* The GPU sampler gets the very draw generate.c makes for (seed, request id, position). */
static void test_sample_keying(void) {
    ops_sampling_t s = {.temperature = 0.7f, .top_p = 0.9f, .min_p = 0.05f, .top_k = 40};
    cplan_sample_row_t r, r2;
    cplan_sample_row(&r, &s, 1234, 7, 3);
    CHECK(r.u == rng_uniform_f64(1234, 7, 3));
    CHECK(r.u >= 0.0 && r.u < 1.0);
    CHECK(r.temperature == 0.7f && r.top_p == 0.9f && r.min_p == 0.05f && r.top_k == 40);
    cplan_sample_row(&r2, &s, 1234, 7, 4);
    CHECK(r2.u != r.u);
    cplan_sample_row(&r2, &s, 1234, 8, 3);
    CHECK(r2.u != r.u);
    cplan_sample_row(&r2, &s, 1235, 7, 3);
    CHECK(r2.u != r.u);
}

int main(void) {
    RUN(test_arena);
    RUN(test_attn_plan_layout);
    RUN(test_attn_plan_stable);
    RUN(test_split_k);
    RUN(test_prefill_layout);
    RUN(test_partials_and_grids);
    RUN(test_sample_keying);
    return test_summary("test_cuda_plan");
}
