/* session: the subscriber protocol, once. What a waiting request (a long-poll, or a
 * stream of any kind) sends and when: cursor and truncation, the history replay merged
 * by id with live messages held meanwhile, the poll answer (JSON or JSONP), a stream's
 * head, prelude, open frame, pings, padding, lifetime, credential expiry and stop. A
 * state machine with no I/O and no clock: a driver (one request per process, or the
 * event loop) feeds it what happened and the time, writes the bytes it appends to out,
 * and does what it answers next. */
#ifndef COMET_SESSION_H
#define COMET_SESSION_H

#include "buf.h"
#include "config.h"
#include "cursor.h"
#include "frame.h"
#include "store.h"

/* What the driver does next. */
enum session_next {
    SESSION_READ,    /* read the history page after session_since (store_read), feed session_page */
    SESSION_ARCHIVE, /* read the SQL archive's page in session_archive_range, feed session_archive */
    SESSION_WAIT, /* feed live messages; call session_tick once the clock reaches session_wake_ms */
    SESSION_END   /* the response is complete: write what is out, then end the request */
};

/* How a session starts; every pointer is copied or read at once. */
struct session_start {
    enum frame_kind kind;
    const char *callback;      /* JSONP (poll, optional) or the iframe's (required), already
                                * validated (frame_callback_valid); NULL for the others */
    const char *cors;          /* CORS header lines for the head (each ending "\r\n"), or NULL */
    const struct cursor *since; /* where the client resumes; NULL: from the newest event on */
    long long deadline;        /* on the driver's clock: a poll's timeout, a stream's lifetime */
    int expiring;              /* 1 when deadline is the credentials' expiry (streams end with
                                * comet-expired) */
    int archived;              /* 1 when the SQL archive holds every channel of the session: the
                                * part of history Redis no longer has is asked of it */
};

/* What the archive answered for session_archive_range. */
struct session_fill {
    int covered;                      /* 1: the archive holds every event of the range, so events
                                       * are all of them (up to the cap); 0: it cannot say (down,
                                       * pruned, behind, or no archive), then Redis's gap stands */
    size_t n;                         /* at most cfg->poll_max_events */
    const struct store_event *events; /* in id order, borrowed for the call */
};

/* A live message, framed at most once per stream kind however many sessions take it. */
struct session_event {
    struct cursor id;
    const char *env; /* the envelope, borrowed for the feeding round */
    size_t len;
    struct buf framed[FRAME_KINDS]; /* per kind (a poll: its JSON answer's body), padding included */
    signed char built[FRAME_KINDS]; /* 1 built, -1 refused by frame_event, 0 not yet */
};

/* Points ev at envelope env[0..len) and forgets what was framed for the last one.
 * Returns 0, or -1 when env is not an envelope (then no session may take it). */
int session_event_set(struct session_event *ev, const char *env, size_t len);
void session_event_free(struct session_event *ev);

struct session;

/* Returns a new session; it wants SESSION_READ first. cfg is borrowed for its life. */
struct session *session_new(const struct config *cfg, const struct session_start *st);
void session_free(struct session *s);

/* Writes into buf (CURSOR_MAX bytes) the cursor to read history after: "" to read
 * none (no resume point: only the newest id is wanted), else the cursor. */
void session_since(const struct session *s, char *buf);

/* Feeds one page of history read after session_since. Returns SESSION_READ while
 * pages may follow, SESSION_ARCHIVE when Redis lacks events the archive may hold (the
 * page is then ignored: it is read again once the archive filled the gap), then
 * SESSION_WAIT, or SESSION_END once a poll has its answer. */
enum session_next session_page(struct session *s, const struct store_page *p, long long now, struct buf *out);

/* After SESSION_ARCHIVE: the events to read from the archive are those of the
 * session's channels after *after and before *before, in id order. Returns 1 when the
 * archive must hold all of them up to *before to cover the gap (Redis trimmed them),
 * 0 when what it holds is all there is to have (Redis lost its data set: the gap, if
 * any, is said after them). */
int session_archive_range(const struct session *s, struct cursor *after, struct cursor *before);

/* Feeds the archive's answer for session_archive_range. Returns SESSION_READ (Redis
 * is read again from the new cursor), or SESSION_END once a poll has its answer. */
enum session_next session_archive(struct session *s, const struct session_fill *f, struct buf *out);

/* Feeds a live message from the session's channels: held while history is read (and
 * merged by id when it is done), taken at once when live if newer than the cursor. */
enum session_next session_message(struct session *s, struct session_event *ev, long long now,
                                  struct buf *out);

/* Feeds the time: pings, and the end of the wait (a poll answers with its cursor, a
 * stream ends, with comet-expired if the credentials expired). */
enum session_next session_tick(struct session *s, long long now, struct buf *out);

/* When session_tick has something to do next (LLONG_MAX: nothing until other input). */
long long session_wake_ms(const struct session *s);

/* The process is stopping: a poll answers with its cursor, a stream ends. */
enum session_next session_stop(struct session *s, struct buf *out);

/* Redis failed: a 503 if nothing was sent yet, else the stream just ends. */
enum session_next session_fail(struct session *s, struct buf *out);

#endif
