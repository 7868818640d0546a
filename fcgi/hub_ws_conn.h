/* hub_ws_conn: one WebSocket connection, shared by hub_ws.c (its life and framing) and
 * hub_ws_ops.c (what its session and ops send). Internal to those two files. */
#ifndef COMET_HUB_WS_CONN_H
#define COMET_HUB_WS_CONN_H

#include <sys/queue.h>
#include <wslay/wslay.h>

#include "buf.h"
#include "config.h"
#include "cursor.h"
#include "hub_req.h"
#include "ws_http.h"

enum ws_state {
    WS_HEAD,   /* reading the request head */
    WS_ADMIT,  /* its first session is starting: the 101 waits for its first bytes */
    WS_OPEN,   /* upgraded: wslay frames everything */
    WS_REFUSE, /* writing an HTTP refusal, then lingering */
    WS_LINGER  /* done: reading what the client still sends until it closes */
};

struct ws_pub; /* a publish op in flight (hub_ws_ops.c) */
LIST_HEAD(ws_pub_list, ws_pub);

struct ws_conn {
    struct loop_watch watch; /* the socket */
    const struct config *cfg;
    enum ws_state state;
    struct buf io;           /* WS_HEAD: the head so far; WS_REFUSE: the answer left to write */
    long long deadline;      /* WS_HEAD, WS_REFUSE: when it is given up */
    struct ws_head head;     /* kept: ops are checked with its cookie and authorization */
    char peer[64];           /* the socket's peer address, or "-" */
    char addr[64];           /* the client's address (ws_head_addr), "" before the head */
    char *token, *expires, *sig; /* the upgrade's credentials in its query, or NULL */
    char *pid;                   /* its client's id (presence), or NULL */
    char **channels;         /* the channels it reads now, n of them */
    size_t n;
    struct hub_req *waiter;  /* the session over them, NULL when n is 0 or between sessions */
    char cursor[CURSOR_MAX]; /* where the last session ended ("": no resume point) */
    long long ends;          /* the session's deadline (clock_ms) */
    int expiring;            /* ends is the credentials' expiry */
    wslay_event_context_ptr ctx;
    long long next_ping;
    int unanswered;          /* pings without a pong */
    long long rate_at;       /* the second being counted, and its messages */
    int rate_n;
    uint32_t events;         /* what its watch waits for */
    int receiving;           /* inside wslay_event_recv, whose callbacks queue but do not send */
    int dead;                /* close at the next tick (asked where closing at once is unsafe) */
    struct ws_pub_list pubs;
    LIST_ENTRY(ws_conn) all;
};

/* hub_ws.c, for hub_ws_ops.c: */

/* Queues text[0..len) as one text message and sends what the socket takes. */
void ws_conn_text(struct ws_conn *c, const char *text, size_t len);

/* Queues a close with code and reason (at most 123 bytes) and sends it; the connection
 * closes once the client answers (or at once when it is gone). */
void ws_conn_close(struct ws_conn *c, int code, const char *reason);

/* Answers the upgrade: 101 and the socket's framing (WS_OPEN). Returns 0, or -1 when
 * the client is gone (c is then dead). */
int ws_conn_upgrade(struct ws_conn *c);

/* Answers with the CGI answer cgi[0..len) as HTTP and closes (WS_REFUSE). */
void ws_conn_refuse(struct ws_conn *c, const char *cgi, size_t len);

/* hub_ws_ops.c, for hub_ws.c: */

/* Starts the first session from the upgrade's request head. */
void ws_ops_open(struct ws_conn *c);

/* A text message from the client. */
void ws_ops_message(struct ws_conn *c, const char *text, size_t len);

/* The connection is done: its session and publishes in flight are let go (again: nothing). */
void ws_ops_leave(struct ws_conn *c);

#endif
