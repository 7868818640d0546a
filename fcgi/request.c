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

int request_waiting(FCGX_Request *req, const struct config *cfg, int kind, struct query *q,
                    long long *until_ms)
{
    char err[256];

    memset(q, 0, sizeof *q);
    *until_ms = 0;
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
    if (request_auth(req, cfg, q, until_ms) < 0)
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
    return 0;
}

int request_timeout(const struct config *cfg, const struct query *q)
{
    if (q->timeout < 0)
        return cfg->poll_timeout;
    return q->timeout > cfg->poll_timeout_max ? cfg->poll_timeout_max : q->timeout;
}

struct waiter *request_wait_open(FCGX_Request *req, const struct config *cfg, const struct query *q, int seconds)
{
    redisContext *cmd = conn_get(cfg);
    struct waiter *w = NULL;
    long long retry_ms = 0;

    /* Counted 5 s past its end, so that a process killed meanwhile leaves no place for long. */
    if (cmd)
        w = wait_open(cfg, cmd, q->channels, q->nchannels, q->has_since ? &q->since : NULL, req->ipcFd,
                      store_now_ms() + seconds * 1000LL + 5000, FCGX_GetParam("REMOTE_ADDR", req->envp),
                      &retry_ms);
    if (w)
        return w;
    if (retry_ms) {
        reply_waiting_full(req->out, retry_ms);
    } else {
        conn_drop();
        reply_unavailable(req->out);
    }
    return NULL;
}

long long request_deadline(long long ms, long long until_ms, int *expiring)
{
    long long now = wait_clock_ms(), left = until_ms - store_now_ms();
    int first = until_ms && left < ms;

    if (expiring)
        *expiring = first;
    return now + (first ? left : ms);
}
