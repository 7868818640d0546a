/* longpoll: answers {"cursor","events"[,"truncated"]} as soon as there is anything
 * newer than the cursor, or when the timeout passes. The waiting itself is wait.c's;
 * this file decides how long and how many. */
#include "longpoll.h"

#include "conn.h"
#include "reply.h"
#include "request.h"
#include "store.h"
#include "wait.h"

/* Writes the answer: the events already taken (first, if any), then whatever else is
 * ready at once, up to the configured number. */
static void longpoll_answer(FCGX_Request *req, const struct config *cfg, struct waiter *w,
                            const char *env, size_t len)
{
    char cursor[CURSOR_MAX];
    int n = 0;

    reply_head(req->out, 200, "application/json", NULL);
    FCGX_PutS("{\"events\":[", req->out);
    while (env) {
        if (n++)
            FCGX_PutChar(',', req->out);
        FCGX_PutStr(env, (int)len, req->out);
        if (n == cfg->poll_max_events || wait_next(w, 0, &env, &len) != WAIT_EVENT)
            env = NULL;
    }
    cursor_format(wait_cursor(w), cursor);
    FCGX_FPrintF(req->out, "],\"cursor\":\"%s\"%s}\n", cursor,
                 wait_truncated(w) ? ",\"truncated\":true" : "");
}

void longpoll_handle(FCGX_Request *req, const struct config *cfg)
{
    struct query q = {0};
    struct waiter *w = NULL;
    redisContext *cmd;
    const char *env = NULL;
    size_t len = 0;
    int timeout;
    long long deadline;

    if (!request_method(req, "GET") || request_subscribe(req, cfg, &q) < 0)
        goto done;
    timeout = q.timeout < 0 ? cfg->poll_timeout
              : q.timeout > cfg->poll_timeout_max ? cfg->poll_timeout_max : q.timeout;
    deadline = wait_clock_ms() + timeout * 1000LL;
    request_drain(req);
    if (!(cmd = conn_get(cfg)) ||
        !(w = wait_open(cfg, cmd, q.channels, q.nchannels, q.has_since ? &q.since : NULL,
                        req->ipcFd, store_now_ms() + timeout * 1000LL + 5000))) {
        conn_drop();
        reply_unavailable(req->out);
        goto done;
    }
    switch (wait_next(w, deadline, &env, &len)) {
    case WAIT_GONE:
        break;
    case WAIT_ERROR:
        conn_drop();
        reply_unavailable(req->out);
        break;
    default: /* an event, the timeout, or a stop: answer with the cursor either way */
        longpoll_answer(req, cfg, w, env, len);
    }
done:
    wait_close(w);
    query_free(&q);
}
