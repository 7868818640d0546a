/* ws_http: the upgrade's HTTP head, parsed in place of a copy; the accept key. SHA-1
 * is loaded from libcrypto by soname at start (as auth.c does for credentials), so
 * processes under mod_fcgid, which serve no WebSocket, never map it. */
#include "ws_http.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "memreq.h"
#include "pattern.h"
#include "xalloc.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static struct {
    __typeof__(SHA1) *sha1;
    __typeof__(EVP_EncodeBlock) *base64;
} lib;

long ws_head_end(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);

    if (end)
        return end + 4 - buf <= WS_HEAD_MAX ? end + 4 - buf : -1;
    return len >= WS_HEAD_MAX ? -1 : 0;
}

/* Sets the field of h that header name (of a request) fills to value; others are ignored. */
static void head_field(struct ws_head *h, const char *name, const char *value)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"host", offsetof(struct ws_head, host)},
        {"origin", offsetof(struct ws_head, origin)},
        {"upgrade", offsetof(struct ws_head, upgrade)},
        {"connection", offsetof(struct ws_head, connection)},
        {"sec-websocket-key", offsetof(struct ws_head, key)},
        {"sec-websocket-version", offsetof(struct ws_head, version)},
        {"cookie", offsetof(struct ws_head, cookie)},
        {"authorization", offsetof(struct ws_head, authorization)},
        {"x-forwarded-for", offsetof(struct ws_head, forwarded)},
    };

    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char **f = (const char **)((char *)h + fields[i].off);
        if (strcasecmp(name, fields[i].name) == 0 && !*f)
            *f = value;
    }
}

/* Parses one header line (NUL-terminated, in storage) into h. Returns 0 or -1. */
static int head_line(struct ws_head *h, char *line)
{
    char *colon = strchr(line, ':'), *space = strpbrk(line, " \t"), *v, *end;

    if (!colon || colon == line || (space && space < colon))
        return -1;
    *colon = 0;
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
        ;
    for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
        ;
    *end = 0;
    head_field(h, line, v);
    return 0;
}

/* Parses the request line "METHOD SP TARGET SP HTTP/1.1" (NUL-terminated). */
static int head_request(struct ws_head *h, char *line)
{
    char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

    if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strcmp(sp2 + 1, "HTTP/1.1") != 0)
        return -1;
    *sp1 = *sp2 = 0;
    h->method = line;
    h->target = sp1 + 1;
    return 0;
}

int ws_head_parse(const char *buf, size_t len, struct ws_head *h)
{
    char *line, *next;

    memset(h, 0, sizeof *h);
    if (len < 4 || memchr(buf, 0, len))
        return -1;
    h->storage = xmalloc(len + 1);
    memcpy(h->storage, buf, len);
    h->storage[len - 2] = 0; /* the last CRLF: lines end at each CRLF before it */
    for (line = h->storage; *line; line = next) {
        char *crlf = strstr(line, "\r\n");
        next = crlf ? crlf + 2 : line + strlen(line);
        if (crlf)
            *crlf = 0;
        if (strchr(line, '\r') || strchr(line, '\n'))
            return -1;
        if (line == h->storage ? head_request(h, line) < 0 : head_line(h, line) < 0)
            return -1;
    }
    return h->method ? 0 : -1;
}

void ws_head_keep(struct ws_head *h)
{
    size_t clen = h->cookie ? strlen(h->cookie) + 1 : 0, alen = h->authorization ? strlen(h->authorization) + 1 : 0;
    char *kept = clen + alen ? xmalloc(clen + alen) : NULL;
    const char *cookie = clen ? memcpy(kept, h->cookie, clen) : NULL;
    const char *authorization = alen ? memcpy(kept + clen, h->authorization, alen) : NULL;

    ws_head_free(h);
    h->storage = kept;
    h->cookie = cookie;
    h->authorization = authorization;
}

void ws_head_free(struct ws_head *h)
{
    free(h->storage);
    memset(h, 0, sizeof *h);
}

/* 1 when the comma-separated list holds token, in any case. */
static int has_token(const char *list, const char *token)
{
    size_t n = strlen(token);

    for (const char *p = list; p && *p; p += strcspn(p, ",")) {
        p += strspn(p, ", \t");
        if (strncasecmp(p, token, n) == 0 && (p[n] == 0 || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
            return 1;
    }
    return 0;
}

const char *ws_head_upgrade_error(const struct ws_head *h)
{
    if (strcmp(h->method, "GET") != 0)
        return "use GET here";
    if (!has_token(h->upgrade, "websocket") || !has_token(h->connection, "upgrade"))
        return "this is a WebSocket endpoint: send Upgrade: websocket and Connection: Upgrade";
    if (!h->version || strcmp(h->version, "13") != 0)
        return "Sec-WebSocket-Version: only 13 is served";
    if (!h->key || strlen(h->key) != 24 || strcmp(h->key + 22, "==") != 0)
        return "Sec-WebSocket-Key: 16 bytes in base64 are required";
    return NULL;
}

int ws_head_origin_ok(const struct ws_head *h, const struct config *cfg)
{
    const char *at = h->origin ? strstr(h->origin, "://") : NULL;

    if (!h->origin)
        return 1;
    if (at && h->host && strcasecmp(at + 3, h->host) == 0)
        return 1;
    return pattern_list_match(cfg->cors_origins, h->origin);
}

const char *ws_head_addr(const struct ws_head *h, const char *peer)
{
    const char *last = h->forwarded ? strrchr(h->forwarded, ',') : NULL;

    if (!h->forwarded || !*h->forwarded)
        return peer;
    last = last ? last + 1 : h->forwarded;
    return last + strspn(last, " \t");
}

void ws_http_answer(struct buf *out, const char *cgi, size_t len)
{
    const char *body;
    size_t blen;
    char line[96];

    if (memreq_status(cgi, len, &body, &blen) < 0 || memcmp(cgi, "Status: ", 8) != 0) {
        buf_puts(out, "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    buf_puts(out, "HTTP/1.1 ");
    buf_append(out, cgi + 8, (size_t)(body - 2 - (cgi + 8))); /* the status line and headers */
    snprintf(line, sizeof line, "Connection: close\r\nContent-Length: %zu\r\n\r\n", blen);
    buf_puts(out, line);
    buf_append(out, body, blen);
}

int ws_accept_init(char *err, size_t errlen)
{
    void *crypto;

    if (lib.sha1)
        return 0;
    if ((crypto = dlopen(AUTH_LIBCRYPTO, RTLD_NOW | RTLD_LOCAL))) {
        void *sha1 = dlsym(crypto, "SHA1"), *base64 = dlsym(crypto, "EVP_EncodeBlock");
        memcpy(&lib.sha1, &sha1, sizeof sha1);
        memcpy(&lib.base64, &base64, sizeof base64);
    }
    if (!lib.sha1 || !lib.base64) {
        snprintf(err, errlen, "cannot load %s for the WebSocket handshake: %s", AUTH_LIBCRYPTO, dlerror());
        log_error("%s", err);
        lib.sha1 = NULL;
        return -1;
    }
    return 0;
}

void ws_accept_key(const char *key, char out[29])
{
    char text[64 + sizeof WS_GUID];
    unsigned char md[SHA_DIGEST_LENGTH];

    snprintf(text, sizeof text, "%.60s%s", key, WS_GUID);
    lib.sha1((const unsigned char *)text, strlen(text), md);
    lib.base64((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}
