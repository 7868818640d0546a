/* request: request-level plumbing shared by the handlers and both process models. */
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_read.h"
#include "auth.h"
#include "clock.h"
#include "conn.h"
#include "envelope.h"
#include "frame.h"
#include "ops.h"
#include "pattern.h"
#include "reply.h"
#include "store.h"
#include "xalloc.h"

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

int request_method(FCGX_Request *req, const char *cors, const char *method)
{
    const char *m = FCGX_GetParam("REQUEST_METHOD", req->envp);
    char allow[32];

    if (m && strcmp(m, method) == 0)
        return 1;
    snprintf(allow, sizeof allow, "Allow: %s\r\n", method);
    reply_error(req->out, cors, 405, allow, "use %s here", method);
    return 0;
}

void request_drain(FCGX_Request *req)
{
    char buf[4096];

    while (FCGX_GetStr(buf, sizeof buf, req->in) > 0)
        ;
}

/* The resume point of a stream; see request_waiting. Returns 0, or -1 after a 400. */
static int request_resume(FCGX_Request *req, const char *cors, struct query *q)
{
    const char *h = FCGX_GetParam("HTTP_LAST_EVENT_ID", req->envp);

    if (h && *h) {
        if (cursor_parse(h, strlen(h), &q->since) < 0) {
            reply_error(req->out, cors, 400, NULL, "Last-Event-ID: not an id this server sent");
            return -1;
        }
        q->has_since = 1;
    } else if (q->has_last_event_id) {
        q->since = q->last_event_id;
        q->has_since = 1;
    }
    return 0;
}

/* 1 when a channel of q is a presence channel. */
static int request_presence(const struct config *cfg, const struct query *q)
{
    for (size_t i = 0; i < q->nchannels; i++)
        if (pattern_list_match(cfg->presence_channels, q->channels[i]))
            return 1;
    return 0;
}

/* The credentials check of request_reader; with who (else NULL), who they name when a
 * channel is a presence channel. Returns 0, or -1 after a 401 or 403. */
static int request_auth(FCGX_Request *req, const struct config *cfg, const char *cors, const struct query *q,
                        long long *until_ms, struct auth_who *who)
{
    char err[256], cookie[AUTH_TOKEN_MAX + 1];
    struct auth_credentials cr = {
        auth_request_token(FCGX_GetParam("HTTP_AUTHORIZATION", req->envp), q->token,
                           FCGX_GetParam("HTTP_COOKIE", req->envp), cookie, sizeof cookie),
        q->expires, q->sig};
    enum auth_status rc = auth_subscribe(cfg, &cr, q->channels, q->nchannels, clock_wall_ms(), until_ms,
                                         who && request_presence(cfg, q) ? who : NULL, err, sizeof err);

    if (rc == AUTH_OK)
        return 0;
    reply_error(req->out, cors, (int)rc, rc == AUTH_UNAUTHORIZED ? "WWW-Authenticate: Bearer\r\n" : NULL, "%s",
                err);
    return -1;
}

/* Seconds a request of kind waits: a poll its timeout parameter, capped, or the
 * default; a stream its lifetime. */
static int request_seconds(const struct config *cfg, enum frame_kind kind, const struct query *q)
{
    if (kind != FRAME_POLL)
        return cfg->sse_lifetime;
    if (q->timeout < 0)
        return cfg->poll_timeout;
    return q->timeout > cfg->poll_timeout_max ? cfg->poll_timeout_max : q->timeout;
}

/* The query of request_waiting. Returns 0, or -1 after answering 400. */
static int request_query(FCGX_Request *req, const struct config *cfg, const char *cors, struct query *q)
{
    char err[256];

    if (query_parse(FCGX_GetParam("QUERY_STRING", req->envp), cfg, q, err, sizeof err) < 0) {
        reply_error(req->out, cors, 400, NULL, "%s", err);
        return -1;
    }
    if (q->nchannels == 0) {
        reply_error(req->out, cors, 400, NULL, "channel: at least one channel is required");
        return -1;
    }
    return 0;
}

/* The callback a kind takes (JSONP polls, iframes: required), dropped for the others.
 * Returns 0, or -1 after answering 400. */
static int request_callback(FCGX_Request *req, const char *cors, enum frame_kind kind, struct query *q)
{
    if (kind != FRAME_POLL && kind != FRAME_IFRAME)
        q->callback = NULL;
    else if (q->callback ? !frame_callback_valid(q->callback) : kind == FRAME_IFRAME) {
        reply_error(req->out, cors, 400, NULL, "callback: must be a JavaScript name like Comet._cb1");
        return -1;
    }
    return 0;
}

/* The server's status channel takes the stats guard instead of channel credentials (a
 * COMET_PRIVATE_CHANNELS pattern covering it would otherwise read the stats key as a
 * JWT), so it is read alone: one credential for one check. Returns 1 when q names it
 * and the guard passed, 0 when q does not name it, -1 after answering 400, 401 or 403. */
static int request_status(FCGX_Request *req, const struct config *cfg, const char *cors, const struct query *q)
{
    size_t i = 0;

    while (i < q->nchannels && strcmp(q->channels[i], ENVELOPE_STATUS) != 0)
        i++;
    if (i == q->nchannels)
        return 0;
    if (q->nchannels > 1) {
        reply_error(req->out, cors, 400, NULL, "channel: %s is read alone", ENVELOPE_STATUS);
        return -1;
    }
    return ops_status_guard(req, cfg, cors, q->token) ? 1 : -1;
}

int request_reader(FCGX_Request *req, const struct config *cfg, const char *cors, struct query *q,
                   long long *until_ms, struct auth_who *who)
{
    int status;

    *until_ms = 0;
    if (who)
        who->id[0] = who->info[0] = 0;
    if (!request_method(req, cors, "GET")) {
        memset(q, 0, sizeof *q);
        return -1;
    }
    if (request_query(req, cfg, cors, q) < 0 || (status = request_status(req, cfg, cors, q)) < 0)
        return -1;
    return status || request_auth(req, cfg, cors, q, until_ms, who) == 0 ? 0 : -1;
}

/* w's presence, decided once here rather than on each count in or out: which of its
 * channels are presence channels, and its identity ("u:" + sub; anonymous "a:" + its
 * client's pid, else its own name); none when no channel is one. */
static void request_who(const struct config *cfg, const struct auth_who *who, struct request_wait *w)
{
    size_t n = w->q.nchannels, any = 0;
    char *flags = xmalloc(n + 1);

    for (size_t i = 0; i < n; i++)
        any += (flags[i] = pattern_list_match(cfg->presence_channels, w->q.channels[i]) ? '1' : '0') == '1';
    flags[n] = 0;
    if (!any) {
        free(flags);
        return;
    }
    w->presence = flags;
    if (who->id[0])
        snprintf(w->who, sizeof w->who, "u:%s", who->id);
    else
        snprintf(w->who, sizeof w->who, "a:%s", w->q.pid ? w->q.pid : w->name);
    strcpy(w->info, who->info);
}

int request_waiting(FCGX_Request *req, const struct config *cfg, const char *cors, enum frame_kind kind,
                    struct request_wait *w)
{
    long long until_ms, ms, left;
    struct auth_who who;

    memset(w, 0, sizeof *w);
    w->kind = kind;
    if (request_reader(req, cfg, cors, &w->q, &until_ms, &who) < 0 ||
        (kind != FRAME_POLL && request_resume(req, cors, &w->q) < 0) || request_callback(req, cors, kind, &w->q) < 0)
        return -1;
    if (kind == FRAME_SSE && w->q.untyped)
        w->kind = FRAME_SSE_UNTYPED;
    w->seconds = request_seconds(cfg, kind, &w->q);
    ms = w->seconds * 1000LL;
    left = until_ms - clock_wall_ms();
    w->expiring = until_ms && left < ms;
    w->deadline = clock_ms() + (w->expiring ? left : ms);
    w->until = clock_wall_ms() + ms + 5000;
    w->archived = archive_read_holds(cfg, w->q.channels, w->q.nchannels);
    proc_name(w->name, sizeof w->name);
    request_who(cfg, &who, w);
    return 0;
}

int request_admit(FCGX_Request *req, const struct config *cfg, const char *cors, struct request_wait *w)
{
    const char *addr = FCGX_GetParam("REMOTE_ADDR", req->envp);
    redisContext *c;
    long long rc;

    if (!cfg->max_waiting_addr)
        return 0;
    c = conn_get(cfg);
    rc = c ? store_admit(c, cfg, addr, w->name, w->until) : -1;
    if (rc > 0)
        reply_waiting_full(req->out, cors, rc);
    if (rc < 0) {
        conn_drop();
        reply_unavailable(req->out, cors);
    }
    if (rc != 0)
        return -1;
    w->addr = addr ? addr : "";
    return 0;
}

void request_wait_free(struct request_wait *w)
{
    query_free(&w->q);
    free(w->presence);
    w->presence = NULL;
}

void request_session(const struct request_wait *w, const char *cors, struct session_start *st)
{
    st->kind = w->kind;
    st->callback = w->q.callback;
    st->cors = cors;
    st->since = w->q.has_since ? &w->q.since : NULL;
    st->deadline = w->deadline;
    st->expiring = w->expiring;
    st->archived = w->archived;
}

void request_waiter(const struct request_wait *w, struct store_waiter *out)
{
    out->member = w->name;
    out->transport = frame_kind_name(w->kind);
    out->channels = w->q.channels;
    out->n = w->q.nchannels;
    out->presence = w->presence ? w->presence : "";
    out->who = w->who;
    out->info = w->info;
}
