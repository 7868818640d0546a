/* archive_read_sqlite: reading the archive's SQLite file, with libsqlite3 loaded by
 * soname (ARCHIVE_READ_SQLITE, from the Makefile) on first use. The file is the writer's
 * (WAL mode: reading never waits for it); it is opened read-write without create, so a
 * missing file is an error rather than a new empty archive. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_read_backend.h"
#include "xalloc.h"

#define SQLITE_READ_BUSY_MS 2000

#define SQLITE_FNS(X)                                                                                          \
    X(sqlite3_open_v2) X(sqlite3_busy_timeout) X(sqlite3_prepare_v2) X(sqlite3_bind_text) X(sqlite3_step)      \
    X(sqlite3_column_int64) X(sqlite3_column_text) X(sqlite3_column_bytes) X(sqlite3_column_type)              \
    X(sqlite3_finalize) X(sqlite3_close) X(sqlite3_errmsg)
#define DECLARE(f) __typeof__(f) *f;
#define LOAD(f) || archive_read_sym(h, #f, &lib.f) < 0

static struct {
    SQLITE_FNS(DECLARE)
    int ok;
} lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_open(void)
{
    void *h = archive_read_dlopen(ARCHIVE_READ_SQLITE);

    lib.ok = !(!h SQLITE_FNS(LOAD));
}

static int sqlite_load(char *err, size_t errlen)
{
    return archive_read_loaded(&lib_once, lib_open, &lib.ok, ARCHIVE_READ_SQLITE, "SQLite", err, errlen);
}

static void *sqlite_open(const struct archive_url *u, char *err, size_t errlen)
{
    sqlite3 *db = NULL;

    if (lib.sqlite3_open_v2(u->path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        lib.sqlite3_busy_timeout(db, SQLITE_READ_BUSY_MS) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: %s: %s", u->path, db ? lib.sqlite3_errmsg(db) : "out of memory");
        lib.sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int sqlite_bounds(void *db, long long *floor_ms, struct cursor *newest)
{
    sqlite3_stmt *st = NULL;
    int rc = lib.sqlite3_prepare_v2(db, archive_read_bounds_sql, -1, &st, NULL), out = -1;

    if (rc == SQLITE_OK && lib.sqlite3_step(st) == SQLITE_ROW) {
        out = lib.sqlite3_column_type(st, 0) != SQLITE_NULL;
        *floor_ms = lib.sqlite3_column_int64(st, 0);
        newest->ms = (uint64_t)lib.sqlite3_column_int64(st, 1);
        newest->n = (uint64_t)lib.sqlite3_column_int64(st, 2);
    }
    lib.sqlite3_finalize(st);
    return out;
}

static int sqlite_rows(void *db, const char *channel, const struct archive_query *q, void *ctx)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    int rc;

    archive_read_sql(sql, sizeof sql, "?1", q);
    if ((rc = lib.sqlite3_prepare_v2(db, sql, -1, &st, NULL)) == SQLITE_OK) {
        lib.sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
        while ((rc = lib.sqlite3_step(st)) == SQLITE_ROW)
            archive_read_row(ctx, lib.sqlite3_column_int64(st, 0), lib.sqlite3_column_int64(st, 1),
                             (const char *)lib.sqlite3_column_text(st, 2), (size_t)lib.sqlite3_column_bytes(st, 2));
    }
    lib.sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static const char *sqlite_error(void *db)
{
    return lib.sqlite3_errmsg(db);
}

static void sqlite_close(void *db)
{
    lib.sqlite3_close(db);
}

const struct archive_backend archive_read_sqlite = {
    "sqlite", sqlite_load, sqlite_open, sqlite_bounds, sqlite_rows, sqlite_error, sqlite_close,
};
