/* seqset: a growable bit set of sequence numbers (1, 2, ...), one per subscriber and one
 * per channel for the publishes the server accepted; loss and duplicates are counted
 * from them. */
#ifndef BENCH_SEQSET_H
#define BENCH_SEQSET_H

#include <stdint.h>

struct seqset {
    uint64_t *words;
    uint32_t nwords;
    uint32_t count; /* members */
};

/* Adds seq (>= 1); grows the set as needed (aborts when out of memory).
 * Returns 1 if seq was new, 0 if it was already there (a duplicate). */
int seqset_add(struct seqset *s, uint32_t seq);

/* Members of both a and b. */
uint32_t seqset_common(const struct seqset *a, const struct seqset *b);

/* Frees the words; s is empty and reusable afterwards. */
void seqset_free(struct seqset *s);

#endif
