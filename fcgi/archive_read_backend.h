/* archive_read_backend: what each database's reader (archive_read_sqlite.c,
 * archive_read_mysql.c, archive_read_postgresql.c) provides to archive_read.c, and what
 * archive_read.c gives them; private to those four files. */
#ifndef COMET_ARCHIVE_READ_BACKEND_H
#define COMET_ARCHIVE_READ_BACKEND_H

#include <pthread.h>
#include <stddef.h>

#include "archive_read.h"
#include "archive_url.h"

/* The one SELECT of a channel's rows for q, into buf (size len): ms, seq, envelope of
 * the channel given by placeholder (a parameter, or a quoted literal). */
void archive_read_sql(char *buf, size_t len, const char *placeholder, const struct archive_query *q);

/* The query of the archive's bounds: its oldest ms, its newest event's ms and seq
 * (NULLs when empty). */
extern const char archive_read_bounds_sql[];

/* dlopen of soname, local and at once; NULL when it cannot be loaded (always in a static
 * build, ARCHIVE_READ_STATIC: nothing can be loaded safely there). */
void *archive_read_dlopen(const char *soname);

/* A backend's library, loaded once per process: runs open once (it sets *ok), then
 * returns 0, or -1 with a message naming soname and what (the database) in err. */
int archive_read_loaded(pthread_once_t *once, void (*open)(void), const int *ok, const char *soname,
                        const char *what, char *err, size_t errlen);

/* Stores dlsym(h, name) into *fn (a function pointer). Returns 0, or -1 when missing. */
int archive_read_sym(void *h, const char *name, void *fn);

/* A row read: appended to the page being built (ctx). */
void archive_read_row(void *ctx, long long ms, long long seq, const char *env, size_t len);

/* A backend: load its library (once per process; 0 or -1), open a connection, read the
 * bounds (1 with rows, 0 empty, -1 error), read one channel's rows of q (0 or -1; each
 * row to archive_read_row(ctx, ...)), the last error, close. */
struct archive_backend {
    const char *name;
    int (*load)(char *err, size_t errlen);
    void *(*open)(const struct archive_url *u, char *err, size_t errlen);
    int (*bounds)(void *db, long long *floor_ms, struct cursor *newest);
    int (*rows)(void *db, const char *channel, const struct archive_query *q, void *ctx);
    const char *(*error)(void *db);
    void (*close)(void *db);
};

extern const struct archive_backend archive_read_sqlite, archive_read_mysql, archive_read_postgresql;

#endif
