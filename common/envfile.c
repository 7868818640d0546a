/* envfile: reads KEY=VALUE lines out of a buffer. Knows nothing of which keys exist,
 * of files or of the environment: config.c owns those. */
#include "envfile.h"

#include <string.h>

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static int key_char(char c, int first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* The value of a line, s[0..n) after the "=" and its blanks, into e. Returns 0, or -1
 * with errstr set. */
static int value(struct envfile *f, const char *s, size_t n, struct envfile_entry *e)
{
    const char *close;

    while (n > 0 && blank(s[n - 1]))
        n--;
    if (memchr(s, '\\', n) || memchr(s, 0, n)) {
        f->errstr = memchr(s, 0, n) ? "a NUL byte" : "a backslash (systemd reads it as an escape; no escapes here)";
        return -1;
    }
    if (n > 0 && (s[0] == '\'' || s[0] == '"')) {
        close = memchr(s + 1, s[0], n - 1);
        if (!close) {
            f->errstr = "a quote that is not closed on its line";
            return -1;
        }
        if ((size_t)(close - s) != n - 1) {
            f->errstr = "text after the closing quote";
            return -1;
        }
        e->value = s + 1;
        e->valuelen = n - 2;
        return 0;
    }
    e->value = s;
    e->valuelen = n;
    return 0;
}

/* One non-blank, non-comment line s[0..n) into e. Returns 0, or -1 with errstr set. */
static int entry(struct envfile *f, const char *s, size_t n, struct envfile_entry *e)
{
    size_t k = 0, i;

    while (k < n && key_char(s[k], k == 0))
        k++;
    for (i = k; i < n && blank(s[i]); i++)
        ;
    if (k == 0 || i == n || s[i] != '=') {
        f->errstr = k == 0 ? "expected KEY=VALUE (KEY: letters, digits and _, not first a digit)"
                           : "expected = after the key";
        return -1;
    }
    for (i++; i < n && blank(s[i]); i++)
        ;
    e->key = s;
    e->keylen = k;
    e->line = f->line;
    return value(f, s + i, n - i, e);
}

int envfile_next(struct envfile *f, const char *text, size_t len, struct envfile_entry *e)
{
    while (f->pos < len) {
        const char *s = text + f->pos, *nl = memchr(s, '\n', len - f->pos);
        size_t n = nl ? (size_t)(nl - s) : len - f->pos;

        f->pos += n + (nl != NULL);
        f->line++;
        while (n > 0 && blank(*s))
            s++, n--;
        if (n == 0 || *s == '#' || *s == ';')
            continue;
        return entry(f, s, n, e) < 0 ? -1 : 1;
    }
    return 0;
}
