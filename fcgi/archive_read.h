/* archive_read: the SQL archive as comet.fcgi reads it: the part of a resume's history
 * that Redis no longer holds, and /history's pages beyond Redis. The database client
 * library is loaded by soname on the first read (as auth.c loads libjwt), so a process
 * that never reads the archive never pays for it. Each thread has its own connection,
 * opened on first need and dropped after any error (the next read reconnects). */
#ifndef COMET_ARCHIVE_READ_H
#define COMET_ARCHIVE_READ_H

#include <pthread.h>
#include <stddef.h>

#include "config.h"
#include "cursor.h"
#include "store.h"

/* What to read: the events of channels[0..n) with an id after `after` and before
 * `before` (both excluded), the oldest first (newest 0) or the newest (newest 1), at
 * most limit. */
struct archive_query {
    char *const *channels;
    size_t n;
    struct cursor after, before;
    int newest, limit;
};

/* What was read: events in id order (oldest first whichever end was read); the
 * envelopes are the page's. */
struct archive_page {
    size_t n;
    struct store_event *events;
    int covered; /* archive_read_gap: 1 when the archive holds every event of the range */
};

/* An id after every event: the `before` of a query bounded only by `after`. */
#define ARCHIVE_NO_END ((struct cursor){(uint64_t)INT64_MAX, 0})

/* 1 when cfg's archive holds channels[0..n): COMET_ARCHIVE is set and
 * COMET_ARCHIVE_CHANNELS (empty: all) covers each of them. */
int archive_read_holds(const struct config *cfg, char *const *channels, size_t n);

/* Reads the page q names into p (archive_page_free). Returns 0, or -1 when the archive
 * cannot be read now (not configured, its library missing, the database down), logged. */
int archive_read(const struct config *cfg, const struct archive_query *q, struct archive_page *p);

/* archive_read of the gap a resume asks about (session_archive_range), oldest first, and
 * whether the archive holds every event of it: the resume point is no older than the
 * archive's oldest event (none pruned or from before archiving began after it), and,
 * when to_end, the archive reaches the gap's end (the writer is not behind). Returns 0,
 * or -1 as archive_read. */
int archive_read_gap(const struct config *cfg, const struct archive_query *q, int to_end, struct archive_page *p);

void archive_page_free(struct archive_page *p);

/* ---- for the backends (archive_read_sqlite.c, archive_read_mysql.c,
 * archive_read_postgresql.c) ---- */

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

struct archive_url;

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
