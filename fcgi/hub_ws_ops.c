/* hub_ws_ops: what a WebSocket connection's session and ops send. A socket reads one
 * channel set through one session of the hub (hub_wait.c), FRAME_WS: each line it
 * frames is one text message. An op that changes the set ends that session and starts
 * one over the new set from the cursor, checked by the same code as GET /comet/ws
 * itself (request_waiting: names, credentials, limits); a publish op goes through
 * publish_read and the hub's publish, as POST /comet/publish?wait=1. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "hub.h"
#include "hub_ws_conn.h"
#include "link.h"
#include "memreq.h"
#include "proc.h"
#include "reply.h"
#include "request.h"
#include "ws_msg.h"
#include "xalloc.h"

/* A publish op in flight: its answer comes to ops_published. */
struct ws_pub {
    struct ws_conn *c; /* NULL once the connection closed */
    char *ref;         /* the op's ref as JSON, or NULL */
    LIST_ENTRY(ws_pub) link;
};

/* ---- answers ---- */

/* Sends {"op":op,"ref":ref, o's fields} as one message; ref is JSON text or NULL, o
 * is stolen. */
static void ops_send(struct ws_conn *c, const char *op, const char *ref, json_t *o)
{
    json_t *m = json_pack("{s:s}", "op", op);
    char *text;

    if (ref)
        json_object_set_new(m, "ref", json_loads(ref, JSON_DECODE_ANY, NULL));
    json_object_update(m, o);
    if ((text = json_dumps(m, JSON_COMPACT))) {
        ws_conn_text(c, text, strlen(text));
        free(text);
    }
    json_decref(o);
    json_decref(m);
}

static void ops_error(struct ws_conn *c, const char *ref, int status, const char *msg)
{
    ops_send(c, "error", ref, json_pack("{s:i, s:s}", "status", status, "error", msg));
}

/* The error of a CGI answer a[0..len) that is not a 200: its JSON body's fields with
 * its status. */
static void ops_refused(struct ws_conn *c, const char *ref, const char *a, size_t len)
{
    const char *body;
    size_t blen;
    int status = memreq_status(a, len, &body, &blen);
    json_t *o = status >= 0 ? json_loadb(body, blen, 0, NULL) : NULL;

    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    if (!json_object_get(o, "error"))
        json_object_set_new(o, "error", json_string("not confirmed by the worker in time"));
    json_object_set_new(o, "status", json_integer(status < 0 ? 500 : status));
    ops_send(c, "error", ref, o);
}

/* ---- the session ---- */

/* Appends value to q, percent-encoded but for RFC 3986's unreserved characters. */
static void ops_encode(struct buf *q, const char *name, const char *value)
{
    char hex[4];

    if (!value)
        return;
    buf_puts(q, q->len ? "&" : "");
    buf_puts(q, name);
    buf_puts(q, "=");
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        snprintf(hex, sizeof hex, "%%%02X", *p);
        if (strchr("-._~", *p) || (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
            buf_append(q, (const char *)p, 1);
        else
            buf_puts(q, hex);
    }
}

/* Runs GET /comet/ws's checks on m for query qs: the channels, credentials and limits.
 * Returns 0 with w filled, or -1 with the refusal in m's answer. w must be freed with
 * request_wait_free either way. */
static int ops_check(struct ws_conn *c, const char *qs, struct memreq *m, struct request_wait *w)
{
    int first = c->state == WS_ADMIT;

    memreq_init(m, NULL, 0);
    memreq_param(m, "REQUEST_METHOD", "GET");
    memreq_param(m, "QUERY_STRING", qs);
    memreq_param(m, "HTTP_COOKIE", c->head.cookie);
    memreq_param(m, "HTTP_AUTHORIZATION", c->head.authorization);
    memreq_param(m, "REMOTE_ADDR", c->addr);
    if (request_waiting(&m->req, c->cfg, NULL, FRAME_WS, w) < 0)
        return -1;
    return first && !hub_room(&m->req, c->cfg, NULL) ? -1 : 0;
}

static void ops_session(struct hub_req *r, const struct buf *out, int end);

/* Starts the session of checked w; the connection now reads w's channels. */
static void ops_begin(struct ws_conn *c, const struct request_wait *w)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->channels[i]);
    c->channels = xrealloc(c->channels, (w->q.nchannels ? w->q.nchannels : 1) * sizeof *c->channels);
    c->n = w->q.nchannels;
    for (size_t i = 0; i < c->n; i++)
        c->channels[i] = xstrdup(w->q.channels[i]);
    c->ends = w->deadline;
    c->expiring = w->expiring;
    c->waiter = hub_wait_sink(c->cfg, w, c->addr, ops_session, c);
}

/* The query of a session over channels[0..n) from since ("": none), with the upgrade's
 * credentials and client id (so presence sees one client across its sessions), into q. */
static void ops_query(const struct ws_conn *c, char *const *channels, size_t n, const char *since, struct buf *q)
{
    for (size_t i = 0; i < n; i++)
        ops_encode(q, "channel", channels[i]);
    ops_encode(q, "since", *since ? since : NULL);
    ops_encode(q, "token", c->token);
    ops_encode(q, "expires", c->expires);
    ops_encode(q, "sig", c->sig);
    ops_encode(q, "pid", c->pid);
}

/* Ends the current session (what it framed so far is sent) and starts one over
 * channels[0..n) from since. Returns 0, or -1 after sending the refusal as an error
 * for ref (the current session then goes on). */
static int ops_restart(struct ws_conn *c, char *const *channels, size_t n, const char *since, const char *ref)
{
    struct buf q = {0};
    struct memreq m;
    struct request_wait w;
    int rc;

    ops_query(c, channels, n, since, &q);
    if ((rc = ops_check(c, q.s ? q.s : "", &m, &w)) == 0) {
        struct hub_req *old = c->waiter;
        if (old)
            hub_req_detach(old); /* its last lines go out first */
        c->waiter = NULL;
        ops_begin(c, &w);
    } else {
        const struct buf *a = memreq_answer(&m);
        ops_refused(c, ref, a->s, a->len);
    }
    request_wait_free(&w);
    memreq_free(&m);
    buf_free(&q);
    return rc;
}

/* A session ended by itself: at its lifetime a new one resumes from its cursor unseen
 * (the socket needs no end, and the store's waiting sets get a fresh deadline); at the
 * credentials' expiry ({"expired":true} was sent), a stop or a Redis failure the
 * socket closes, and the client resumes from its cursor. */
static void ops_ended(struct ws_conn *c)
{
    long long now = clock_ms();

    if (proc_stopping)
        ws_conn_close(c, 1001, "the server is stopping: resume from your cursor");
    else if (c->expiring && now >= c->ends)
        ws_conn_close(c, 1000, "credentials expired");
    else if (now < c->ends || link_state() != LINK_UP)
        ws_conn_close(c, 1013, "the server lost Redis: resume from your cursor");
    else if (ops_restart(c, c->channels, c->n, c->cursor, NULL) < 0)
        ws_conn_close(c, 1008, "refused on renewal");
}

/* Sends each line of what the session framed as one text message. */
static void ops_lines(struct ws_conn *c, const struct buf *out)
{
    const char *p = out->s, *end = out->s + out->len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        if (len)
            ws_conn_text(c, p, len);
        p += len + 1;
    }
}

/* The sink of the connection's session: frames, or before any a CGI refusal (its
 * admission: 429, 503), which is the upgrade's answer while the 101 waits. */
static void ops_session(struct hub_req *r, const struct buf *out, int end)
{
    struct ws_conn *c = r->owner;
    int refused = out->len >= 8 && memcmp(out->s, "Status: ", 8) == 0;

    if (c->waiter != r)
        return; /* let go of */
    if (end) {
        hub_wait_since(r, c->cursor);
        c->waiter = NULL;
    }
    if (refused && c->state == WS_ADMIT) {
        ws_conn_refuse(c, out->s, out->len);
        return;
    }
    if (refused) {
        ops_refused(c, NULL, out->s, out->len);
        ws_conn_close(c, 1013, "refused: resume from your cursor");
        return;
    }
    if (c->state == WS_ADMIT && ws_conn_upgrade(c) < 0)
        return;
    ops_lines(c, out);
    if (end)
        ops_ended(c);
}

/* ---- the ops ---- */

/* The channels of c with m's added (subscribe) or taken out (unsubscribe), into *set
 * (an array the caller frees, pointing at names of c and m). */
static size_t ops_set(const struct ws_conn *c, const struct ws_msg *m, char ***set)
{
    size_t n = 0;

    *set = xcalloc(c->n + m->n + 1, sizeof **set);
    for (size_t i = 0; i < c->n; i++) {
        int listed = 0;
        for (size_t k = 0; k < m->n; k++)
            listed |= strcmp(c->channels[i], m->channels[k]) == 0;
        if (m->op == WS_SUBSCRIBE || !listed)
            (*set)[n++] = c->channels[i];
    }
    for (size_t k = 0; m->op == WS_SUBSCRIBE && k < m->n; k++) {
        int listed = 0;
        for (size_t i = 0; i < c->n; i++)
            listed |= strcmp(c->channels[i], m->channels[k]) == 0;
        if (!listed)
            (*set)[n++] = m->channels[k];
    }
    return n;
}

/* Subscribe or unsubscribe: a session over the new set from the cursor (subscribe: from
 * its since when given). */
static void ops_subscribe(struct ws_conn *c, const struct ws_msg *m)
{
    char since[CURSOR_MAX], **set;
    size_t n = ops_set(c, m, &set);
    json_t *names = json_array();

    if (c->waiter)
        hub_wait_since(c->waiter, since);
    else
        strcpy(since, c->cursor);
    if (m->since)
        snprintf(since, sizeof since, "%s", m->since);
    for (size_t k = 0; k < m->n; k++)
        json_array_append_new(names, json_string(m->channels[k]));
    if (n == 0 && c->waiter) {
        strcpy(c->cursor, since);
        hub_req_detach(c->waiter);
        c->waiter = NULL;
    }
    for (size_t i = 0; n == 0 && i < c->n; i++)
        free(c->channels[i]);
    if (n == 0)
        c->n = 0;
    if (n > 0 && ops_restart(c, set, n, since, m->ref) < 0)
        json_decref(names);
    else if (m->op == WS_SUBSCRIBE)
        ops_send(c, "subscribed", m->ref,
                 *since ? json_pack("{s:o, s:s}", "channels", names, "cursor", since)
                        : json_pack("{s:o}", "channels", names));
    else
        ops_send(c, "unsubscribed", m->ref, json_pack("{s:o}", "channels", names));
    free(set);
}

/* The answer of a publish op, once whole: ack with its ids, or the error. */
static void ops_published(struct hub_req *r, const struct buf *out, int end)
{
    struct ws_pub *p = r->owner;
    const char *body;
    size_t blen;
    json_t *o = NULL;

    if (!end)
        return;
    if (p->c && memreq_status(out->s, out->len, &body, &blen) == 200)
        o = json_loadb(body, blen, 0, NULL); /* json_is_object evaluates its argument twice */
    if (p->c && json_is_object(o))
        ops_send(p->c, "ack", p->ref, json_pack("{s:O}", "ids", json_object_get(o, "ids")));
    else if (p->c)
        ops_refused(p->c, p->ref, out->s, out->len);
    json_decref(o);
    if (p->c)
        LIST_REMOVE(p, link);
    free(p->ref);
    free(p);
}

/* The publisher's credential: the upgrade's Authorization, else its token (query or
 * comet_token cookie) as a bearer, into buf; NULL for none (public channels). */
static const char *ops_bearer(const struct ws_conn *c, char *buf, size_t len)
{
    char cookie[AUTH_TOKEN_MAX + 1];
    const char *token;

    if (c->head.authorization)
        return c->head.authorization;
    if (!(token = auth_request_token(NULL, c->token, c->head.cookie, cookie, sizeof cookie)))
        return NULL;
    snprintf(buf, len, "Bearer %s", token);
    return buf;
}

/* Publish: POST /comet/publish?wait=1's checks on the op's body, then the hub's publish. */
static void ops_publish(struct ws_conn *c, struct ws_msg *m)
{
    char clen[24], bearer[AUTH_TOKEN_MAX + 16];
    struct publish_job job;
    struct memreq mr;

    memreq_init(&mr, m->body, strlen(m->body));
    snprintf(clen, sizeof clen, "%zu", strlen(m->body));
    memreq_param(&mr, "REQUEST_METHOD", "POST");
    memreq_param(&mr, "CONTENT_TYPE", "application/json");
    memreq_param(&mr, "CONTENT_LENGTH", clen);
    memreq_param(&mr, "QUERY_STRING", "wait=1");
    memreq_param(&mr, "REMOTE_ADDR", c->addr);
    memreq_param(&mr, "HTTP_AUTHORIZATION", ops_bearer(c, bearer, sizeof bearer));
    if (publish_read(&mr.req, c->cfg, NULL, &job) == 0) {
        struct ws_pub *p = xcalloc(1, sizeof *p);
        p->c = c;
        p->ref = m->ref;
        m->ref = NULL;
        LIST_INSERT_HEAD(&c->pubs, p, link);
        hub_publish_sink(c->cfg, &job, ops_published, p);
    } else {
        const struct buf *a = memreq_answer(&mr);
        ops_refused(c, m->ref, a->s, a->len);
    }
    publish_job_free(&job);
    memreq_free(&mr);
}

void ws_ops_message(struct ws_conn *c, const char *text, size_t len)
{
    struct ws_msg m;
    char err[256];

    if (ws_msg_parse(text, len, c->cfg, &m, err, sizeof err) < 0)
        ops_error(c, m.ref, 400, err);
    else if (m.op == WS_PUBLISH)
        ops_publish(c, &m);
    else
        ops_subscribe(c, &m);
    ws_msg_free(&m);
}

/* What is wrong with the upgrade before its query is read, as a CGI answer into out;
 * nothing when it may go on. */
static void ops_upgrade_check(const struct ws_conn *c, struct buf *out)
{
    const char *target = c->head.target, *q = target + strcspn(target, "?");
    const char *why;
    char err[256];

    if (q - target < 3 || memcmp(q - 3, "/ws", 3) != 0)
        reply_error_to(out, 404, NULL, NULL, "no such endpoint: this socket serves /comet/ws only");
    else if ((why = ws_head_upgrade_error(&c->head)))
        reply_error_to(out, 400, NULL, NULL, why);
    else if (!ws_head_origin_ok(&c->head, c->cfg))
        reply_error_to(out, 403, NULL, NULL, "Origin: this page's origin may not open a socket here "
                                             "(COMET_CORS_ORIGINS)");
    else if (ws_accept_init(err, sizeof err) < 0) /* once: a process without sockets never maps it */
        reply_error_to(out, 503, NULL, "Retry-After: 60\r\n", "this server cannot answer WebSocket upgrades now");
}

/* Keeps the upgrade's credentials and client id for the sessions of later ops. */
static void ops_keep(struct ws_conn *c, const struct query *q)
{
    c->token = q->token ? xstrdup(q->token) : NULL;
    c->expires = q->expires ? xstrdup(q->expires) : NULL;
    c->sig = q->sig ? xstrdup(q->sig) : NULL;
    c->pid = q->pid ? xstrdup(q->pid) : NULL;
}

void ws_ops_open(struct ws_conn *c)
{
    const char *target = c->head.target, *qs = strchr(target, '?');
    struct buf refusal = {0};
    struct memreq m;
    struct request_wait w;

    ops_upgrade_check(c, &refusal);
    if (refusal.len) {
        ws_conn_refuse(c, refusal.s, refusal.len);
        buf_free(&refusal);
        return;
    }
    if (ops_check(c, qs ? qs + 1 : "", &m, &w) == 0) {
        ops_keep(c, &w.q);
        ops_begin(c, &w);
    } else {
        const struct buf *a = memreq_answer(&m);
        ws_conn_refuse(c, a->s, a->len);
    }
    request_wait_free(&w);
    memreq_free(&m);
}

void ws_ops_leave(struct ws_conn *c)
{
    struct hub_req *r = c->waiter;
    struct ws_pub *p;

    c->waiter = NULL;
    if (r)
        hub_req_detach(r);
    while ((p = LIST_FIRST(&c->pubs))) {
        LIST_REMOVE(p, link);
        p->c = NULL;
    }
    for (size_t i = 0; i < c->n; i++)
        free(c->channels[i]);
    free(c->channels);
    c->channels = NULL;
    c->n = 0;
}
