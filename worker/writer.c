/* writer: the archive writer's loop. Each batch: read the oldest queued events (P archive),
 * insert them in one transaction, commit, then remove them from the queue; a crash at any
 * point leaves them queued or archived, and archiving twice is harmless (the id is the
 * key), so each event ends in the table exactly once. A process of its own, so that a
 * database that is slow, down or crashing a client library never touches storing and
 * fan-out. What the rows look like is archive/'s business, the queue store_archive.c's. */
#include "writer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive.h"
#include "clock.h"
#include "cursor.h"
#include "log.h"
#include "redis.h"
#include "store.h"
#include "xalloc.h"

#define WRITER_BATCH 500        /* events per transaction */
#define WRITER_BLOCK_MS 1000    /* a quiet queue is looked at again after this */
#define WRITER_BACKOFF_MAX 5000 /* the longest wait between attempts to reach the database */
#define WRITER_PRUNE_BATCH 1000 /* rows deleted per statement when pruning */
#define WRITER_PRUNE_MS 60000   /* pruning runs this often once caught up */

struct writer {
    const struct config *cfg;
    struct archive_url url;
    redisContext *c;
    struct archive *db;
    long long down_since;  /* when the database was last found unreachable; 0 while it is not */
    long long retry_at;    /* wall ms of the next attempt to connect */
    int backoff;           /* ms */
    long long dropped;     /* the backlog's drop counter as last seen; -1 before */
    long long prune_at;
    struct store_archived *batch;
    struct archive_row *rows;
};

static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* The database failed (why): logged once per outage, then retried with a backoff. */
static void db_down(struct writer *w, const char *why)
{
    long long now = clock_wall_ms();

    if (!w->down_since) {
        log_error("archive (%s) unreachable: %s; retrying, events wait in Redis (at most COMET_ARCHIVE_BACKLOG=%d)",
                  w->url.kind == ARCHIVE_SQLITE ? "sqlite" : w->url.kind == ARCHIVE_MYSQL ? "mysql" : "postgresql",
                  why, w->cfg->archive_backlog);
        w->down_since = now;
    } else {
        log_debug("archive still unreachable: %s", why);
    }
    archive_close(w->db);
    w->db = NULL;
    w->retry_at = now + w->backoff;
    w->backoff = w->backoff * 2 < WRITER_BACKOFF_MAX ? w->backoff * 2 : WRITER_BACKOFF_MAX;
}

/* Connects and checks the schema's version. Returns 0, or -1 (retried later). */
static int db_connect(struct writer *w)
{
    char err[512];
    int v;

    if (!(w->db = archive_open(&w->url, err, sizeof err))) {
        db_down(w, err);
        return -1;
    }
    if ((v = archive_version(w->db)) != ARCHIVE_SCHEMA_VERSION) {
        if (v >= 0)
            snprintf(err, sizeof err, "schema version %d, this comet-worker writes %d%s", v, ARCHIVE_SCHEMA_VERSION,
                     v < ARCHIVE_SCHEMA_VERSION ? ": run comet-worker --archive-init" : "");
        else
            snprintf(err, sizeof err, "%s", archive_error(w->db));
        db_down(w, err);
        return -1;
    }
    if (w->down_since)
        log_info("archive reachable again after %lld s; catching up", (clock_wall_ms() - w->down_since) / 1000);
    else
        log_info("archive: %s, schema version %d", archive_name(w->db), v);
    w->down_since = 0;
    w->backoff = 100;
    return 0;
}

/* Says so when the backlog's bound dropped queued events since last looked. */
static void check_dropped(struct writer *w)
{
    long long n = store_archive_dropped(w->c, w->cfg);

    if (n < 0)
        return;
    if (n > w->dropped && w->dropped >= 0)
        log_error("archive backlog full (COMET_ARCHIVE_BACKLOG=%d): %lld events dropped, never archived "
                  "(%lld in all)", w->cfg->archive_backlog, n - w->dropped, n);
    else if (w->dropped < 0 && n > 0)
        log_warn("archive backlog: %lld events were dropped before this run, never archived", n);
    w->dropped = n;
}

/* Turns queued events into rows; an id that is not one is left out (and stays queued
 * only until the batch is acknowledged: it could never be archived). */
static size_t to_rows(struct writer *w, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        const struct store_archived *e = &w->batch[i];
        struct cursor id;
        if (cursor_parse(e->id, strlen(e->id), &id) < 0 || id.ms > (uint64_t)INT64_MAX || id.n > (uint64_t)INT64_MAX) {
            log_warn("archive queue: %s is not an event id; not archived", e->id);
            continue;
        }
        w->rows[k++] = (struct archive_row){e->channel, (long long)id.ms, (long long)id.n, e->env, e->len};
    }
    return k;
}

/* One batch: read, insert, commit, acknowledge. Returns how many were archived (0 when
 * the queue was quiet), or -1 after a failure (the connection at fault is dropped). */
static long long write_batch(struct writer *w)
{
    redisReply *r = store_archive_take(w->c, w->cfg, WRITER_BATCH, WRITER_BLOCK_MS);
    size_t n, k;

    if (!r)
        return -1;
    n = store_archive_entries(r, w->batch, WRITER_BATCH);
    k = to_rows(w, n);
    if (k && archive_insert(w->db, w->rows, k) < 0) {
        db_down(w, archive_error(w->db));
        freeReplyObject(r);
        return -1;
    }
    if (n && store_archive_ack(w->c, w->cfg, w->batch, n) < 0) {
        freeReplyObject(r);
        return -1; /* archived, not removed: archived again later, harmlessly */
    }
    freeReplyObject(r);
    log_debug("archived %zu events", k);
    return (long long)n;
}

/* Deletes events older than COMET_ARCHIVE_AGE, a batch per call while there are. */
static void prune(struct writer *w)
{
    long long now = clock_wall_ms(), n;

    if (!w->cfg->archive_age || now < w->prune_at)
        return;
    n = archive_prune(w->db, now - w->cfg->archive_age * 86400000LL, WRITER_PRUNE_BATCH);
    if (n < 0) {
        db_down(w, archive_error(w->db));
        return;
    }
    if (n)
        log_info("archive: pruned %lld events older than %d days", n, w->cfg->archive_age);
    w->prune_at = n == WRITER_PRUNE_BATCH ? now : now + WRITER_PRUNE_MS;
}

/* One round: whatever is due, in that order. Returns 1 when it did nothing. */
static int step(struct writer *w)
{
    long long n;

    if (!w->c && !(w->c = redis_open(w->cfg, 5000)))
        return 1;
    check_dropped(w);
    if (!w->db && (clock_wall_ms() < w->retry_at || db_connect(w) < 0))
        return 1;
    if ((n = write_batch(w)) < 0 && w->db) {
        redisFree(w->c);
        w->c = NULL;
        return 1;
    }
    if (n == 0 && w->db)
        prune(w);
    return 0;
}

int writer_run(const struct config *cfg, long long until_ms, volatile sig_atomic_t *stop)
{
    struct writer w = {cfg, {0}, NULL, NULL, 0, 0, 100, -1, 0, NULL, NULL};
    char err[256];

    if (archive_url_parse(cfg->archive, &w.url, err, sizeof err) < 0 || w.url.kind == ARCHIVE_OFF) {
        log_error("%s", w.url.kind == ARCHIVE_OFF ? "COMET_ARCHIVE is not set: nothing to write" : err);
        return 1;
    }
    w.batch = xcalloc(WRITER_BATCH, sizeof *w.batch);
    w.rows = xcalloc(WRITER_BATCH, sizeof *w.rows);
    log_info("archive writer started (backlog at most %d events)", cfg->archive_backlog);
    while (!*stop && (!until_ms || clock_wall_ms() < until_ms))
        if (step(&w))
            nap(100);
    archive_close(w.db);
    if (w.c)
        redisFree(w.c);
    free(w.batch);
    free(w.rows);
    log_info("stopped");
    return 0;
}

int writer_init(const struct config *cfg)
{
    struct archive_url url;
    struct archive *a;
    char err[512];
    int rc;

    if (archive_url_parse(cfg->archive, &url, err, sizeof err) < 0 || url.kind == ARCHIVE_OFF) {
        log_error("%s", url.kind == ARCHIVE_OFF ? "COMET_ARCHIVE is not set: no archive to initialise" : err);
        return 1;
    }
    if (!(a = archive_open(&url, err, sizeof err))) {
        log_error("%s", err);
        return 1;
    }
    rc = archive_init(a);
    if (rc < 0)
        log_error("%s", archive_error(a));
    else
        log_info("archive: %s, schema version %d%s", archive_name(a), ARCHIVE_SCHEMA_VERSION,
                 rc ? " applied" : " already there");
    archive_close(a);
    return rc < 0;
}
