/* Unit tests of COMET_ARCHIVE parsing: the forms, percent-decoding, and refusals that
 * name the variable without repeating a password. */
#include <string.h>

#include "archive_url.h"
#include "check.h"

static const struct {
    const char *s;
    int ok;
    enum archive_kind kind;
    const char *user, *password, *host, *db, *path;
    int port;
} cases[] = {
    {"", 1, ARCHIVE_OFF, "", "", "", "", "", 0},
    {"sqlite:/var/lib/comet/archive.db", 1, ARCHIVE_SQLITE, "", "", "", "", "/var/lib/comet/archive.db", 0},
    {"sqlite:", 0, ARCHIVE_SQLITE, NULL, NULL, NULL, NULL, NULL, 0},
    {"mysql://u:p@db.example.com:3307/site", 1, ARCHIVE_MYSQL, "u", "p", "db.example.com", "site", "", 3307},
    {"mysql://u:p@127.0.0.1/site", 1, ARCHIVE_MYSQL, "u", "p", "127.0.0.1", "site", "", 0},
    {"mysql://u:p%40ss%3A%2F@localhost/site?socket=/run/mysqld/mysqld.sock", 1, ARCHIVE_MYSQL, "u", "p@ss:/",
     "localhost", "site", "/run/mysqld/mysqld.sock", 0},
    {"mysql://u:p@ss@localhost/site", 1, ARCHIVE_MYSQL, "u", "p@ss", "localhost", "site", "", 0},
    {"mysql://u:@localhost/site", 1, ARCHIVE_MYSQL, "u", "", "localhost", "site", "", 0},
    {"mysql://u@localhost/site", 0, ARCHIVE_MYSQL, NULL, NULL, NULL, NULL, NULL, 0},
    {"mysql://u:p@localhost/", 0, ARCHIVE_MYSQL, NULL, NULL, NULL, NULL, NULL, 0},
    {"mysql://u:p@localhost:0/site", 0, ARCHIVE_MYSQL, NULL, NULL, NULL, NULL, NULL, 0},
    {"mysql://u:p@localhost:65536/site", 0, ARCHIVE_MYSQL, NULL, NULL, NULL, NULL, NULL, 0},
    {"mysql://u:p@localhost/site?socket=relative", 0, ARCHIVE_MYSQL, NULL, NULL, NULL, NULL, NULL, 0},
    {"mysql://u:p@localhost/site?ssl=1", 0, ARCHIVE_MYSQL, NULL, NULL, NULL, NULL, NULL, 0},
    {"mysql://u:p%zz@localhost/site", 0, ARCHIVE_MYSQL, NULL, NULL, NULL, NULL, NULL, 0},
    {"mysql://u:p%00@localhost/site", 0, ARCHIVE_MYSQL, NULL, NULL, NULL, NULL, NULL, 0},
    {"mysql://u:p@/site", 0, ARCHIVE_MYSQL, NULL, NULL, NULL, NULL, NULL, 0},
    {"postgresql://u:p@localhost/comet", 1, ARCHIVE_POSTGRESQL, "", "", "", "", "", 0},
    {"postgres://localhost/comet", 1, ARCHIVE_POSTGRESQL, "", "", "", "", "", 0},
    {"redis://localhost", 0, ARCHIVE_OFF, NULL, NULL, NULL, NULL, NULL, 0},
    {"SQLITE:/x", 0, ARCHIVE_OFF, NULL, NULL, NULL, NULL, NULL, 0},
};

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct archive_url u;
        char err[512] = "";
        int rc = archive_url_parse(cases[i].s, &u, err, sizeof err);
        CHECK((rc == 0) == cases[i].ok, "%s: rc %d (%s)", cases[i].s, rc, err);
        if (!cases[i].ok) {
            CHECK(strncmp(err, "COMET_ARCHIVE", 13) == 0, "%s: message names the variable: %s", cases[i].s, err);
            CHECK(!strstr(err, ":p@") && !strstr(err, "p%"), "%s: message repeats the password: %s", cases[i].s, err);
            continue;
        }
        CHECK(u.kind == cases[i].kind, "%s: kind %d", cases[i].s, (int)u.kind);
        CHECK(strcmp(u.user, cases[i].user) == 0 && strcmp(u.password, cases[i].password) == 0 &&
                  strcmp(u.host, cases[i].host) == 0 && strcmp(u.db, cases[i].db) == 0 &&
                  strcmp(u.path, cases[i].path) == 0 && u.port == cases[i].port,
              "%s: user %s password %s host %s db %s path %s port %d", cases[i].s, u.user, u.password, u.host,
              u.db, u.path, u.port);
        if (u.kind == ARCHIVE_POSTGRESQL)
            CHECK(u.uri == cases[i].s, "%s: the URI is passed as it is", cases[i].s);
    }
    return check_done("archive_url");
}
