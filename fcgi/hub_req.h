/* hub_req: what every request the hub holds shares (hub.c: its connection, its output
 * as FastCGI records, its life), and the hooks of each kind (hub_wait.c for waiting
 * requests, hub_publish.c, hub_ask.c). Internal to the hub: only the hub thread
 * touches a request once it is handed over. */
#ifndef COMET_HUB_REQ_H
#define COMET_HUB_REQ_H

#include <fcgiapp.h>
#include <sys/queue.h>

#include "buf.h"
#include "config.h"
#include "loop.h"

struct hub_req;
struct publish_job;
struct request_wait;

/* What a kind does at each turn of a request's life. */
struct hub_kind {
    void (*start)(struct hub_req *r);               /* Redis is up: begin */
    void (*down)(struct hub_req *r);                /* Redis failed after start; every callback in
                                                     * flight already got its NULL reply */
    void (*tick)(struct hub_req *r, long long now); /* every HUB_TICK_MS; NULL: nothing timed */
    void (*stop)(struct hub_req *r);                /* the process stops: answer now */
    void (*leave)(struct hub_req *r);               /* it closes: give back what it holds; NULL: none */
    void (*free)(struct hub_req *r);                /* frees the kind's whole struct */
};

/* Where the answer of an internal request goes (hub_ws.c: a WebSocket connection's
 * session or publish): called on the hub thread once per loop round with everything
 * r appended since the last call (a CGI answer, or session frames), end 1 the last
 * time, after which r closes. The sink takes what it needs; out is emptied after. */
typedef void hub_sink(struct hub_req *r, const struct buf *out, int end);

/* Embedded first in each kind's struct. */
struct hub_req {
    struct loop_watch watch; /* the FastCGI connection (fd -1 for an internal request) */
    hub_sink *sink;          /* an internal request's answer: NULL for a FastCGI one */
    void *owner;             /* the sink's, untouched by the hub */
    const struct hub_kind *kind;
    const struct config *cfg;
    int id;            /* the FastCGI request id */
    char *cors;        /* CORS lines of every answer, or NULL */
    struct buf out;    /* records not yet written */
    int started;       /* kind->start ran */
    int ending;        /* its end records are queued: it closes once they are written */
    int closed;
    int holds;         /* callbacks in flight that name it: it is freed after the last */
    int is_dirty;
    LIST_ENTRY(hub_req) all;   /* every open request */
    LIST_ENTRY(hub_req) dirty; /* those with output queued this round */
};

#define HUB_TICK_MS 250

/* Each kind's set-up, on the main thread before the hub thread starts. */
void hub_wait_init(const struct config *cfg);
void hub_publish_init(const struct config *cfg);

/* For hub_ws.c, on the hub thread: a waiting request of rw (admitted for addr when
 * COMET_MAX_WAITING_PER_ADDR is set) whose session's bytes go to sink; returns it.
 * rw is read at once. */
struct hub_req *hub_wait_sink(const struct config *cfg, const struct request_wait *rw, const char *addr,
                              hub_sink *sink, void *owner);

/* Writes into buf (CURSOR_MAX bytes) where the session of waiting request r would
 * resume: "" when it has no resume point yet. */
void hub_wait_since(const struct hub_req *r, char *buf);

/* For hub_ws.c: a publish (as with ?wait=1) whose CGI answer goes to sink. Takes job's
 * contents (job is left empty). */
void hub_publish_sink(const struct config *cfg, struct publish_job *job, hub_sink *sink, void *owner);

/* The link went down: hub_publish forgets its reply pattern's subscription. */
void hub_publish_down(void);

/* On an accept thread: detaches req's connection into r (allocated by the caller, its
 * kind's fields set) and hands r to the hub thread, which starts it once Redis is up.
 * req is ready for the next FCGX_Accept_r; the caller must not finish it. */
void hub_req_take(struct hub_req *r, const struct hub_kind *kind, FCGX_Request *req, const struct config *cfg,
                  const char *cors);

/* On the hub thread: starts r (allocated by the caller, its kind's fields set) as an
 * internal request whose answer goes to sink, once Redis is up. */
void hub_req_adopt(struct hub_req *r, const struct hub_kind *kind, const struct config *cfg, hub_sink *sink,
                   void *owner);

/* Its owner gives up internal request r: what r appended so far goes to the sink
 * (end 0), then r closes (its kind leaves) and is freed once no callback names it. */
void hub_req_detach(struct hub_req *r);

/* Output: what is appended to r->out between open and emit becomes FastCGI records;
 * end 1 also ends the response. Written once per loop round. */
size_t hub_req_open(struct hub_req *r);
void hub_req_emit(struct hub_req *r, size_t at, int end);

/* The 503 of a request that could not reach Redis, as its whole answer. */
void hub_req_unavailable(struct hub_req *r);

/* Around a callback that names r: hold before sending, release first thing in the
 * callback. release returns 1 when r has closed meanwhile (and may now be freed): the
 * callback must not touch it. */
void hub_req_hold(struct hub_req *r);
int hub_req_release(struct hub_req *r);

#endif
