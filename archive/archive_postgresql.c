/* archive_postgresql: the archive on a PostgreSQL server (libpq), reached by the URI of
 * COMET_ARCHIVE as libpq reads it; each batch one transaction of multi-row INSERTs with
 * parameters. What a batch is and when it is written is the writer's business. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_driver.h"
#include "buf.h"
#include "postgresql_sql.h" /* generated from sql/postgresql.sql */
#include "xalloc.h"

#define PG_ROWS_MAX 1000 /* rows of one INSERT: 4 parameters each, libpq allows 65535 */

struct pg_archive {
    struct archive base;
    PGconn *conn;
};

/* Notes libpq's message (its last line, without the newline). Returns -1. */
static int fail(struct pg_archive *p, const char *what, const PGresult *res)
{
    const char *m = res ? PQresultErrorMessage(res) : "";
    size_t n;

    if (!*m)
        m = PQerrorMessage(p->conn);
    n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    return archive_fail(&p->base, "postgresql: %s: %.*s", what, (int)n, m);
}

int archive_postgresql_check(const char *uri, char *err, size_t errlen)
{
    char *msg = NULL;
    PQconninfoOption *o = PQconninfoParse(uri, &msg);

    if (o) {
        PQconninfoFree(o);
        return 0;
    }
    snprintf(err, errlen, "COMET_ARCHIVE: not a PostgreSQL URI libpq accepts: %s", msg ? msg : "out of memory");
    if (msg) {
        err[strcspn(err, "\n")] = 0;
        PQfreemem(msg);
    }
    return -1;
}

static struct archive *pg_open(const struct archive_url *u, char *err, size_t errlen)
{
    struct pg_archive *p = xcalloc(1, sizeof *p);

    p->conn = PQconnectdb(u->uri);
    if (PQstatus(p->conn) != CONNECTION_OK || PQsetClientEncoding(p->conn, "UTF8") != 0) {
        snprintf(err, errlen, "postgresql: %s", p->conn ? PQerrorMessage(p->conn) : "out of memory");
        err[strcspn(err, "\n")] = 0;
        PQfinish(p->conn);
        free(p);
        return NULL;
    }
    return &p->base;
}

/* Runs sql (several statements allowed when params is NULL). Returns 0 when it answered
 * ok (rows or none), else -1. */
static int run(struct pg_archive *p, const char *what, const char *sql, int n, const char *const *params,
               PGresult **out)
{
    PGresult *res = n ? PQexecParams(p->conn, sql, n, NULL, params, NULL, NULL, 0) : PQexec(p->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : fail(p, what, res);

    if (out && rc == 0)
        *out = res;
    else
        PQclear(res);
    return rc;
}

static int pg_exec(struct archive *a, const char *sql)
{
    return run((struct pg_archive *)a, "statement", sql, 0, NULL, NULL);
}

static long long pg_query_int(struct archive *a, const char *sql)
{
    PGresult *res = NULL;
    long long v;

    if (run((struct pg_archive *)a, "query", sql, 0, NULL, &res) < 0)
        return -1;
    v = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? atoll(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return v;
}

/* One INSERT of rows[0..n), n at most PG_ROWS_MAX, every value a text parameter. */
static int insert_some(struct pg_archive *p, const struct archive_row *rows, size_t n)
{
    const char **params = xcalloc(n * 4, sizeof *params);
    char (*nums)[2][24] = xcalloc(n, sizeof *nums), ph[64];
    struct buf sql = {0};
    int rc;

    buf_puts(&sql, "INSERT INTO comet_events (channel, ms, seq, envelope) VALUES ");
    for (size_t i = 0; i < n; i++) {
        snprintf(nums[i][0], sizeof nums[i][0], "%lld", rows[i].ms);
        snprintf(nums[i][1], sizeof nums[i][1], "%lld", rows[i].seq);
        params[i * 4] = rows[i].channel;
        params[i * 4 + 1] = nums[i][0];
        params[i * 4 + 2] = nums[i][1];
        params[i * 4 + 3] = rows[i].env; /* NUL-terminated: a reply string */
        snprintf(ph, sizeof ph, "%s($%zu, $%zu, $%zu, $%zu)", i ? ", " : "", i * 4 + 1, i * 4 + 2, i * 4 + 3,
                 i * 4 + 4);
        buf_puts(&sql, ph);
    }
    buf_puts(&sql, " ON CONFLICT DO NOTHING");
    rc = run(p, "insert", sql.s, (int)n * 4, params, NULL);
    buf_free(&sql);
    free(nums);
    free(params);
    return rc;
}

static int pg_insert(struct archive *a, const struct archive_row *rows, size_t n)
{
    struct pg_archive *p = (struct pg_archive *)a;
    size_t i = 0;

    if (run(p, "begin", "BEGIN", 0, NULL, NULL) < 0)
        return -1;
    for (; i < n; i += PG_ROWS_MAX)
        if (insert_some(p, rows + i, n - i < PG_ROWS_MAX ? n - i : PG_ROWS_MAX) < 0)
            break;
    if (i >= n && run(p, "commit", "COMMIT", 0, NULL, NULL) == 0)
        return 0;
    PQclear(PQexec(p->conn, "ROLLBACK"));
    return -1;
}

static long long pg_prune(struct archive *a, long long before_ms, int limit)
{
    struct pg_archive *p = (struct pg_archive *)a;
    char ms[24], lim[16];
    PGresult *res = NULL;
    long long n;

    snprintf(ms, sizeof ms, "%lld", before_ms);
    snprintf(lim, sizeof lim, "%d", limit);
    if (run(p, "prune", "DELETE FROM comet_events WHERE ctid IN (SELECT ctid FROM comet_events "
                        "WHERE ms < $1 ORDER BY ms LIMIT $2)", 2, (const char *const[]){ms, lim}, &res) < 0)
        return -1;
    n = atoll(PQcmdTuples(res));
    PQclear(res);
    return n;
}

static void pg_close(struct archive *a)
{
    struct pg_archive *p = (struct pg_archive *)a;

    PQfinish(p->conn);
    free(p);
}

const struct archive_driver archive_postgresql_driver = {
    "postgresql", postgresql_sql,
    "SELECT CASE WHEN to_regclass('comet_schema') IS NULL THEN 0 ELSE 1 END",
    pg_open, pg_exec, pg_query_int, pg_insert, pg_prune, pg_close,
};
