/* hist: a latency histogram in microseconds with about 3 % resolution (exact below
 * 64 us), fixed size, no allocation: quantiles, the exact maximum, and the CDF the
 * chart plots. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>
#include <stdio.h>

#define HIST_BUCKETS 1280 /* covers up to 2^42 us, far beyond any run */

struct hist {
    uint64_t n, max, sum;
    uint64_t count[HIST_BUCKETS];
};

/* Adds one value in microseconds. */
void hist_add(struct hist *h, uint64_t us);

/* The value (us, a bucket's midpoint; the exact maximum for q = 1) at or below which a
 * fraction q of the values lie; 0 when the histogram is empty. */
uint64_t hist_quantile(const struct hist *h, double q);

/* Writes "milliseconds cumulative-fraction" lines, one per non-empty bucket, to f.
 * Returns 0, or -1 on a write error. */
int hist_write_cdf(const struct hist *h, FILE *f);

#endif
