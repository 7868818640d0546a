/* longpoll: answers {"cursor","events"[,"truncated"]} as soon as there is anything
 * newer than the cursor, or when the timeout passes. The waiting itself is wait.c's;
 * this file decides how long and how many. */
#include "longpoll.h"

#include "conn.h"
#include "frame.h"
#include "reply.h"
#include "request.h"
#include "wait.h"

/* Writes the answer: the events already taken (first, if any), then whatever else is
 * ready at once, up to the configured number; as JSONP when a callback was given. */
static void longpoll_answer(FCGX_Request *req, const struct config *cfg, struct waiter *w,
                            const char *callback, const char *env, size_t len)
{
    struct frame json = {0}, jsonp = {0};
    int n = 0;

    frame_poll_begin(&json);
    while (env) {
        frame_poll_add(&json, n++, env, len);
        if (n == cfg->poll_max_events || wait_next(w, 0, &env, &len) != WAIT_EVENT)
            env = NULL;
    }
    frame_poll_end(&json, wait_cursor(w), wait_truncated(w));
    if (callback) {
        frame_jsonp(&jsonp, callback, json.s, json.len);
        reply_head(req->out, 200, "application/javascript; charset=utf-8", NULL);
        FCGX_PutStr(jsonp.s, (int)jsonp.len, req->out);
    } else {
        reply_head(req->out, 200, "application/json", NULL);
        FCGX_PutStr(json.s, (int)json.len, req->out);
        FCGX_PutS("\n", req->out);
    }
    frame_free(&json);
    frame_free(&jsonp);
}

void longpoll_handle(FCGX_Request *req, const struct config *cfg)
{
    struct query q = {0};
    struct waiter *w = NULL;
    const char *env = NULL;
    size_t len = 0;
    int failed = 0;
    struct request_span span;

    if (request_waiting(req, cfg, REQUEST_POLL, &q, &span) < 0)
        goto done;
    request_drain(req);
    if (!(w = request_wait_open(req, cfg, &q, span.seconds)))
        goto done;
    switch (wait_next(w, span.deadline, &env, &len)) {
    case WAIT_GONE:
        break;
    case WAIT_ERROR:
        failed = 1;
        reply_unavailable(req->out);
        break;
    default: /* an event, the timeout, or a stop: answer with the cursor either way */
        longpoll_answer(req, cfg, w, q.callback, env, len);
    }
done:
    wait_close(w); /* uses the command connection: before dropping it */
    if (failed)
        conn_drop();
    query_free(&q);
}
