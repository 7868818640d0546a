/* archive_read_postgresql: reading the archive on PostgreSQL, with libpq loaded by
 * soname (ARCHIVE_READ_POSTGRESQL, from the Makefile) on first use, at the URI of
 * COMET_ARCHIVE as libpq reads it, with a connection and a statement timeout of its own
 * so that a stuck server answers within seconds. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_read_backend.h"

#define PG_FNS(X)                                                                                              \
    X(PQconnectdbParams) X(PQstatus) X(PQerrorMessage) X(PQexec) X(PQexecParams) X(PQresultStatus)             \
    X(PQntuples) X(PQgetvalue) X(PQgetlength) X(PQgetisnull) X(PQclear) X(PQfinish)
#define DECLARE(f) __typeof__(f) *f;
#define LOAD(f) || archive_read_sym(h, #f, &lib.f) < 0

static struct {
    PG_FNS(DECLARE)
    int ok;
} lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_open(void)
{
    void *h = archive_read_dlopen(ARCHIVE_READ_POSTGRESQL);

    lib.ok = !(!h PG_FNS(LOAD));
}

static int pg_load(char *err, size_t errlen)
{
    return archive_read_loaded(&lib_once, lib_open, &lib.ok, ARCHIVE_READ_POSTGRESQL, "PostgreSQL", err, errlen);
}

/* Runs sql (with the channel as $1 when given). Returns the result, or NULL (cleared). */
static PGresult *pg_run(PGconn *c, const char *sql, const char *channel)
{
    PGresult *res = channel ? lib.PQexecParams(c, sql, 1, NULL, &channel, NULL, NULL, 0) : lib.PQexec(c, sql);
    ExecStatusType st = lib.PQresultStatus(res);

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    lib.PQclear(res);
    return NULL;
}

static void *pg_open(const struct archive_url *u, char *err, size_t errlen)
{
    const char *keys[] = {"dbname", "connect_timeout", NULL}, *values[] = {u->uri, "2", NULL};
    PGconn *c = lib.PQconnectdbParams(keys, values, 1);
    PGresult *res = NULL;

    if (lib.PQstatus(c) == CONNECTION_OK &&
        (res = pg_run(c, "SET statement_timeout = 5000; SET client_encoding = 'UTF8'", NULL))) {
        lib.PQclear(res);
        return c;
    }
    snprintf(err, errlen, "postgresql: %s", c ? lib.PQerrorMessage(c) : "out of memory");
    err[strcspn(err, "\n")] = 0;
    lib.PQfinish(c);
    return NULL;
}

static int pg_bounds(void *db, long long *floor_ms, struct cursor *newest)
{
    PGresult *res = pg_run(db, archive_read_bounds_sql, NULL);
    int rows;

    if (!res)
        return -1;
    rows = lib.PQntuples(res) == 1 && !lib.PQgetisnull(res, 0, 0) && !lib.PQgetisnull(res, 0, 2);
    if (rows) {
        *floor_ms = strtoll(lib.PQgetvalue(res, 0, 0), NULL, 10);
        newest->ms = strtoull(lib.PQgetvalue(res, 0, 1), NULL, 10);
        newest->n = strtoull(lib.PQgetvalue(res, 0, 2), NULL, 10);
    }
    lib.PQclear(res);
    return rows;
}

static int pg_rows(void *db, const char *channel, const struct archive_query *q, void *ctx)
{
    char sql[512];
    PGresult *res;

    archive_read_sql(sql, sizeof sql, "$1", q);
    if (!(res = pg_run(db, sql, channel)))
        return -1;
    for (int i = 0; i < lib.PQntuples(res); i++)
        archive_read_row(ctx, strtoll(lib.PQgetvalue(res, i, 0), NULL, 10), strtoll(lib.PQgetvalue(res, i, 1), NULL, 10),
                         lib.PQgetvalue(res, i, 2), (size_t)lib.PQgetlength(res, i, 2));
    lib.PQclear(res);
    return 0;
}

static const char *pg_error(void *db)
{
    return lib.PQerrorMessage(db);
}

static void pg_close(void *db)
{
    lib.PQfinish(db);
}

const struct archive_backend archive_read_postgresql = {
    "postgresql", pg_load, pg_open, pg_bounds, pg_rows, pg_error, pg_close,
};
