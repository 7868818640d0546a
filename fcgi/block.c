/* block: subscribe first, then read history (from Redis, and from the SQL archive, on
 * this process's own connection, what Redis no longer holds), then poll() over the
 * subscription, the FastCGI connection and the session's next wake-up. An event published
 * between the SUBSCRIBE and the history read arrives twice; the session keeps the first. */
#include "block.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>

#include "archive_read.h"
#include "clock.h"
#include "conn.h"
#include "log.h"
#include "proc.h"
#include "redis.h"
#include "session.h"
#include "store.h"

#define BLOCK_SUB_TIMEOUT_MS 2000

struct block {
    FCGX_Request *req;
    const struct config *cfg;
    const struct request_wait *w;
    struct session *s;
    redisContext *sub;
    struct session_event ev;
    struct buf out;
};

/* Writes what the session appended. Returns 0, or -1 once the client is gone. */
static int block_flush(struct block *b)
{
    if (!b->out.len)
        return 0;
    FCGX_PutStr(b->out.s, (int)b->out.len, b->req->out);
    buf_reset(&b->out);
    return FCGX_FFlush(b->req->out);
}

/* Reads the history page the session asks for, and feeds it. */
static enum session_next block_page(struct block *b)
{
    enum session_next next;
    char since[CURSOR_MAX];
    struct store_page page;
    redisContext *cmd = conn_get(b->cfg);
    redisReply *r;

    session_since(b->s, since);
    r = cmd ? store_read(cmd, b->cfg, b->w->q.channels, b->w->q.nchannels, since, b->cfg->poll_max_events) : NULL;
    if (store_page_parse(r, &page) < 0) {
        conn_drop();
        next = session_fail(b->s, &b->out);
    } else {
        next = session_page(b->s, &page, clock_ms(), &b->out);
    }
    store_page_free(&page);
    if (r)
        freeReplyObject(r);
    return next;
}

/* Reads from the SQL archive the gap the session asks about, and feeds it (an archive
 * that cannot be read now covers nothing: the gap is then said). */
static enum session_next block_archive(struct block *b)
{
    struct archive_query q = {b->w->q.channels, b->w->q.nchannels, .limit = b->cfg->poll_max_events};
    struct archive_page page;
    enum session_next next;
    int to_end = session_archive_range(b->s, &q.after, &q.before);

    archive_read_gap(b->cfg, &q, to_end, &page);
    next = session_archive(b->s, &(struct session_fill){page.covered, page.n, page.events}, &b->out);
    archive_page_free(&page);
    return next;
}

/* Reads history pages, from Redis and the archive, while the session asks for them. */
static enum session_next block_read(struct block *b)
{
    enum session_next next = SESSION_READ;

    while (next == SESSION_READ || next == SESSION_ARCHIVE) {
        next = next == SESSION_READ ? block_page(b) : block_archive(b);
        if (block_flush(b) < 0)
            return SESSION_END;
    }
    return next;
}

/* Feeds the session the messages the subscription holds, while it waits. */
static enum session_next block_messages(struct block *b)
{
    enum session_next next = SESSION_WAIT;
    redisReply *r;

    while (next == SESSION_WAIT) {
        if (redisGetReplyFromReader(b->sub, (void **)&r) != REDIS_OK)
            return session_fail(b->s, &b->out);
        if (!r)
            break;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[2]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[0]->str, "message") == 0 &&
            session_event_set(&b->ev, r->element[2]->str, r->element[2]->len) == 0)
            next = session_message(b->s, &b->ev, clock_ms(), &b->out);
        freeReplyObject(r);
    }
    return next;
}

/* Waits for the subscription, the client or the next wake-up, up to it. Returns what
 * happened: the next step, or SESSION_END with nothing to write when the client left. */
static enum session_next block_poll(struct block *b, long long now)
{
    struct pollfd fds[2] = {{.fd = b->sub->fd, .events = POLLIN},
                            {.fd = b->req->ipcFd, .events = POLLIN | POLLRDHUP}};
    long long left = session_wake_ms(b->s) - now;
    int rc = poll(fds, 2, left > INT_MAX ? INT_MAX : (int)left);

    if (rc < 0 && errno != EINTR)
        return session_fail(b->s, &b->out);
    if (rc > 0 && fds[1].revents)
        return SESSION_END; /* the web server hung up: the client left */
    if (rc > 0 && redisBufferRead(b->sub) != REDIS_OK) {
        log_warn("subscription: %s", b->sub->errstr);
        return session_fail(b->s, &b->out);
    }
    return block_messages(b);
}

static void block_wait(struct block *b)
{
    enum session_next next = block_messages(b);

    while (next == SESSION_WAIT && block_flush(b) == 0) {
        long long now = clock_ms();
        if (proc_stopping)
            next = session_stop(b->s, &b->out);
        else if (now >= session_wake_ms(b->s))
            next = session_tick(b->s, now, &b->out);
        else
            next = block_poll(b, now);
    }
}

/* Subscribes on a connection of its own. Returns 0 or -1. */
static int block_open(struct block *b)
{
    return (b->sub = redis_open(b->cfg, BLOCK_SUB_TIMEOUT_MS)) &&
                   store_subscribe(b->sub, b->cfg, b->w->q.channels, b->w->q.nchannels) == 0
               ? 0
               : -1;
}

/* Counts the request among the waiting ones, once its history is read: from then on
 * it is sure to see what is published (an event published before the read of a
 * request without a cursor is before its starting point). Returns 0 or -1. */
static int block_count(struct block *b)
{
    redisContext *cmd = conn_get(b->cfg);
    struct store_waiter sw;

    request_waiter(b->w, &sw);
    if (cmd && store_waiting(cmd, b->cfg, &sw, b->w->until) == 0)
        return 0;
    conn_drop();
    return -1;
}

void block_serve(FCGX_Request *req, const struct config *cfg, const struct request_wait *w, const char *cors)
{
    struct block b = {.req = req, .cfg = cfg, .w = w};
    struct session_start st;
    struct store_waiter sw;
    redisContext *cmd;

    request_session(w, cors, &st);
    request_waiter(w, &sw);
    b.s = session_new(cfg, &st);
    if (block_open(&b) < 0) {
        session_fail(b.s, &b.out);
        block_flush(&b);
    } else if (block_read(&b) == SESSION_WAIT) {
        if (block_count(&b) < 0)
            session_fail(b.s, &b.out);
        else
            block_wait(&b);
        block_flush(&b);
    }
    if ((cmd = conn_get(cfg)) && (store_waiting(cmd, cfg, &sw, 0) < 0 ||
                                  (w->addr && store_leave(cmd, cfg, w->addr, w->name) < 0)))
        conn_drop();
    if (b.sub)
        redisFree(b.sub);
    session_event_free(&b.ev);
    buf_free(&b.out);
    session_free(b.s);
}
