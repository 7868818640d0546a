/* archive: the durable SQL archive of stored events, one interface over SQLite,
 * MariaDB/MySQL and PostgreSQL (one file per backend: archive_sqlite.c, archive_mysql.c,
 * archive_postgresql.c). Linked into comet-worker only: comet.fcgi never pays for the
 * database libraries. An archive is one connection, used by one thread; after any failed
 * call, close it and open a new one. */
#ifndef COMET_ARCHIVE_H
#define COMET_ARCHIVE_H

#include <stddef.h>

#include "archive_url.h"

/* The schema version this build writes: sql/<backend>.sql's, and what the writer requires. */
#define ARCHIVE_SCHEMA_VERSION 1

struct archive;

/* One archived event: its channel, the two halves of its id, its envelope (borrowed). */
struct archive_row {
    const char *channel;
    long long ms, seq;
    const char *env;
    size_t len;
};

/* Checks what the database library alone can tell about u before connecting (libpq's
 * parse of a PostgreSQL URI). Returns 0, or -1 with a message naming COMET_ARCHIVE. */
int archive_check(const struct archive_url *u, char *err, size_t errlen);

/* Connects to the database u names. Returns a new archive (archive_close), or NULL with
 * why in err. */
struct archive *archive_open(const struct archive_url *u, char *err, size_t errlen);

/* The schema version the database holds: 0 when it has no schema, -1 on an error. */
int archive_version(struct archive *a);

/* Applies the schema (sql/<backend>.sql, compiled in) unless the database has it; a
 * database whose version is newer than ARCHIVE_SCHEMA_VERSION is left alone. Returns 1
 * when applied, 0 when it was there already, -1 on an error. Safe to run again. */
int archive_init(struct archive *a);

/* Inserts rows in one transaction and commits; a row whose event is there already is
 * skipped (the id is the key), so a batch written twice leaves each event once. Returns
 * 0 once committed, -1 when nothing was (rolled back). */
int archive_insert(struct archive *a, const struct archive_row *rows, size_t n);

/* Deletes at most limit events stored before before_ms, oldest first, in one statement.
 * Returns how many, or -1. */
long long archive_prune(struct archive *a, long long before_ms, int limit);

/* The last error's message (borrowed; "" when none). */
const char *archive_error(const struct archive *a);

/* The backend's name: "sqlite", "mysql" or "postgresql". */
const char *archive_name(const struct archive *a);

void archive_close(struct archive *a);

#endif
