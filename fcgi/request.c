/* request: request-level plumbing shared by the handlers. */
#include "request.h"

#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "frame.h"
#include "reply.h"
#include "store.h"
#include "wait.h"

void request_endpoint(FCGX_Request *req, char *buf, size_t len)
{
    const char *uri = FCGX_GetParam("REQUEST_URI", req->envp);
    const char *end, *start;

    if (!uri)
        uri = FCGX_GetParam("SCRIPT_NAME", req->envp);
    if (!uri)
        uri = "";
    end = uri + strcspn(uri, "?");
    start = end;
    while (start > uri && start[-1] != '/')
        start--;
    snprintf(buf, len, "%.*s", (int)(end - start), start);
}

int request_method(FCGX_Request *req, const char *method)
{
    const char *m = FCGX_GetParam("REQUEST_METHOD", req->envp);
    char allow[32];

    if (m && strcmp(m, method) == 0)
        return 1;
    snprintf(allow, sizeof allow, "Allow: %s\r\n", method);
    reply_error(req->out, 405, allow, "use %s here", method);
    return 0;
}

void request_drain(FCGX_Request *req)
{
    char buf[4096];

    while (FCGX_GetStr(buf, sizeof buf, req->in) > 0)
        ;
}

/* The resume point of a stream; see request_waiting. Returns 0, or -1 after a 400. */
static int request_resume(FCGX_Request *req, struct query *q)
{
    const char *h = FCGX_GetParam("HTTP_LAST_EVENT_ID", req->envp);

    if (h && *h) {
        if (cursor_parse(h, strlen(h), &q->since) < 0) {
            reply_error(req->out, 400, NULL, "Last-Event-ID: not an id this server sent");
            return -1;
        }
        q->has_since = 1;
    } else if (q->has_last_event_id) {
        q->since = q->last_event_id;
        q->has_since = 1;
    }
    return 0;
}

/* The credentials check of request_waiting. Returns 0, or -1 after a 401 or 403. */
static int request_auth(FCGX_Request *req, const struct config *cfg, const struct query *q, long long *until_ms)
{
    char err[256], cookie[AUTH_TOKEN_MAX + 1];
    struct auth_credentials cr = {
        auth_request_token(FCGX_GetParam("HTTP_AUTHORIZATION", req->envp), q->token,
                           FCGX_GetParam("HTTP_COOKIE", req->envp), cookie, sizeof cookie),
        q->expires, q->sig};
    enum auth_status rc = auth_subscribe(cfg, &cr, q->channels, q->nchannels, store_now_ms(), until_ms, err,
                                         sizeof err);

    if (rc == AUTH_OK)
        return 0;
    reply_error(req->out, (int)rc, rc == AUTH_UNAUTHORIZED ? "WWW-Authenticate: Bearer\r\n" : NULL, "%s", err);
    return -1;
}

/* Seconds a request of kind waits: a poll its timeout parameter, capped, or the
 * default; a stream its lifetime. */
static int request_seconds(const struct config *cfg, int kind, const struct query *q)
{
    if (kind != REQUEST_POLL)
        return cfg->sse_lifetime;
    if (q->timeout < 0)
        return cfg->poll_timeout;
    return q->timeout > cfg->poll_timeout_max ? cfg->poll_timeout_max : q->timeout;
}

int request_waiting(FCGX_Request *req, const struct config *cfg, int kind, struct query *q,
                    struct request_span *span)
{
    char err[256];
    long long until_ms = 0, ms, left;

    memset(q, 0, sizeof *q);
    memset(span, 0, sizeof *span);
    if (!request_method(req, "GET"))
        return -1;
    if (query_parse(FCGX_GetParam("QUERY_STRING", req->envp), cfg, q, err, sizeof err) < 0) {
        reply_error(req->out, 400, NULL, "%s", err);
        return -1;
    }
    if (q->nchannels == 0) {
        reply_error(req->out, 400, NULL, "channel: at least one channel is required");
        return -1;
    }
    if (request_auth(req, cfg, q, &until_ms) < 0)
        return -1;
    if (kind != REQUEST_POLL && request_resume(req, q) < 0)
        return -1;
    if (kind == REQUEST_POLL || kind == FRAME_IFRAME) {
        if (q->callback ? !frame_callback_valid(q->callback) : kind == FRAME_IFRAME) {
            reply_error(req->out, 400, NULL, "callback: must be a JavaScript name like Comet._cb1");
            return -1;
        }
    } else {
        q->callback = NULL;
    }
    span->seconds = request_seconds(cfg, kind, q);
    ms = span->seconds * 1000LL;
    left = until_ms - store_now_ms();
    span->expiring = until_ms && left < ms;
    span->deadline = wait_clock_ms() + (span->expiring ? left : ms);
    return 0;
}

/* Wall-clock end of a place in the store's waiting sets: 5 s past the wait, so that a
 * process killed meanwhile holds it no longer than that. */
static long long request_until(int seconds)
{
    return store_now_ms() + seconds * 1000LL + 5000;
}

int request_admit(FCGX_Request *req, const struct config *cfg, const char *name, int seconds)
{
    redisContext *c;
    long long rc;

    if (!cfg->max_waiting_addr)
        return 0;
    c = conn_get(cfg);
    rc = c ? store_admit(c, cfg, FCGX_GetParam("REMOTE_ADDR", req->envp), name, request_until(seconds)) : -1;
    if (rc > 0)
        reply_waiting_full(req->out, rc);
    if (rc < 0) {
        conn_drop();
        reply_unavailable(req->out);
    }
    return rc == 0 ? 0 : -1;
}

struct waiter *request_wait_open(FCGX_Request *req, const struct config *cfg, const struct query *q, int seconds)
{
    char name[WAIT_NAME_MAX];
    redisContext *cmd;
    struct waiter *w = NULL;

    wait_name(name, sizeof name);
    if (request_admit(req, cfg, name, seconds) < 0)
        return NULL;
    if ((cmd = conn_get(cfg)))
        w = wait_open(cfg, cmd, q->channels, q->nchannels, q->has_since ? &q->since : NULL, req->ipcFd,
                      request_until(seconds), name,
                      cfg->max_waiting_addr ? FCGX_GetParam("REMOTE_ADDR", req->envp) : NULL);
    if (!w) {
        conn_drop();
        reply_unavailable(req->out);
    }
    return w;
}
