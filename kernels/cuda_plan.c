/* Host-side planning for the CUDA backend (see cuda_plan.h). */
#include "kernels/cuda_plan.h"

#include <stdint.h>

#include "core/rng.h"

size_t cplan_arena_take(cplan_arena_t *a, size_t bytes) {
    size_t off = cplan_round_up(a->used, CPLAN_ALIGN);
    a->used = off + bytes;
    return off;
}

size_t cplan_attn_words(const ops_attn_seq_t *seqs, int B, int32_t block_size) {
    size_t w = 0;
    for (int b = 0; b < B; b++) {
        w += 4 + 2 + (size_t)seqs[b].n_new * 3; /* seq row, tiles (<= n_new/64 + 1), slots + decode rows */
        w += (size_t)((seqs[b].n_ctx + block_size - 1) / block_size);
        w += (size_t)(seqs[b].n_new / CPLAN_TILE_Q) * 2;
    }
    return w;
}

void cplan_split(int32_t max_ctx, int64_t units, int sm_count, int32_t *split_len, int32_t *n_splits) {
    int32_t len = CPLAN_SPLIT_MAX;
    int64_t target = 2 * (int64_t)(sm_count > 0 ? sm_count : 1);
    if (units < 1) units = 1;
    if (max_ctx < 1) max_ctx = 1;
    /* halve the split while the grid is short of CTAs and the rows have keys to share */
    while (len > CPLAN_SPLIT_MIN && units * ((max_ctx + len - 1) / len) < target && max_ctx > len / 2) len /= 2;
    *split_len = len;
    *n_splits = (max_ctx + len - 1) / len;
}

int cplan_attn_build(const ops_attn_seq_t *seqs, int B, int32_t block_size, int32_t n_blocks, int units_per_row,
                     int sm_count, int32_t ctx_hint, int32_t *buf, size_t cap, cplan_attn_t *p) {
    if ((int64_t)n_blocks * block_size > INT32_MAX) return -1;
    int32_t T = 0, n_pages = 0, n_tiles = 0, n_dec = 0, max_dec = 0;
    for (int b = 0; b < B; b++) {
        T += seqs[b].n_new;
        n_pages += (seqs[b].n_ctx + block_size - 1) / block_size;
        if (seqs[b].n_new <= CPLAN_DECODE_MAX_NEW) {
            n_dec += seqs[b].n_new;
            if (seqs[b].n_new > 0 && seqs[b].n_ctx > max_dec) max_dec = seqs[b].n_ctx;
        } else {
            n_tiles += (seqs[b].n_new + CPLAN_TILE_Q - 1) / CPLAN_TILE_Q;
        }
    }
    *p = (cplan_attn_t){.T = T, .n_seq = B, .n_pages = n_pages, .n_tiles = n_tiles, .n_dec = n_dec,
                        .max_dec_ctx = max_dec};
    p->off_seq = 0;
    p->off_pages = 4 * B;
    p->off_slot = p->off_pages + n_pages;
    p->off_tiles = p->off_slot + T;
    p->off_dec = p->off_tiles + 2 * n_tiles;
    p->words = p->off_dec + 2 * n_dec;
    if ((size_t)p->words > cap) return -1;
    int32_t *seq = buf + p->off_seq, *pages = buf + p->off_pages, *slot = buf + p->off_slot;
    int32_t *tiles = buf + p->off_tiles, *dec = buf + p->off_dec;
    int32_t t = 0, pg = 0;
    for (int b = 0; b < B; b++) {
        const ops_attn_seq_t *s = &seqs[b];
        int32_t np = (s->n_ctx + block_size - 1) / block_size, p0 = s->n_ctx - s->n_new;
        seq[4 * b + 0] = s->n_new;
        seq[4 * b + 1] = s->n_ctx;
        seq[4 * b + 2] = t;
        seq[4 * b + 3] = pg;
        for (int32_t i = 0; i < np; i++) pages[pg + i] = s->blocks[i];
        for (int32_t i = 0; i < s->n_new; i++) {
            int32_t pos = p0 + i;
            slot[t + i] = s->blocks[pos / block_size] * block_size + pos % block_size;
        }
        if (s->n_new <= CPLAN_DECODE_MAX_NEW) {
            for (int32_t i = 0; i < s->n_new; i++, dec += 2) dec[0] = t + i, dec[1] = b;
        } else {
            for (int32_t q0 = 0; q0 < s->n_new; q0 += CPLAN_TILE_Q, tiles += 2) tiles[0] = b, tiles[1] = q0;
        }
        t += s->n_new;
        pg += np;
    }
    int32_t ctx = max_dec > ctx_hint ? max_dec : ctx_hint;
    if (n_dec) cplan_split(ctx, (int64_t)n_dec * units_per_row, sm_count, &p->split_len, &p->n_splits);
    else p->split_len = CPLAN_SPLIT_MAX, p->n_splits = 1;
    return 0;
}

/* 32-byte aligned region: WMMA loads and stores need 256-bit aligned pointers. */
static int32_t take32(cplan_arena_t *a, size_t bytes) {
    size_t off = cplan_round_up(a->used, 32);
    a->used = off + bytes;
    return (int32_t)off;
}

int cplan_prefill_layout(int D, cplan_prefill_t *L) {
    if (D < 1 || D > CPLAN_HEAD_DIM_MAX) return -1;
    int32_t D16 = (int32_t)cplan_round_up((size_t)D, 16);
    /* +8 bf16 / +4 f32 per row: rows start 16 bytes apart modulo 128, so the eight 16-byte
     * row segments a WMMA load touches fall in different banks */
    *L = (cplan_prefill_t){.D16 = D16, .ld_h = D16 + 8, .ld_s = CPLAN_TILE_K + 4, .ld_p = CPLAN_TILE_K + 8,
                           .ld_o = D16 + 4};
    cplan_arena_t a = {0};
    size_t rows = CPLAN_TILE_Q, keys = CPLAN_TILE_K;
    L->off_q = take32(&a, rows * L->ld_h * 2);
    L->off_k = take32(&a, keys * L->ld_h * 2);
    L->off_v = take32(&a, keys * L->ld_h * 2);
    L->off_s = take32(&a, rows * L->ld_s * 4);
    L->off_p = take32(&a, rows * L->ld_p * 2);
    L->off_o = take32(&a, rows * L->ld_o * 4);
    L->off_m = take32(&a, rows * 4);
    L->off_l = take32(&a, rows * 4);
    L->off_a = take32(&a, rows * 4);
    L->bytes = (int32_t)cplan_round_up(a.used, 32);
    return 0;
}

size_t cplan_partial_floats(const cplan_attn_t *p, int H, int D) {
    if (p->n_splits <= 1) return 0;
    return (size_t)p->n_dec * (size_t)H * (size_t)p->n_splits * ((size_t)D + 2);
}

unsigned cplan_blocks(int64_t n, unsigned threads, unsigned max_blocks) {
    if (n <= 0) return 1;
    int64_t b = (n + threads - 1) / threads;
    return b > (int64_t)max_blocks ? max_blocks : (unsigned)b;
}

int64_t cplan_pow2(int64_t n) {
    int64_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

/* Each CTA sorts one row at a time in its own scratch: 32 CTAs keep scratch at
 * 32 * pow2(V) * 8 bytes (64 MiB for a 152k vocabulary) while still sampling 32 rows at once. */
int cplan_sample_ctas(int B) { return B < 32 ? (B > 0 ? B : 1) : 32; }

size_t cplan_sample_scratch_bytes(int B, int64_t V) {
    return (size_t)cplan_sample_ctas(B) * (size_t)cplan_pow2(V) * sizeof(uint64_t);
}

void cplan_sample_row(cplan_sample_row_t *r, const ops_sampling_t *s, uint64_t seed, uint64_t stream, uint64_t pos) {
    *r = (cplan_sample_row_t){.u = rng_uniform_f64(seed, stream, pos), .temperature = s->temperature,
                              .top_p = s->top_p, .min_p = s->min_p, .top_k = s->top_k};
}
