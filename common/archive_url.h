/* archive_url: what COMET_ARCHIVE names, parsed and checked: a SQLite file, a MariaDB/MySQL
 * server (TCP or unix socket), or a PostgreSQL URI that libpq reads as it is. Pure: no
 * I/O, no database library, so both binaries can check the setting at start. */
#ifndef COMET_ARCHIVE_URL_H
#define COMET_ARCHIVE_URL_H

#include <stddef.h>

enum archive_kind { ARCHIVE_OFF, ARCHIVE_SQLITE, ARCHIVE_MYSQL, ARCHIVE_POSTGRESQL };

struct archive_url {
    enum archive_kind kind;
    char path[1024];  /* sqlite: the database file; mysql: the unix socket, "" for TCP */
    char user[128], password[256], host[256], db[128]; /* mysql, percent-decoded */
    int port;         /* mysql: 0 for the client library's default */
    const char *uri;  /* postgresql: the whole setting, borrowed from the string parsed */
};

/* Parses s: "" (ARCHIVE_OFF), "sqlite:PATH", "mysql://USER:PASS@HOST[:PORT]/DB[?socket=PATH]"
 * (USER, PASS, DB and PATH percent-decoded, so a password may hold any byte) or
 * "postgresql://…"/"postgres://…" (checked by libpq when it connects). Returns 0, or -1
 * with a message in err that names COMET_ARCHIVE and never repeats a password. */
int archive_url_parse(const char *s, struct archive_url *u, char *err, size_t errlen);

#endif
