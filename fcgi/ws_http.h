/* ws_http: the HTTP/1.1 side of a WebSocket connection (RFC 6455 section 4): the
 * request head of an upgrade, its checks (upgrade headers, Origin), and the accept key
 * of the 101 answer. Pure but for the key's SHA-1, which is libcrypto's. */
#ifndef COMET_WS_HTTP_H
#define COMET_WS_HTTP_H

#include <stddef.h>

#include "buf.h"
#include "config.h"

#define WS_HEAD_MAX 16384 /* bytes of a request head: COMET_MAX_QUERY (at most 8192) and headers */

/* A request head; every string points into storage, NULL when absent. */
struct ws_head {
    char *storage;
    const char *method, *target; /* request line; target is the path with its query */
    const char *host, *origin, *upgrade, *connection, *key, *version, *cookie, *authorization;
    const char *forwarded; /* X-Forwarded-For, which the web server in front sets */
};

/* The length of the head at the start of buf[0..len) through its blank line, 0 while
 * it is incomplete, -1 when it is longer than WS_HEAD_MAX. */
long ws_head_end(const char *buf, size_t len);

/* Parses the head buf[0..len) (as ws_head_end measured it) into h. Returns 0, or -1
 * when it is not an HTTP/1.1 request head. h must be freed with ws_head_free either way. */
int ws_head_parse(const char *buf, size_t len, struct ws_head *h);
void ws_head_free(struct ws_head *h);

/* Keeps of h only what an upgraded connection's ops read again (cookie, authorization),
 * in storage of their size: a socket holds no more of its head for its life. */
void ws_head_keep(struct ws_head *h);

/* NULL when h asks for a WebSocket of version 13, else what is missing, for a 400. */
const char *ws_head_upgrade_error(const struct ws_head *h);

/* 1 when the page's Origin may open a socket: no Origin (not a browser), the request's
 * own host, or an origin of COMET_CORS_ORIGINS. Browsers send cookies on cross-site
 * upgrades, so any other page must be refused. */
int ws_head_origin_ok(const struct ws_head *h, const struct config *cfg);

/* The client address: the last of X-Forwarded-For (the one the web server in front
 * added), else peer (the socket's peer address, or "-"). Points into h or at peer. */
const char *ws_head_addr(const struct ws_head *h, const char *peer);

/* Appends to out the HTTP/1.1 response of CGI answer cgi[0..len) (a handler's refusal,
 * memreq.h), closing the connection; a 500 when cgi holds no head. */
void ws_http_answer(struct buf *out, const char *cgi, size_t len);

/* Loads libcrypto's SHA-1 (on the hub thread, once it works). Returns 0, or -1 with a
 * message in err (also logged). */
int ws_accept_init(char *err, size_t errlen);

/* Writes the Sec-WebSocket-Accept of key (base64 of SHA-1 of key and the RFC's GUID,
 * 28 characters and a NUL) into out. ws_accept_init must have succeeded. */
void ws_accept_key(const char *key, char out[29]);

#endif
