/* archive_url: parses COMET_ARCHIVE into its parts. Connecting is the archive drivers'
 * business (archive/), and so is what libpq makes of a PostgreSQL URI. */
#include "archive_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MYSQL_FORM "mysql://USER:PASS@HOST[:PORT]/DB[?socket=PATH]"

static int hex(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s[0..len) into out (size bytes). Returns 0, or -1 when it does not fit,
 * holds a bad escape or decodes to a NUL. */
static int decode(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0)
                return -1;
            c = hex(s[i + 1]) * 16 + hex(s[i + 2]);
            i += 2;
        }
        if (c == 0 || o + 1 >= size)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return 0;
}

/* HOST[:PORT] from s[0..len): a name or an IPv4 address, a port from 1 to 65535. */
static int host_port(const char *s, size_t len, struct archive_url *u)
{
    const char *colon = memchr(s, ':', len);
    size_t hlen = colon ? (size_t)(colon - s) : len;
    char port[8];
    char *end;
    long p;

    if (hlen == 0 || hlen >= sizeof u->host || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") < hlen)
        return -1;
    memcpy(u->host, s, hlen);
    u->host[hlen] = 0;
    if (!colon)
        return 0;
    len -= hlen + 1;
    if (len == 0 || len >= sizeof port)
        return -1;
    memcpy(port, colon + 1, len);
    port[len] = 0;
    p = strtol(port, &end, 10);
    if (*end || port[0] < '1' || port[0] > '9' || p > 65535)
        return -1;
    u->port = (int)p;
    return 0;
}

/* The part of a mysql URL after "mysql://"; why names what is wrong. */
static int parse_mysql(const char *s, struct archive_url *u, const char **why)
{
    const char *slash = strchr(s, '/'), *at, *colon, *q;

    *why = "USER:PASS@HOST missing";
    if (!slash || !(at = memchr(s, '@', (size_t)(slash - s))))
        return -1;
    for (const char *a = at + 1; a < slash; a++)
        if (*a == '@')
            at = a; /* the last @ before the path: an unescaped @ stays in the password */
    colon = memchr(s, ':', (size_t)(at - s));
    *why = "bad USER or PASS (percent-encode : @ / ? %)";
    if (!colon || colon == s || decode(s, (size_t)(colon - s), u->user, sizeof u->user) < 0 ||
        decode(colon + 1, (size_t)(at - colon - 1), u->password, sizeof u->password) < 0)
        return -1;
    *why = "bad HOST[:PORT]";
    if (host_port(at + 1, (size_t)(slash - at - 1), u) < 0)
        return -1;
    q = strchr(slash + 1, '?');
    *why = "bad DB";
    if (decode(slash + 1, q ? (size_t)(q - slash - 1) : strlen(slash + 1), u->db, sizeof u->db) < 0 || !u->db[0] ||
        strchr(u->db, '/'))
        return -1;
    *why = "the only option is ?socket=PATH";
    if (q && (strncmp(q, "?socket=", 8) != 0 || decode(q + 8, strlen(q + 8), u->path, sizeof u->path) < 0 ||
              u->path[0] != '/'))
        return -1;
    return 0;
}

int archive_url_parse(const char *s, struct archive_url *u, char *err, size_t errlen)
{
    const char *why = NULL;

    memset(u, 0, sizeof *u);
    if (!s || !*s)
        return 0;
    if (strncmp(s, "sqlite:", 7) == 0) {
        u->kind = ARCHIVE_SQLITE;
        if (s[7] && strlen(s + 7) < sizeof u->path) {
            strcpy(u->path, s + 7);
            return 0;
        }
        snprintf(err, errlen, "COMET_ARCHIVE=%.200s: expected sqlite:PATH (a file name of at most %zu bytes)", s,
                 sizeof u->path - 1);
        return -1;
    }
    if (strncmp(s, "mysql://", 8) == 0) {
        u->kind = ARCHIVE_MYSQL;
        if (parse_mysql(s + 8, u, &why) == 0)
            return 0;
        memset(u->password, 0, sizeof u->password);
        snprintf(err, errlen, "COMET_ARCHIVE: expected " MYSQL_FORM ": %s", why);
        return -1;
    }
    if (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0) {
        u->kind = ARCHIVE_POSTGRESQL;
        u->uri = s;
        return 0;
    }
    snprintf(err, errlen, "COMET_ARCHIVE: expected sqlite:PATH, " MYSQL_FORM " or postgresql://… (libpq's URI)");
    return -1;
}
