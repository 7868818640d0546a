/* envfile: the settings file's syntax, the subset of systemd's EnvironmentFile= that
 * means the same to both: KEY=VALUE lines, blank lines and # or ; comments, a value
 * optionally inside one pair of single or double quotes, no expansion, no escapes.
 * What would mean something else to systemd (a backslash, text after a closing quote)
 * is refused rather than read differently. Pure: no I/O, no allocation. */
#ifndef COMET_ENVFILE_H
#define COMET_ENVFILE_H

#include <stddef.h>

/* One KEY=VALUE: both point into the parsed text (not NUL-terminated). key is
 * [A-Za-z_][A-Za-z0-9_]*; value has its quotes, or its surrounding blanks, removed. */
struct envfile_entry {
    const char *key, *value;
    size_t keylen, valuelen;
    int line; /* 1-based */
};

/* The parser's position in text; start with {0}. */
struct envfile {
    size_t pos;
    int line;
    const char *errstr; /* after -1: why the line was refused (static storage) */
};

/* Reads the next entry of text[0..len) into e, skipping blank and comment lines.
 * Returns 1 with e set, 0 at the end, or -1 with f->errstr and f->line naming the
 * malformed line (parsing cannot continue after it). */
int envfile_next(struct envfile *f, const char *text, size_t len, struct envfile_entry *e);

#endif
