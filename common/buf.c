/* buf: growth by doubling; the memory policy is xalloc's. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void buf_append(struct buf *b, const char *s, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, len);
    b->len += len;
    b->s[b->len] = 0;
}

void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->s, b->s + n, b->len - n + 1);
    b->len -= n;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->s)
        b->s[0] = 0;
}

void buf_free(struct buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}
