/* seqset: 64 sequence numbers per word, grown by doubling. What a gap or a repeat
 * means is loadgen.c's to say. */
#include "seqset.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

int seqset_add(struct seqset *s, uint32_t seq)
{
    uint32_t w = seq / 64, n;
    uint64_t bit = 1ULL << (seq % 64);

    if (w >= s->nwords) {
        for (n = s->nwords ? s->nwords : 4; n <= w; n *= 2)
            ;
        s->words = xrealloc(s->words, n * sizeof *s->words);
        memset(s->words + s->nwords, 0, (n - s->nwords) * sizeof *s->words);
        s->nwords = n;
    }
    if (s->words[w] & bit)
        return 0;
    s->words[w] |= bit;
    s->count++;
    return 1;
}

uint32_t seqset_common(const struct seqset *a, const struct seqset *b)
{
    uint32_t n = a->nwords < b->nwords ? a->nwords : b->nwords, common = 0;

    for (uint32_t i = 0; i < n; i++)
        common += (uint32_t)__builtin_popcountll(a->words[i] & b->words[i]);
    return common;
}

void seqset_free(struct seqset *s)
{
    free(s->words);
    s->words = NULL;
    s->nwords = s->count = 0;
}
