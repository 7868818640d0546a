/* archive_read_mysql: reading the archive on MariaDB/MySQL, with MariaDB Connector/C
 * loaded by soname (ARCHIVE_READ_MYSQL, from the Makefile) on first use. The channel is
 * escaped by the library into the one SELECT (it holds only A-Z a-z 0-9 _ - . : / @
 * anyway); the numbers are the query's own. */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_read_backend.h"

#define MYSQL_READ_CONNECT_S 2
#define MYSQL_READ_IO_S 5

#define MYSQL_FNS(X)                                                                                           \
    X(mysql_server_init) X(mysql_init) X(mysql_options) X(mysql_real_connect) X(mysql_real_escape_string)      \
    X(mysql_real_query) X(mysql_store_result) X(mysql_fetch_row) X(mysql_fetch_lengths) X(mysql_free_result)   \
    X(mysql_error) X(mysql_close)
#define DECLARE(f) __typeof__(f) *f;
#define LOAD(f) || archive_read_sym(h, #f, &lib.f) < 0

static struct {
    MYSQL_FNS(DECLARE)
    int ok;
} lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* The library's own set-up runs here, once: mysql_init would run it on first use, and
 * is not safe to call so from two threads at once. */
static void lib_open(void)
{
    void *h = archive_read_dlopen(ARCHIVE_READ_MYSQL);

    lib.ok = !(!h MYSQL_FNS(LOAD)) && lib.mysql_server_init(0, NULL, NULL) == 0;
}

static int mysql_load(char *err, size_t errlen)
{
    return archive_read_loaded(&lib_once, lib_open, &lib.ok, ARCHIVE_READ_MYSQL, "MySQL", err, errlen);
}

static void *mysql_open(const struct archive_url *u, char *err, size_t errlen)
{
    unsigned int connect = MYSQL_READ_CONNECT_S, io = MYSQL_READ_IO_S;
    MYSQL *m = lib.mysql_init(NULL);

    if (!m) {
        snprintf(err, errlen, "mysql: out of memory");
        return NULL;
    }
    lib.mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect);
    lib.mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &io);
    lib.mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!lib.mysql_real_connect(m, u->host, u->user, u->password, u->db, (unsigned)u->port,
                                u->path[0] ? u->path : NULL, 0)) {
        snprintf(err, errlen, "mysql: %s", lib.mysql_error(m));
        lib.mysql_close(m);
        return NULL;
    }
    return m;
}

/* Runs sql and hands each row to fn. Returns 0 or -1. */
static int mysql_each(MYSQL *m, const char *sql, void (*fn)(MYSQL_ROW row, unsigned long *len, void *arg),
                      void *arg)
{
    MYSQL_RES *res;
    MYSQL_ROW row;

    if (lib.mysql_real_query(m, sql, strlen(sql)) != 0 || !(res = lib.mysql_store_result(m)))
        return -1;
    while ((row = lib.mysql_fetch_row(res)))
        fn(row, lib.mysql_fetch_lengths(res), arg);
    lib.mysql_free_result(res);
    return 0;
}

struct bounds {
    long long *floor_ms;
    struct cursor *newest;
    int rows;
};

static void bounds_row(MYSQL_ROW row, unsigned long *len, void *arg)
{
    struct bounds *b = arg;

    (void)len;
    if (!row[0] || !row[1] || !row[2])
        return;
    b->rows = 1;
    *b->floor_ms = strtoll(row[0], NULL, 10);
    b->newest->ms = strtoull(row[1], NULL, 10);
    b->newest->n = strtoull(row[2], NULL, 10);
}

static int mysql_bounds(void *db, long long *floor_ms, struct cursor *newest)
{
    struct bounds b = {floor_ms, newest, 0};

    return mysql_each(db, archive_read_bounds_sql, bounds_row, &b) < 0 ? -1 : b.rows;
}

static void event_row(MYSQL_ROW row, unsigned long *len, void *ctx)
{
    archive_read_row(ctx, strtoll(row[0], NULL, 10), strtoll(row[1], NULL, 10), row[2], len[2]);
}

static int mysql_rows(void *db, const char *channel, const struct archive_query *q, void *ctx)
{
    char quoted[2 * 128 + 3], sql[640];
    size_t n = strlen(channel);

    if (n > 128)
        return -1;
    quoted[0] = '\'';
    n = lib.mysql_real_escape_string(db, quoted + 1, channel, n);
    memcpy(quoted + 1 + n, "'", 2);
    archive_read_sql(sql, sizeof sql, quoted, q);
    return mysql_each(db, sql, event_row, ctx);
}

static const char *mysql_error_of(void *db)
{
    return lib.mysql_error(db);
}

static void mysql_close_db(void *db)
{
    lib.mysql_close(db);
}

const struct archive_backend archive_read_mysql = {
    "mysql", mysql_load, mysql_open, mysql_bounds, mysql_rows, mysql_error_of, mysql_close_db,
};
