/* archive_read: which backend reads COMET_ARCHIVE, each thread's connection to it, the
 * one SELECT, merging channels' rows by id, and whether the archive covers a resume's
 * gap. How each database is talked to is its backend file's. */
#include "archive_read.h"

#include <dlfcn.h> /* not used by a static build (ARCHIVE_READ_STATIC) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_read_backend.h"
#include "archive_url.h"
#include "clock.h"
#include "log.h"
#include "pattern.h"
#include "xalloc.h"

#define ARCHIVE_RETRY_MS 1000 /* after a failed connection, reads fail at once for this long */

/* This thread's connection: mod_fcgid's one thread, an accept thread, the hub's reader. */
static _Thread_local struct {
    const struct archive_backend *be;
    void *db;
    long long retry_at;
} rd;

/* Closes a thread's connection when the thread ends (an accept thread, the hub's reader):
 * its _Thread_local pointer goes with the thread, the connection must not. */
static pthread_key_t rd_key;
static pthread_once_t rd_key_once = PTHREAD_ONCE_INIT;

static void rd_drop(void *db)
{
    if (db && rd.be)
        rd.be->close(db);
    rd.db = NULL;
}

static void rd_key_make(void)
{
    pthread_key_create(&rd_key, rd_drop);
}

/* A page being built: rows in arrival order, envelopes copied. */
struct rows {
    struct store_event *ev;
    size_t n, cap;
};

const char archive_read_bounds_sql[] =
    "SELECT (SELECT MIN(ms) FROM comet_events), m, (SELECT MAX(seq) FROM comet_events WHERE ms = m) "
    "FROM (SELECT MAX(ms) AS m FROM comet_events) t";

int archive_read_holds(const struct config *cfg, char *const *channels, size_t n)
{
    if (!cfg->archive[0])
        return 0;
    for (size_t i = 0; i < n && cfg->archive_channels[0]; i++)
        if (!pattern_list_match(cfg->archive_channels, channels[i]))
            return 0;
    return 1;
}

void *archive_read_dlopen(const char *soname)
{
#ifdef ARCHIVE_READ_STATIC
    (void)soname;
    return NULL;
#else
    return dlopen(soname, RTLD_NOW | RTLD_LOCAL);
#endif
}

int archive_read_loaded(pthread_once_t *once, void (*open)(void), const int *ok, const char *soname,
                        const char *what, char *err, size_t errlen)
{
    pthread_once(once, open);
    if (!*ok)
        snprintf(err, errlen, "cannot load %s: this comet.fcgi cannot read a %s archive", soname, what);
    return *ok ? 0 : -1;
}

int archive_read_sym(void *h, const char *name, void *fn)
{
#ifdef ARCHIVE_READ_STATIC
    void *p = NULL;
    (void)h, (void)name;
#else
    void *p = h ? dlsym(h, name) : NULL;
#endif
    memcpy(fn, &p, sizeof p);
    return p ? 0 : -1;
}

void archive_read_sql(char *buf, size_t len, const char *placeholder, const struct archive_query *q)
{
    const char *dir = q->newest ? "DESC" : "ASC";

    snprintf(buf, len,
             "SELECT ms, seq, envelope FROM comet_events WHERE channel = %s"
             " AND (ms > %llu OR (ms = %llu AND seq > %llu)) AND (ms < %llu OR (ms = %llu AND seq < %llu))"
             " ORDER BY ms %s, seq %s LIMIT %d",
             placeholder, (unsigned long long)q->after.ms, (unsigned long long)q->after.ms,
             (unsigned long long)q->after.n, (unsigned long long)q->before.ms, (unsigned long long)q->before.ms,
             (unsigned long long)q->before.n, dir, dir, q->limit);
}

void archive_read_row(void *ctx, long long ms, long long seq, const char *env, size_t len)
{
    struct rows *r = ctx;
    char *copy = xmalloc(len + 1);

    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->ev = xrealloc(r->ev, r->cap * sizeof *r->ev);
    }
    memcpy(copy, env, len);
    copy[len] = 0;
    r->ev[r->n++] = (struct store_event){{(uint64_t)ms, (uint64_t)seq}, copy, len};
}

/* This thread's connection, opened when needed; NULL (logged) when it cannot be. */
static void *reader(const struct config *cfg)
{
    static const struct archive_backend *const backends[] = {
        [ARCHIVE_SQLITE] = &archive_read_sqlite,
        [ARCHIVE_MYSQL] = &archive_read_mysql,
        [ARCHIVE_POSTGRESQL] = &archive_read_postgresql,
    };
    struct archive_url u;
    char err[512];

    if (rd.db || clock_ms() < rd.retry_at)
        return rd.db;
    if (archive_url_parse(cfg->archive, &u, err, sizeof err) < 0) {
        /* config_load checked it: unreachable */
    } else if (u.kind == ARCHIVE_OFF) {
        snprintf(err, sizeof err, "COMET_ARCHIVE is not set");
    } else {
        rd.be = backends[u.kind];
        if (rd.be->load(err, sizeof err) == 0)
            rd.db = rd.be->open(&u, err, sizeof err);
    }
    if (!rd.db) {
        log_warn("archive: %s", err);
        rd.retry_at = clock_ms() + ARCHIVE_RETRY_MS;
        return NULL;
    }
    pthread_once(&rd_key_once, rd_key_make);
    pthread_setspecific(rd_key, rd.db);
    return rd.db;
}

/* After an error on the connection: logged, closed, reopened by the next read. */
static int reader_fail(void)
{
    log_warn("archive (%s): %s", rd.be->name, rd.be->error(rd.db));
    rd.be->close(rd.db);
    rd.db = NULL;
    pthread_setspecific(rd_key, NULL);
    return -1;
}

static int by_id(const void *a, const void *b)
{
    return cursor_cmp(((const struct store_event *)a)->id, ((const struct store_event *)b)->id);
}

/* Keeps q->limit events of r in p, from the end q reads from, in id order. */
static void page_keep(const struct archive_query *q, struct rows *r, struct archive_page *p)
{
    size_t keep = r->n < (size_t)q->limit ? r->n : (size_t)q->limit, from = q->newest ? r->n - keep : 0;

    if (!r->n)
        return;
    qsort(r->ev, r->n, sizeof *r->ev, by_id);
    for (size_t i = 0; i < r->n; i++)
        if (i < from || i >= from + keep)
            free((char *)r->ev[i].env);
    memmove(r->ev, r->ev + from, keep * sizeof *r->ev);
    p->n = keep;
    p->events = r->ev;
}

int archive_read(const struct config *cfg, const struct archive_query *q, struct archive_page *p)
{
    struct rows r = {0};
    void *db = reader(cfg);

    memset(p, 0, sizeof *p);
    if (!db)
        return -1;
    for (size_t i = 0; i < q->n; i++)
        if (rd.be->rows(db, q->channels[i], q, &r) < 0) {
            p->events = r.ev, p->n = r.n;
            archive_page_free(p);
            return reader_fail();
        }
    page_keep(q, &r, p);
    return 0;
}

/* 1 when every event of q's range is in the archive: q->after no older than its
 * oldest rows (some at that very ms may be pruned already), and (to_end) its newest at
 * least just before q->before. */
static int gap_covered(const struct config *cfg, const struct archive_query *q, int to_end, long long floor_ms,
                       struct cursor newest)
{
    uint64_t floor = (uint64_t)floor_ms;
    int from = q->after.ms > floor || (q->after.ms == floor && cfg->archive_age == 0);
    int to = !to_end || cursor_cmp(q->before, newest) <= 0 ||
             (q->before.ms == newest.ms && q->before.n == newest.n + 1);

    return from && to;
}

int archive_read_gap(const struct config *cfg, const struct archive_query *q, int to_end, struct archive_page *p)
{
    long long floor_ms;
    struct cursor newest;
    void *db = reader(cfg);
    int rows;

    memset(p, 0, sizeof *p);
    if (!db)
        return -1;
    /* Bounds first: an event committed after they are read cannot widen what they vouch for. */
    if ((rows = rd.be->bounds(db, &floor_ms, &newest)) < 0)
        return reader_fail();
    if (rows == 0 || !gap_covered(cfg, q, to_end, floor_ms, newest))
        return 0;
    if (archive_read(cfg, q, p) < 0)
        return -1;
    p->covered = 1;
    return 0;
}

void archive_page_free(struct archive_page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free((char *)p->events[i].env);
    free(p->events);
    memset(p, 0, sizeof *p);
}
