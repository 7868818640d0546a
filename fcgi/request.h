/* request: what every handler reads from a FastCGI request: method, endpoint, and for
 * a waiting request (long-poll or a stream) its parameters, credentials, resume point,
 * length and admission, the same in both process models. Every answer it gives itself
 * carries the request's CORS lines (cors, NULL for none). */
#ifndef COMET_REQUEST_H
#define COMET_REQUEST_H

#include <fcgiapp.h>

#include "auth.h"
#include "config.h"
#include "frame.h"
#include "proc.h"
#include "query.h"
#include "store.h"
#include "session.h"

/* The last segment of the request path ("poll" for /comet/poll?x), written into buf
 * (size len). Routes the same under mod_fcgid, mod_proxy_fcgi and lighttpd. */
void request_endpoint(FCGX_Request *req, char *buf, size_t len);

/* 1 when the method is `method`; otherwise answers 405 with Allow and returns 0. */
int request_method(FCGX_Request *req, const char *cors, const char *method);

/* Reads stdin to EOF, so the FastCGI connection becomes readable only on hang-up. */
void request_drain(FCGX_Request *req);

/* Reads what every reader of channels sends (a waiting request, /history): GET, the
 * query with at least one channel, credentials for private channels (*until_ms: when
 * they expire, Unix ms; 0 when none were needed; with who, else NULL, who a token names
 * when a channel is a presence channel), and for the status channel (ENVELOPE_STATUS,
 * read alone) the stats guard instead, its key as Authorization: Bearer or the token
 * parameter. Returns 0, or -1 after answering 400, 401, 403 or 405. q must be freed with
 * query_free either way. */
int request_reader(FCGX_Request *req, const struct config *cfg, const char *cors, struct query *q,
                   long long *until_ms, struct auth_who *who);

/* A waiting request, read and checked: what its session starts from. */
struct request_wait {
    enum frame_kind kind;
    struct query q;          /* channels, callback, and the resume point in q.since */
    int seconds;             /* a poll's timeout or a stream's lifetime */
    long long deadline;      /* clock_ms: seconds from arrival, or earlier when the credentials
                              * expire first */
    int expiring;            /* 1 when deadline is the credentials' expiry */
    int archived;            /* 1 when the SQL archive holds every one of its channels */
    long long until;         /* wall clock: the end of its place in the store's waiting sets, 5 s
                              * past the wait, so a process killed meanwhile holds it no longer */
    char name[PROC_NAME_MAX]; /* its member name in those sets */
    const char *addr;        /* the client address admitted under name, or NULL; borrowed from
                              * the FastCGI request */
    char *presence;          /* "1" or "0" per channel, a presence channel or not; NULL when none
                              * is one (request_who) */
    char who[AUTH_ID_MAX + 3]; /* on presence channels, who it is (request_who); else "" */
    char info[AUTH_INFO_MAX + 1]; /* and what its token's comet.info says, as JSON, or "" */
};

/* Reads a waiting request of kind: GET, at least one channel, a valid callback where
 * the kind takes one, credentials for private channels; its resume point (for streams
 * Last-Event-ID, what EventSource sends on reconnect, else lastEventId for polyfills,
 * else since) and its length. Returns 0, or -1 after answering 400, 401, 403 or 405.
 * w must be freed with request_wait_free either way. */
int request_waiting(FCGX_Request *req, const struct config *cfg, const char *cors, enum frame_kind kind,
                    struct request_wait *w);

/* Takes w's place among the client address's waiting requests (when
 * COMET_MAX_WAITING_PER_ADDR is set), on the thread's command connection. Returns 0,
 * or -1 after answering 429 (the address holds its most) or 503 (Redis). */
int request_admit(FCGX_Request *req, const struct config *cfg, const char *cors, struct request_wait *w);

void request_wait_free(struct request_wait *w);

/* w as the store's waiting sets count it (pointers into w). */
void request_waiter(const struct request_wait *w, struct store_waiter *out);

/* The start of w's session; st points into w and cors. */
void request_session(const struct request_wait *w, const char *cors, struct session_start *st);

#endif
