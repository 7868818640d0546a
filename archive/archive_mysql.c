/* archive_mysql: the archive on a MariaDB or MySQL server (MariaDB Connector/C, which
 * talks to both), over TCP or a unix socket; each batch one transaction of multi-row
 * INSERTs. What a batch is and when it is written is the writer's business. */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_driver.h"
#include "buf.h"
#include "mysql_sql.h" /* generated from sql/mysql.sql */
#include "xalloc.h"

#define MYSQL_CONNECT_S 5 /* a server that does not answer is given up after this */
#define MYSQL_IO_S 30     /* nor a statement, once connected */
#define MYSQL_STATEMENT_MAX (1 << 20) /* bytes of one INSERT: well under max_allowed_packet */

struct mysql_archive {
    struct archive base;
    MYSQL *m;
};

static int fail(struct mysql_archive *s, const char *what)
{
    return archive_fail(&s->base, "mysql: %s: %s", what, mysql_error(s->m));
}

static struct archive *mysql_open(const struct archive_url *u, char *err, size_t errlen)
{
    struct mysql_archive *s = xcalloc(1, sizeof *s);
    unsigned int connect = MYSQL_CONNECT_S, io = MYSQL_IO_S;

    if (!(s->m = mysql_init(NULL))) {
        snprintf(err, errlen, "mysql: out of memory");
        free(s);
        return NULL;
    }
    mysql_options(s->m, MYSQL_OPT_CONNECT_TIMEOUT, &connect);
    mysql_options(s->m, MYSQL_OPT_READ_TIMEOUT, &io);
    mysql_options(s->m, MYSQL_OPT_WRITE_TIMEOUT, &io);
    mysql_options(s->m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* Multiple statements: the schema is applied as one script. */
    if (!mysql_real_connect(s->m, u->host, u->user, u->password, u->db, (unsigned)u->port,
                            u->path[0] ? u->path : NULL, CLIENT_MULTI_STATEMENTS)) {
        snprintf(err, errlen, "mysql: %s", mysql_error(s->m));
        mysql_close(s->m);
        free(s);
        return NULL;
    }
    return &s->base;
}

/* Reads and frees every result of the statement(s) just sent. Returns 0 or -1. */
static int drain(struct mysql_archive *s)
{
    int rc;

    do {
        MYSQL_RES *res = mysql_store_result(s->m);
        if (res)
            mysql_free_result(res);
        else if (mysql_errno(s->m))
            return fail(s, "statement");
    } while ((rc = mysql_next_result(s->m)) == 0);
    return rc > 0 ? fail(s, "statement") : 0;
}

static int mysql_exec(struct archive *a, const char *sql)
{
    struct mysql_archive *s = (struct mysql_archive *)a;

    if (mysql_query(s->m, sql) != 0)
        return fail(s, "statement");
    return drain(s);
}

static long long mysql_query_int(struct archive *a, const char *sql)
{
    struct mysql_archive *s = (struct mysql_archive *)a;
    MYSQL_RES *res;
    MYSQL_ROW row;
    long long v;

    if (mysql_query(s->m, sql) != 0 || !(res = mysql_store_result(s->m)))
        return fail(s, "query");
    row = mysql_fetch_row(res);
    v = row && row[0] ? atoll(row[0]) : 0;
    mysql_free_result(res);
    return v;
}

/* Appends r as "(…)" to an INSERT being built, escaped for the connection's charset. */
static void append_row(struct mysql_archive *s, struct buf *b, const struct archive_row *r, int first)
{
    size_t clen = strlen(r->channel);
    char *esc = xmalloc(2 * (r->len > clen ? r->len : clen) + 1);
    char nums[64];

    buf_puts(b, first ? " (" : ", (");
    buf_puts(b, "'");
    buf_append(b, esc, mysql_real_escape_string(s->m, esc, r->channel, clen));
    snprintf(nums, sizeof nums, "', %lld, %lld, '", r->ms, r->seq);
    buf_puts(b, nums);
    buf_append(b, esc, mysql_real_escape_string(s->m, esc, r->env, r->len));
    buf_puts(b, "')");
    free(esc);
}

/* INSERTs rows[0..n) as statements of at most MYSQL_STATEMENT_MAX bytes (one row may be
 * more). "ON DUPLICATE KEY UPDATE" skips an event that is there and only that, where
 * INSERT IGNORE would also turn other errors into warnings. Returns 0 or -1. */
static int insert_rows(struct mysql_archive *s, const struct archive_row *rows, size_t n)
{
    static const char head[] = "INSERT INTO comet_events (channel, ms, seq, envelope) VALUES";
    struct buf b = {0};
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        if (b.len == 0)
            buf_puts(&b, head);
        append_row(s, &b, &rows[i], b.len == sizeof head - 1);
        if (i + 1 == n || b.len >= MYSQL_STATEMENT_MAX) {
            buf_puts(&b, " ON DUPLICATE KEY UPDATE ms = ms");
            rc = mysql_real_query(s->m, b.s, b.len) == 0 ? 0 : fail(s, "insert");
            buf_reset(&b);
        }
    }
    buf_free(&b);
    return rc;
}

static int mysql_insert(struct archive *a, const struct archive_row *rows, size_t n)
{
    struct mysql_archive *s = (struct mysql_archive *)a;

    if (mysql_query(s->m, "START TRANSACTION") != 0)
        return fail(s, "begin");
    if (insert_rows(s, rows, n) == 0) {
        if (mysql_commit(s->m) == 0)
            return 0;
        fail(s, "commit");
    }
    mysql_rollback(s->m);
    return -1;
}

static long long mysql_prune(struct archive *a, long long before_ms, int limit)
{
    struct mysql_archive *s = (struct mysql_archive *)a;
    char sql[160];

    snprintf(sql, sizeof sql, "DELETE FROM comet_events WHERE ms < %lld ORDER BY ms LIMIT %d", before_ms, limit);
    if (mysql_query(s->m, sql) != 0)
        return fail(s, "prune");
    return (long long)mysql_affected_rows(s->m);
}

static void mysql_close_archive(struct archive *a)
{
    struct mysql_archive *s = (struct mysql_archive *)a;

    mysql_close(s->m);
    free(s);
}

const struct archive_driver archive_mysql_driver = {
    "mysql", mysql_sql,
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'comet_schema'",
    mysql_open, mysql_exec, mysql_query_int, mysql_insert, mysql_prune, mysql_close_archive,
};
