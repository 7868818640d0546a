/* hist: log-linear buckets, 32 per power of two above 64 us. Formatting the results
 * (JSON, tables) is the callers' business. */
#include "hist.h"

/* Bucket of a value: exact below 64, then 32 sub-buckets per octave. */
static unsigned bucket(uint64_t v)
{
    unsigned msb, shift, idx;

    if (v < 64)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - 5;
    idx = 64 + (shift - 1) * 32 + (unsigned)((v >> shift) - 32);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The smallest value that falls in bucket idx, and the bucket's width. */
static uint64_t bucket_low(unsigned idx, uint64_t *width)
{
    unsigned shift;

    if (idx < 64) {
        *width = 1;
        return idx;
    }
    shift = (idx - 64) / 32 + 1;
    *width = 1ULL << shift;
    return (uint64_t)(32 + (idx - 64) % 32) << shift;
}

void hist_add(struct hist *h, uint64_t us)
{
    h->count[bucket(us)]++;
    h->n++;
    h->sum += us;
    if (us > h->max)
        h->max = us;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    uint64_t want, seen = 0, low, width;

    if (!h->n)
        return 0;
    if (q >= 1)
        return h->max;
    want = (uint64_t)(q * (double)h->n) + 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= want) {
            low = bucket_low(i, &width);
            low += width / 2;
            return low < h->max ? low : h->max;
        }
    }
    return h->max;
}

int hist_write_cdf(const struct hist *h, FILE *f)
{
    uint64_t seen = 0, low, width;

    for (unsigned i = 0; i < HIST_BUCKETS && h->n; i++) {
        if (!h->count[i])
            continue;
        seen += h->count[i];
        low = bucket_low(i, &width);
        if (fprintf(f, "%.3f %.6f\n", (double)(low + width) / 1000.0,
                    (double)seen / (double)h->n) < 0)
            return -1;
    }
    return 0;
}
