/* archive_sqlite: the archive in a SQLite file (libsqlite3): WAL mode, so readers of the
 * file never wait for the writer; each batch one IMMEDIATE transaction. What a batch is
 * and when it is written is the writer's business. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_driver.h"
#include "sqlite_sql.h" /* generated from sql/sqlite.sql */
#include "xalloc.h"

#define SQLITE_BUSY_MS 5000 /* how long a statement waits for another writer's lock */

struct sqlite_archive {
    struct archive base;
    sqlite3 *db;
    sqlite3_stmt *insert, *prune; /* prepared on first use: the schema may come later */
};

static int fail(struct sqlite_archive *s, const char *what)
{
    return archive_fail(&s->base, "sqlite: %s: %s", what, sqlite3_errmsg(s->db));
}

static struct archive *sqlite_open(const struct archive_url *u, char *err, size_t errlen)
{
    struct sqlite_archive *s = xcalloc(1, sizeof *s);
    int rc = sqlite3_open_v2(u->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);

    /* Durable at commit (synchronous FULL, the default): the writer then drops the events
     * from Redis, so a commit lost to a power cut would lose them. */
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(s->db, SQLITE_BUSY_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: %s: %s", u->path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite3_close(s->db);
        free(s);
        return NULL;
    }
    return &s->base;
}

static int sqlite_exec(struct archive *a, const char *sql)
{
    struct sqlite_archive *s = (struct sqlite_archive *)a;

    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fail(s, "exec");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* a script that failed inside BEGIN */
        return -1;
    }
    return 0;
}

static long long sqlite_query_int(struct archive *a, const char *sql)
{
    struct sqlite_archive *s = (struct sqlite_archive *)a;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        v = 0;
    else
        fail(s, "query");
    sqlite3_finalize(st);
    return v;
}

/* Prepares *st from sql unless it is. Returns 0 or -1. */
static int prepared(struct sqlite_archive *s, sqlite3_stmt **st, const char *sql)
{
    if (!*st && sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return fail(s, "prepare");
    return 0;
}

static int insert_one(struct sqlite_archive *s, const struct archive_row *r)
{
    sqlite3_stmt *st = s->insert;
    int rc;

    sqlite3_bind_text(st, 1, r->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->ms);
    sqlite3_bind_int64(st, 3, r->seq);
    sqlite3_bind_text(st, 4, r->env, (int)r->len, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "insert");
}

static int sqlite_insert(struct archive *a, const struct archive_row *rows, size_t n)
{
    struct sqlite_archive *s = (struct sqlite_archive *)a;
    size_t i = 0;

    if (prepared(s, &s->insert, "INSERT OR IGNORE INTO comet_events (channel, ms, seq, envelope) "
                                "VALUES (?1, ?2, ?3, ?4)") < 0)
        return -1;
    /* IMMEDIATE: takes the write lock now, so the batch cannot fail half-way on a lock. */
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, "begin");
    while (i < n && insert_one(s, &rows[i]) == 0)
        i++;
    if (i == n && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    if (i == n)
        fail(s, "commit");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static long long sqlite_prune(struct archive *a, long long before_ms, int limit)
{
    struct sqlite_archive *s = (struct sqlite_archive *)a;
    int rc;

    if (prepared(s, &s->prune, "DELETE FROM comet_events WHERE rowid IN (SELECT rowid FROM comet_events "
                               "WHERE ms < ?1 ORDER BY ms LIMIT ?2)") < 0)
        return -1;
    sqlite3_bind_int64(s->prune, 1, before_ms);
    sqlite3_bind_int(s->prune, 2, limit);
    rc = sqlite3_step(s->prune);
    sqlite3_reset(s->prune);
    return rc == SQLITE_DONE ? sqlite3_changes(s->db) : fail(s, "prune");
}

static void sqlite_close(struct archive *a)
{
    struct sqlite_archive *s = (struct sqlite_archive *)a;

    sqlite3_finalize(s->insert);
    sqlite3_finalize(s->prune);
    sqlite3_close(s->db);
    free(s);
}

const struct archive_driver archive_sqlite_driver = {
    "sqlite", sqlite_sql,
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'comet_schema'",
    sqlite_open, sqlite_exec, sqlite_query_int, sqlite_insert, sqlite_prune, sqlite_close,
};
