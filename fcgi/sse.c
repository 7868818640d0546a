/* sse: the event-stream framing, heartbeats, optional padding for servers that
 * buffer, and the stream's lifetime. The waiting itself is wait.c's. */
#include "sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "envelope.h"
#include "reply.h"
#include "request.h"
#include "store.h"
#include "wait.h"
#include "xalloc.h"

int sse_frame(const char *env, size_t len, char *buf, size_t cap)
{
    struct cursor id;
    const char *type;
    size_t tlen;
    char ids[CURSOR_MAX];
    int n;

    if (envelope_head(env, len, &id, &type, &tlen) < 0 || memchr(env, '\n', len) || memchr(env, '\r', len))
        return -1;
    cursor_format(id, ids);
    if (tlen == 7 && memcmp(type, "message", 7) == 0)
        n = snprintf(buf, cap, "id: %s\ndata: %.*s\n\n", ids, (int)len, env);
    else
        n = snprintf(buf, cap, "id: %s\nevent: %.*s\ndata: %.*s\n\n", ids, (int)tlen, type, (int)len, env);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

struct stream {
    FCGX_Request *req;
    char *padding; /* ":" and spaces, or NULL */
    int padlen;
};

/* Writes s, the padding, and flushes. Returns 0, or -1 once the client is gone. */
static int stream_send(struct stream *st, const char *s, int len)
{
    FCGX_PutStr(s, len, st->req->out);
    if (st->padding)
        FCGX_PutStr(st->padding, st->padlen, st->req->out);
    return FCGX_FFlush(st->req->out);
}

static int stream_event(struct stream *st, const char *env, size_t len)
{
    size_t cap = len + 128;
    char *buf = xmalloc(cap);
    int n = sse_frame(env, len, buf, cap), rc = n < 0 ? 0 : stream_send(st, buf, n);

    free(buf);
    return rc;
}

/* The resume point: Last-Event-ID (what EventSource sends on reconnect), then the
 * lastEventId parameter (polyfills), then since. Returns 0, or -1 after a 400. */
static int sse_resume(FCGX_Request *req, const struct query *q, struct cursor *from, int *has)
{
    const char *h = FCGX_GetParam("HTTP_LAST_EVENT_ID", req->envp);

    *has = 1;
    if (h && *h) {
        if (cursor_parse(h, strlen(h), from) == 0)
            return 0;
        reply_error(req->out, 400, NULL, "Last-Event-ID: not an id this server sent");
        return -1;
    }
    if (q->has_last_event_id)
        *from = q->last_event_id;
    else if (q->has_since)
        *from = q->since;
    else
        *has = 0;
    return 0;
}

/* Writes "id: CURSOR" alone: EventSource takes it as its last event id without
 * firing an event, so a client that reconnects after a quiet stream loses nothing. */
static int stream_cursor(struct stream *st, struct cursor c)
{
    char line[CURSOR_MAX + 8] = "id: ";
    int n = 4 + cursor_format(c, line + 4);

    memcpy(line + n, "\n\n", 2);
    return stream_send(st, line, n + 2);
}

/* Streams until the lifetime ends, the client leaves, the process stops or Redis fails. */
static void sse_run(struct stream *st, const struct config *cfg, struct waiter *w,
                    const struct cursor *from)
{
    long long end = wait_clock_ms() + cfg->sse_lifetime * 1000LL, deadline = 0, now;
    struct cursor sent = from ? *from : (struct cursor){0, 0};
    const char *env;
    size_t len;
    char retry[32];
    int n = snprintf(retry, sizeof retry, "retry: %d\n\n", cfg->sse_retry);

    if (stream_send(st, retry, n) < 0)
        return;
    if (wait_truncated(w) &&
        stream_send(st, "event: comet-truncated\ndata: {\"truncated\":true}\n\n", 50) < 0)
        return;
    for (;;) {
        /* The first round takes only what is ready, then each waits one heartbeat. */
        switch (wait_next(w, deadline, &env, &len)) {
        case WAIT_EVENT:
            if (stream_event(st, env, len) < 0)
                return;
            sent = wait_cursor(w);
            continue;
        case WAIT_TIMEOUT:
            break;
        default:
            return;
        }
        now = wait_clock_ms();
        if (now >= end)
            return;
        if (cursor_cmp(wait_cursor(w), sent) != 0 && stream_cursor(st, sent = wait_cursor(w)) < 0)
            return;
        if (deadline && stream_send(st, ": ping\n\n", 8) < 0)
            return;
        deadline = now + cfg->sse_heartbeat * 1000LL < end ? now + cfg->sse_heartbeat * 1000LL : end;
    }
}

void sse_handle(FCGX_Request *req, const struct config *cfg)
{
    struct query q = {0};
    struct stream st = {.req = req};
    struct waiter *w = NULL;
    struct cursor from;
    redisContext *cmd;
    int has_from;

    if (!request_method(req, "GET") || request_subscribe(req, cfg, &q) < 0 ||
        sse_resume(req, &q, &from, &has_from) < 0)
        goto done;
    request_drain(req);
    if (!(cmd = conn_get(cfg)) ||
        !(w = wait_open(cfg, cmd, q.channels, q.nchannels, has_from ? &from : NULL, req->ipcFd,
                        store_now_ms() + cfg->sse_lifetime * 1000LL + 5000))) {
        conn_drop();
        reply_unavailable(req->out);
        goto done;
    }
    if (cfg->sse_padding >= 3) {
        st.padlen = cfg->sse_padding;
        st.padding = xmalloc((size_t)st.padlen);
        memset(st.padding, ' ', (size_t)st.padlen);
        st.padding[0] = ':';
        st.padding[st.padlen - 2] = st.padding[st.padlen - 1] = '\n';
    }
    reply_head(req->out, 200, "text/event-stream", NULL);
    sse_run(&st, cfg, w, has_from ? &from : NULL);
done:
    free(st.padding);
    wait_close(w);
    query_free(&q);
}
