/* cursor: parsing, printing and ordering of event ids. Pure; no I/O. */
#include "cursor.h"

#include <inttypes.h>
#include <stdio.h>

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int cursor_parse(const char *s, size_t len, struct cursor *out)
{
    size_t dash = 0;

    while (dash < len && s[dash] != '-')
        dash++;
    if (dash == len) {
        if (len != 1 || s[0] != '0')
            return -1;
        out->ms = out->n = 0;
        return 0;
    }
    if (parse_u64(s, dash, &out->ms) < 0 || parse_u64(s + dash + 1, len - dash - 1, &out->n) < 0)
        return -1;
    return 0;
}

int cursor_format(struct cursor c, char *buf)
{
    return snprintf(buf, CURSOR_MAX, "%" PRIu64 "-%" PRIu64, c.ms, c.n);
}

int cursor_cmp(struct cursor a, struct cursor b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.n != b.n)
        return a.n < b.n ? -1 : 1;
    return 0;
}
