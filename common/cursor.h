/* cursor: the event id, which is also the cursor a subscriber resumes from. An id
 * is "MS-N": the worker's clock in milliseconds and a counter within that
 * millisecond, assigned in one global order, so one id covers every channel. */
#ifndef COMET_CURSOR_H
#define COMET_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#define CURSOR_MAX 42 /* "MS-N" with two 20-digit numbers and a NUL */

struct cursor {
    uint64_t ms, n;
};

/* Parses "MS-N", or "0" (before every event: from the oldest retained). Returns 0, or
 * -1 when s[0..len) is anything else (signs, spaces, leading zeros, overflow). */
int cursor_parse(const char *s, size_t len, struct cursor *out);

/* Writes c as "MS-N" into buf (at least CURSOR_MAX bytes). Returns the length. */
int cursor_format(struct cursor c, char *buf);

/* <0, 0, >0 as a is before, equal to, after b. */
int cursor_cmp(struct cursor a, struct cursor b);

#endif
