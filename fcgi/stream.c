/* stream: the streaming loop the three streaming transports share: resume point,
 * replay, open frame, heartbeats, padding, lifetime. How a frame looks is frame.c's;
 * how waiting works is wait.c's. */
#include "stream.h"

#include "reply.h"
#include "request.h"
#include "wait.h"

struct stream {
    FCGX_Request *req;
    const struct config *cfg;
    enum frame_kind kind;
    const char *cb;
    struct request_span span; /* when it ends, and whether for expiring credentials */
    struct frame f;
};

/* Writes the frames gathered in st->f, then the padding, and flushes. Returns 0, or
 * -1 once the client is gone. */
static int stream_flush(struct stream *st)
{
    if (st->cfg->sse_padding)
        frame_padding(&st->f, st->kind, (size_t)st->cfg->sse_padding);
    FCGX_PutStr(st->f.s, (int)st->f.len, st->req->out);
    frame_reset(&st->f);
    return FCGX_FFlush(st->req->out);
}

/* Streams until the lifetime ends or the credentials expire (with a last frame that
 * says so), the client leaves, the process stops or Redis fails. */
static void stream_run(struct stream *st, struct waiter *w)
{
    long long end = st->span.deadline, deadline = 0, now;
    const char *env;
    size_t len;

    frame_prelude(&st->f, st->kind, st->cfg->sse_retry);
    if (wait_truncated(w))
        frame_truncated(&st->f, st->kind, st->cb);
    for (;;) {
        /* The first round takes only what is ready (the replay); later ones wait a heartbeat. */
        switch (wait_next(w, deadline, &env, &len)) {
        case WAIT_EVENT:
            frame_event(&st->f, st->kind, st->cb, env, len);
            if (stream_flush(st) < 0)
                return;
            /* A busy channel must not keep an expired stream alive. */
            if (wait_clock_ms() < end)
                continue;
            break;
        case WAIT_TIMEOUT:
            break;
        default:
            return;
        }
        now = wait_clock_ms();
        if (now >= end) {
            if (st->span.expiring) {
                frame_expired(&st->f, st->kind, st->cb);
                stream_flush(st);
            }
            return;
        }
        if (deadline)
            frame_ping(&st->f, st->kind);
        else
            frame_open(&st->f, st->kind, st->cb, wait_cursor(w));
        if (stream_flush(st) < 0)
            return;
        deadline = now + st->cfg->sse_heartbeat * 1000LL;
        if (deadline > end)
            deadline = end;
    }
}

void stream_handle(FCGX_Request *req, const struct config *cfg, enum frame_kind kind)
{
    struct stream st = {.req = req, .cfg = cfg, .kind = kind};
    struct query q = {0};
    struct waiter *w = NULL;

    if (request_waiting(req, cfg, (int)kind, &q, &st.span) < 0)
        goto done;
    st.cb = q.callback;
    request_drain(req);
    if (!(w = request_wait_open(req, cfg, &q, st.span.seconds)))
        goto done;
    reply_stream_head(req->out, frame_content_type(kind));
    stream_run(&st, w);
done:
    frame_free(&st.f);
    wait_close(w);
    query_free(&q);
}
