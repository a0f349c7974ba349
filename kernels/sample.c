/* Token sampling on the host, in the order of transformers' logits processors:
 * temperature, then top-k (ties with the k-th value kept), then top-p (drop the
 * least likely tokens whose cumulative probability stays <= 1 - top_p, keeping
 * at least one), then min-p (drop tokens below min_p times the best one), then one
 * inverse-CDF draw with u. Tokens below e^-30 of the best
 * are never candidates: that bounds the sort to a few hundred entries while moving
 * at most V * e^-30 (< 1e-7 for V = 152k) of probability mass. */
#include <math.h>
#include <stdlib.h>

#include "kernels/ops.h"

#define SAMPLE_CUTOFF 30.0f

typedef struct {
    float logit;
    int32_t id;
} cand_t;

size_t ops_sample_scratch_size(int64_t V) { return (size_t)V * (sizeof(cand_t) + sizeof(float)); }

int32_t ops_argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

/* descending logit, then ascending id: a total order, so every backend agrees */
static int cand_cmp(const void *pa, const void *pb) {
    const cand_t *a = pa, *b = pb;
    if (a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* The kept candidates c[0..n) in descending order with their unnormalised weights
 * prob[i] = exp(logit_i/T - max): everything but the final draw. */
static int64_t sample_keep(const float *logits, int64_t V, const ops_sampling_t *s, cand_t *c, float *prob) {
    float temperature = s->temperature, top_p = s->top_p;
    int top_k = s->top_k;
    float mx = logits[ops_argmax(logits, V)] / temperature;
    int64_t n = 0;
    for (int64_t i = 0; i < V; i++) {
        float l = logits[i] / temperature;
        if (l - mx >= -SAMPLE_CUTOFF) c[n++] = (cand_t){l, (int32_t)i};
    }
    qsort(c, (size_t)n, sizeof *c, cand_cmp);
    if (top_k > 0 && top_k < n) {
        int64_t k = top_k;
        while (k < n && c[k].logit == c[top_k - 1].logit) k++;
        n = k;
    }
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += (prob[i] = expf(c[i].logit - mx));
    if (top_p < 1.0f) {
        /* walk up from the least likely kept token, as the reference does on its ascending sort */
        double cum = 0;
        int64_t keep = n;
        for (int64_t i = n - 1; i > 0; i--) {
            cum += prob[i] / total;
            if (cum > 1.0 - (double)top_p) break;
            keep = i;
        }
        n = keep;
    }
    if (s->min_p > 0)
        while (n > 1 && prob[n - 1] < s->min_p * prob[0]) n--;
    return n;
}

int32_t ops_sample(const float *logits, int64_t V, const ops_sampling_t *s, double u, void *scratch) {
    if (s->temperature <= 0) return ops_argmax(logits, V);
    cand_t *c = scratch;
    float *prob = (float *)(c + V);
    int64_t n = sample_keep(logits, V, s, c, prob);
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += prob[i];
    double r = u * total, acc = 0;
    for (int64_t i = 0; i < n; i++) {
        acc += prob[i];
        if (r < acc) return c[i].id;
    }
    return c[n - 1].id;
}

void ops_sample_probs(const float *logits, int64_t V, const ops_sampling_t *s, float *probs, void *scratch) {
    for (int64_t i = 0; i < V; i++) probs[i] = 0.0f;
    if (s->temperature <= 0) {
        probs[ops_argmax(logits, V)] = 1.0f;
        return;
    }
    cand_t *c = scratch;
    float *prob = (float *)(c + V);
    int64_t n = sample_keep(logits, V, s, c, prob);
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += prob[i];
    for (int64_t i = 0; i < n; i++) probs[c[i].id] = (float)(prob[i] / total);
}
