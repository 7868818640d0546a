/* archive: the interface's one entry point: picks the backend that COMET_ARCHIVE names,
 * and what is the same for all of them (the schema version, applying the schema). How a
 * backend talks to its database is its own file's business. */
#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_driver.h"

static const struct archive_driver *driver(enum archive_kind kind)
{
    switch (kind) {
    case ARCHIVE_SQLITE:
        return &archive_sqlite_driver;
    case ARCHIVE_MYSQL:
        return &archive_mysql_driver;
    case ARCHIVE_POSTGRESQL:
#ifndef ARCHIVE_NO_POSTGRESQL
        return &archive_postgresql_driver;
#else
        break;
#endif
    case ARCHIVE_OFF:
        break;
    }
    return NULL;
}

int archive_fail(struct archive *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(a->err, sizeof a->err, fmt, ap);
    va_end(ap);
    return -1;
}

int archive_check(const struct archive_url *u, char *err, size_t errlen)
{
#ifndef ARCHIVE_NO_POSTGRESQL
    if (u->kind == ARCHIVE_POSTGRESQL)
        return archive_postgresql_check(u->uri, err, errlen);
#else
    if (u->kind == ARCHIVE_POSTGRESQL) {
        snprintf(err, errlen, "COMET_ARCHIVE: this static comet-worker has no PostgreSQL client (make static); "
                              "use sqlite: or mysql://, or the dynamically linked build");
        return -1;
    }
#endif
    return 0;
}

struct archive *archive_open(const struct archive_url *u, char *err, size_t errlen)
{
    const struct archive_driver *d = driver(u->kind);
    struct archive *a;

    if (!d) {
        snprintf(err, errlen, "COMET_ARCHIVE is not set");
        return NULL;
    }
    if ((a = d->open(u, err, errlen)))
        a->drv = d;
    return a;
}

int archive_version(struct archive *a)
{
    long long has = a->drv->query_int(a, a->drv->has_schema), v;

    if (has <= 0)
        return (int)has;
    v = a->drv->query_int(a, "SELECT MAX(version) FROM comet_schema");
    return v > 1000000 ? archive_fail(a, "schema version %lld: not a version", v) : (int)v;
}

int archive_init(struct archive *a)
{
    int v = archive_version(a);

    if (v < 0)
        return -1;
    if (v > ARCHIVE_SCHEMA_VERSION)
        return archive_fail(a, "the database's schema is version %d, newer than this comet-worker's (%d)", v,
                            ARCHIVE_SCHEMA_VERSION);
    if (v == ARCHIVE_SCHEMA_VERSION)
        return 0;
    /* Version 0: no schema yet. Upgrades (v < ARCHIVE_SCHEMA_VERSION) will apply
     * sql/migrations/<N>.<backend>.sql here, in order, each setting its version. */
    if (a->drv->exec(a, a->drv->schema) < 0 || (v = archive_version(a)) < 0)
        return -1;
    return v == ARCHIVE_SCHEMA_VERSION ? 1 : archive_fail(a, "the schema was applied, yet its version reads %d", v);
}

int archive_insert(struct archive *a, const struct archive_row *rows, size_t n)
{
    return n ? a->drv->insert(a, rows, n) : 0;
}

long long archive_prune(struct archive *a, long long before_ms, int limit)
{
    return a->drv->prune(a, before_ms, limit);
}

const char *archive_error(const struct archive *a)
{
    return a->err;
}

const char *archive_name(const struct archive *a)
{
    return a->drv->name;
}

void archive_close(struct archive *a)
{
    if (a)
        a->drv->close(a);
}
