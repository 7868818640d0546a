/* archive_read: the SQL archive as comet.fcgi reads it: the part of a resume's history
 * that Redis no longer holds, and /history's pages beyond Redis. The database client
 * library is loaded by soname on the first read (as auth.c loads libjwt), so a process
 * that never reads the archive never pays for it. Each thread has its own connection,
 * opened on first need and dropped after any error (the next read reconnects). */
#ifndef COMET_ARCHIVE_READ_H
#define COMET_ARCHIVE_READ_H

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

#endif
