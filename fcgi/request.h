/* request: what every handler reads from a FastCGI request: method, endpoint, and
 * the subscribe parameters shared by long-poll and SSE. */
#ifndef COMET_REQUEST_H
#define COMET_REQUEST_H

#include <fcgiapp.h>

#include "config.h"
#include "query.h"
#include "wait.h"

/* The last segment of the request path ("poll" for /comet/poll?x), written into buf
 * (size len). Routes the same under mod_fcgid, mod_proxy_fcgi and lighttpd. */
void request_endpoint(FCGX_Request *req, char *buf, size_t len);

/* 1 when the method is `method`; otherwise answers 405 with Allow and returns 0. */
int request_method(FCGX_Request *req, const char *method);

/* Reads stdin to EOF, so the FastCGI connection becomes readable only on hang-up. */
void request_drain(FCGX_Request *req);

/* The kind of a waiting request: a long-poll, or a stream of a frame kind. */
#define REQUEST_POLL (-1)

/* How long a waiting request may wait. */
struct request_span {
    int seconds;        /* a poll's timeout or a stream's lifetime */
    long long deadline; /* on wait_clock_ms's clock: seconds from arrival, or earlier when
                         * the credentials expire first */
    int expiring;       /* 1 when the deadline is the credentials' expiry */
};

/* Reads a waiting request (GET, at least one channel, a valid callback where the kind
 * takes one, credentials for private channels), resolves its resume point into
 * q->since: for streams Last-Event-ID (what EventSource sends on reconnect), else
 * lastEventId (polyfills), else since; and how long it may wait into *span. Returns 0,
 * or -1 after answering 400, 401, 403 or 405 (q must be freed with query_free either
 * way). */
int request_waiting(FCGX_Request *req, const struct config *cfg, int kind, struct query *q,
                    struct request_span *span);

/* Takes the place name among the client address's waiting requests (when
 * COMET_MAX_WAITING_PER_ADDR is set) for seconds, on the cached command connection.
 * Returns 0, or -1 after answering 429 (the address holds its most) or 503 (Redis). */
int request_admit(FCGX_Request *req, const struct config *cfg, const char *name, int seconds);

/* Opens the wait of a one-request-per-process request for seconds (see wait_open),
 * admitted first (request_admit). Returns the waiter, or NULL after answering 429 or
 * 503. */
struct waiter *request_wait_open(FCGX_Request *req, const struct config *cfg, const struct query *q, int seconds);

#endif
