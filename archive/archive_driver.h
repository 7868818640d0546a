/* archive_driver: what each backend provides to archive.c; private to archive/. A
 * backend's own struct begins with struct archive, so the two convert both ways. */
#ifndef COMET_ARCHIVE_DRIVER_H
#define COMET_ARCHIVE_DRIVER_H

#include <stdarg.h>

#include "archive.h"

struct archive_driver {
    const char *name;
    const char *schema;     /* sql/<name>.sql: every statement, applied at once */
    const char *has_schema; /* a query answering 1 when the version table exists, else 0 */
    struct archive *(*open)(const struct archive_url *u, char *err, size_t errlen);
    /* Runs statements that answer no rows; 0 or -1. */
    int (*exec)(struct archive *a, const char *sql);
    /* The first column of the first row as a number: 0 for none or NULL, -1 on an error. */
    long long (*query_int)(struct archive *a, const char *sql);
    int (*insert)(struct archive *a, const struct archive_row *rows, size_t n);
    long long (*prune)(struct archive *a, long long before_ms, int limit);
    void (*close)(struct archive *a);
};

struct archive {
    const struct archive_driver *drv;
    char err[512];
};

extern const struct archive_driver archive_sqlite_driver, archive_mysql_driver, archive_postgresql_driver;

/* Notes a's last error (printf-style). Returns -1, for `return archive_fail(…)`. */
int archive_fail(struct archive *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* libpq's check of a PostgreSQL URI (archive_postgresql.c). */
int archive_postgresql_check(const char *uri, char *err, size_t errlen);

#endif
