/* buf: a growable byte buffer, always NUL-terminated past len. What every writer of
 * bytes (frames, FastCGI records, answers) appends into; it never fails (xalloc). */
#ifndef COMET_BUF_H
#define COMET_BUF_H

#include <stddef.h>

struct buf {
    char *s;
    size_t len, cap;
};

/* Appends s[0..len). */
void buf_append(struct buf *b, const char *s, size_t len);

/* Appends the string s. */
void buf_puts(struct buf *b, const char *s);

/* Drops the first n bytes (what a write took), keeping the rest in order. */
void buf_consume(struct buf *b, size_t n);

/* Empties b and keeps its memory; buf_free releases it (b is then empty and reusable). */
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
