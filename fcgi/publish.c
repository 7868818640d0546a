/* publish: authenticates the publisher, checks the body (size, type, JSON shape,
 * names), queues it as one inbox entry, and with ?wait=1 waits for the worker's
 * confirmation. A rejected request touches nothing in Redis. */
#include "publish.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "clock.h"
#include "conn.h"
#include "envelope.h"
#include "log.h"
#include "pattern.h"
#include "reply.h"
#include "request.h"
#include "store.h"
#include "xalloc.h"

/* Who is publishing: a configured key, a token's bearer, or nobody (public channels). */
struct publisher {
    const struct config_key *key;
    const char *token;
};

/* The credential check, before the body is read. Fills p: a matching key, or a JWT
 * to check against the channels once they are known, or neither when nothing was
 * sent and public channels exist. Returns 0, or -1 after answering 401. */
static int publish_who(FCGX_Request *req, const char *cors, const struct config *cfg, struct publisher *p)
{
    const char *h = FCGX_GetParam("HTTP_AUTHORIZATION", req->envp);
    const char *v = h && strncasecmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
    int tokens = cfg->jwt_secret[0] || cfg->jwt_public_pem[0];

    if ((!h || !*h) && cfg->public_channels[0])
        return 0;
    if (v && (p->key = auth_key(cfg, v)))
        return 0;
    /* A JWT is three base64url parts joined by dots; a key never needs to look like one. */
    if (v && tokens && strchr(v, '.')) {
        p->token = v;
        return 0;
    }
    reply_error(req->out, cors, 401, "WWW-Authenticate: Bearer\r\n", "%s",
                cfg->npublish_keys == 0 && !tokens ? "publishing is disabled: no COMET_PUBLISH_KEYS configured"
                : h && *h ? "wrong publish key" : "missing publish key: send Authorization: Bearer KEY");
    return -1;
}

/* Whether the key or token covers every channel of the batch. Returns 0, or -1
 * after answering 401 or 403. */
static int publish_allowed(FCGX_Request *req, const char *cors, const struct config *cfg, const struct publisher *p,
                           const struct publish_batch *b)
{
    char err[256];
    enum auth_status rc;

    if (p->token) {
        if ((rc = auth_publish(cfg, p->token, b->channels, b->n, clock_wall_ms(), err, sizeof err)) == AUTH_OK)
            return 0;
        reply_error(req->out, cors, (int)rc, rc == AUTH_UNAUTHORIZED ? "WWW-Authenticate: Bearer\r\n" : NULL, "%s", err);
        return -1;
    }
    for (size_t i = 0; p->key->channels && i < b->n; i++)
        if (!pattern_list_match(p->key->channels, b->channels[i])) {
            reply_error(req->out, cors, 403, NULL, "the key %s may not publish to %s", p->key->name, b->channels[i]);
            return -1;
        }
    return 0;
}

/* A publish without a key: allowed when every channel is public and the client is
 * within its rate. Returns 0, or -1 after answering 401, 429 or 503. */
static int publish_public(FCGX_Request *req, const char *cors, const struct config *cfg, redisContext *c,
                          const struct publish_batch *b)
{
    const char *addr = FCGX_GetParam("REMOTE_ADDR", req->envp);
    char retry[40];
    long long n;

    for (size_t i = 0; i < b->n; i++)
        if (!pattern_list_match(cfg->public_channels, b->channels[i])) {
            reply_error(req->out, cors, 401, "WWW-Authenticate: Bearer\r\n",
                        "missing publish key: %s is not a public channel", b->channels[i]);
            return -1;
        }
    if (!c || (n = store_rate(c, cfg, addr ? addr : "-")) < 0) {
        conn_drop();
        reply_unavailable(req->out, cors);
        return -1;
    }
    if (n > cfg->public_rate) {
        snprintf(retry, sizeof retry, "Retry-After: %lld\r\n", 60 - clock_wall_ms() / 1000 % 60);
        reply_error(req->out, cors, 429, retry, "at most %d publishes a minute without a key", cfg->public_rate);
        return -1;
    }
    return 0;
}

static void batch_add(struct publish_batch *b, const char *channel, char *tail)
{
    b->channels = xrealloc(b->channels, (b->n + 1) * sizeof *b->channels);
    b->tails = xrealloc(b->tails, (b->n + 1) * sizeof *b->tails);
    b->channels[b->n] = xstrdup(channel);
    b->tails[b->n++] = tail;
}

/* Checks one channel name of item i; returns it, or NULL with err set. */
static const char *item_channel(json_t *v, size_t i, const struct config *cfg, char *err, size_t errlen)
{
    if (!json_is_string(v) || !envelope_channel_valid(json_string_value(v), json_string_length(v)) ||
        json_string_length(v) > (size_t)cfg->channel_max) {
        snprintf(err, errlen, "item %zu: a channel name is 1 to %d bytes of A-Z a-z 0-9 _ - . : / @", i,
                 cfg->channel_max);
        return NULL;
    }
    return json_string_value(v);
}

/* The channel names of item i (channel, or channels: distinct) into names, *n of them.
 * Returns 0 or -1 with err set. */
static int item_channels(json_t *channel, json_t *channels, size_t i, const struct config *cfg,
                         const char **names, size_t *n, char *err, size_t errlen)
{
    json_t *v;
    size_t k;

    *n = 0;
    if (channel)
        return (names[(*n)++] = item_channel(channel, i, cfg, err, errlen)) ? 0 : -1;
    if (!json_is_array(channels) || json_array_size(channels) == 0 ||
        json_array_size(channels) > (size_t)cfg->max_channels) {
        snprintf(err, errlen, "item %zu: channels is a list of 1 to %d channel names", i, cfg->max_channels);
        return -1;
    }
    json_array_foreach(channels, k, v) {
        if (!(names[*n] = item_channel(v, i, cfg, err, errlen)))
            return -1;
        for (size_t j = 0; j < *n; j++)
            if (strcmp(names[j], names[*n]) == 0) {
                snprintf(err, errlen, "item %zu: channels names a channel twice", i);
                return -1;
            }
        (*n)++;
    }
    return 0;
}

/* Validates item i and appends its events. Returns 0 or -1 with err set. */
static int parse_item(json_t *item, size_t i, const struct config *cfg, struct publish_batch *b,
                      char *err, size_t errlen)
{
    json_t *channel, *channels, *event, *data, *v;
    const char *key, *type = "message", *names[1024];
    size_t n = 0;

    if (!json_is_object(item)) {
        snprintf(err, errlen, "item %zu: each event is an object with channel, event and data", i);
        return -1;
    }
    json_object_foreach(item, key, v)
        if (strcmp(key, "channel") && strcmp(key, "channels") && strcmp(key, "event") && strcmp(key, "data")) {
            snprintf(err, errlen, "item %zu: unknown field (allowed: channel, channels, event, data)", i);
            return -1;
        }
    channel = json_object_get(item, "channel");
    channels = json_object_get(item, "channels");
    event = json_object_get(item, "event");
    if (!(data = json_object_get(item, "data"))) {
        snprintf(err, errlen, "item %zu: data is required (any JSON value)", i);
        return -1;
    }
    if (!channel == !channels) {
        snprintf(err, errlen, "item %zu: give either channel or channels", i);
        return -1;
    }
    if (event && (!json_is_string(event) ||
                  !envelope_type_valid(json_string_value(event), json_string_length(event)))) {
        snprintf(err, errlen, "item %zu: event is 1 to 64 bytes of A-Z a-z 0-9 _ - . : "
                 "and does not start with comet-", i);
        return -1;
    }
    if (event)
        type = json_string_value(event);
    if (item_channels(channel, channels, i, cfg, names, &n, err, errlen) < 0)
        return -1;
    if (b->n + n > (size_t)cfg->max_batch) {
        snprintf(err, errlen, "at most %d events in one publish", cfg->max_batch);
        return -1;
    }
    for (size_t k = 0; k < n; k++)
        batch_add(b, names[k], envelope_tail(names[k], type, data));
    return 0;
}

/* 1 when no array or object in body[0..len) nests deeper than max, the outermost
 * counting as 1. Counted before parsing, on the raw bytes (brackets inside strings
 * skipped), so a deep body costs neither the parser's recursion nor its allocations. */
static int depth_ok(const char *body, size_t len, int max)
{
    int depth = 0, in_string = 0;

    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if ((c == '[' || c == '{') && ++depth > max) {
            return 0;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 1;
}

int publish_parse(const char *body, size_t len, const struct config *cfg,
                  struct publish_batch *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL, *item;
    size_t i;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!depth_ok(body, len, cfg->max_depth)) {
        snprintf(err, errlen, "the body nests arrays and objects deeper than %d levels", cfg->max_depth);
        return -1;
    }
    if (!(root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr))) {
        snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (json_is_array(root)) {
        if (json_array_size(root) == 0) {
            snprintf(err, errlen, "the batch is empty");
            goto done;
        }
        json_array_foreach(root, i, item)
            if (parse_item(item, i, cfg, out, err, errlen) < 0)
                goto done;
    } else if (parse_item(root, 0, cfg, out, err, errlen) < 0) {
        goto done;
    }
    rc = 0;
done:
    if (rc < 0)
        publish_batch_free(out);
    json_decref(root);
    return rc;
}

void publish_batch_free(struct publish_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->channels[i]);
        free(b->tails[i]);
    }
    free(b->channels);
    free(b->tails);
    memset(b, 0, sizeof *b);
}

/* 1 when the Content-Type is application/json, parameters (charset) allowed. */
static int is_json(const char *type)
{
    size_t n = strlen("application/json");

    return type && strncasecmp(type, "application/json", n) == 0 &&
           (type[n] == 0 || type[n] == ';' || type[n] == ' ');
}

/* Reads the body after checking its type and length. Returns it (caller frees), or
 * NULL after answering 411, 413 or 415. */
static char *publish_body(FCGX_Request *req, const char *cors, const struct config *cfg, size_t *len)
{
    const char *cl = FCGX_GetParam("CONTENT_LENGTH", req->envp);
    char *body, *end;
    long n;

    if (!is_json(FCGX_GetParam("CONTENT_TYPE", req->envp))) {
        reply_error(req->out, cors, 415, NULL, "send the body as Content-Type: application/json");
        return NULL;
    }
    /* mod_fcgid passes 0 for a POST without a length: either way there is no body. */
    n = cl && *cl ? strtol(cl, &end, 10) : 0;
    if (n <= 0 || *end) {
        reply_error(req->out, cors, 411, NULL, "a body with a Content-Length is required");
        return NULL;
    }
    if (n > cfg->max_body) {
        /* Read the rest anyway: closing with unread data resets the connection
         * before the client has read this answer. */
        request_drain(req);
        reply_error(req->out, cors, 413, NULL, "the body is larger than %d bytes", cfg->max_body);
        return NULL;
    }
    body = xmalloc((size_t)n + 1);
    *len = (size_t)FCGX_GetStr(body, (int)n, req->in);
    return body;
}

/* The Idempotency-Key header: NULL when absent, else the key. Returns 0, or -1 after
 * answering 400 for a malformed key. */
static int publish_idem(FCGX_Request *req, const char *cors, const char **key)
{
    const char *h = FCGX_GetParam("HTTP_IDEMPOTENCY_KEY", req->envp);
    size_t len = h ? strlen(h) : 0;

    *key = h;
    if (!h)
        return 0;
    if (len >= 1 && len <= PUBLISH_IDEM_MAX && strspn(h, PUBLISH_IDEM_CHARS) == len)
        return 0;
    reply_error(req->out, cors, 400, NULL, "Idempotency-Key: 1 to %d bytes of A-Z a-z 0-9 - _ . : + / =",
                PUBLISH_IDEM_MAX);
    return -1;
}

/* ?wait=1: waits for the worker to push the ids of this publish. Answers 200 with
 * them, or 202 unconfirmed when no worker answered in time. */
static void publish_wait(FCGX_Request *req, const char *cors, const struct config *cfg, redisContext *c,
                         const char *reply_key, size_t n)
{
    char *text = NULL;
    json_t *ids = NULL;
    int rc = store_await_ids(c, reply_key, cfg->publish_wait, &text);

    if (rc > 0 && (ids = json_loads(text, 0, NULL)))
        reply_json(req->out, cors, 200, json_pack("{s:o}", "ids", ids), NULL);
    else
        reply_json(req->out, cors, 202, json_pack("{s:I, s:b}", "accepted", (json_int_t)n, "confirmed", 0), NULL);
    if (rc < 0)
        conn_drop();
    free(text);
}

/* Answers a retry of an earlier publish with the first one's answer: 202 accepted,
 * or with ?wait=1 its ids once the worker has stored it (waiting for them as the
 * first would have). */
static void publish_replay(FCGX_Request *req, const char *cors, const struct config *cfg, redisContext *c, const char *idem,
                           const struct query *q, struct store_once *once)
{
    static const char replayed[] = "Idempotent-Replayed: true\r\n";
    long long until = clock_wall_ms() + cfg->publish_wait * 1000LL;
    json_t *ids = NULL;

    while (q->wait && !once->ids && clock_wall_ms() < until) {
        poll(NULL, 0, 100);
        if (store_once_ids(c, cfg, idem, &once->ids) < 0) {
            conn_drop();
            reply_unavailable(req->out, cors);
            return;
        }
    }
    if (q->wait && once->ids && (ids = json_loads(once->ids, 0, NULL)))
        reply_json(req->out, cors, 200, json_pack("{s:o}", "ids", ids), replayed);
    else if (q->wait)
        reply_json(req->out, cors, 202, json_pack("{s:I, s:b}", "accepted", (json_int_t)once->n, "confirmed", 0), replayed);
    else
        reply_json(req->out, cors, 202, json_pack("{s:I}", "accepted", (json_int_t)once->n), replayed);
}

/* Queues the batch, under its Idempotency-Key when there is one; answers a replay or
 * a conflict itself. Returns 1 when queued anew, 0 when answered, -1 on a Redis error. */
static int publish_queue(FCGX_Request *req, const char *cors, const struct config *cfg, redisContext *c, const char *idem,
                         const char *print, const struct query *q, const struct publish_batch *b,
                         const char *reply_key)
{
    struct store_once once;
    int rc;

    if (!idem)
        return store_enqueue(c, cfg, b->n, b->channels, b->tails, reply_key) < 0 ? -1 : 1;
    if (store_enqueue_once(c, cfg, idem, print, b->n, b->channels, b->tails, reply_key, &once) < 0)
        return -1;
    rc = once.status == STORE_ONCE_NEW;
    if (once.status == STORE_ONCE_CONFLICT)
        reply_error(req->out, cors, 422, NULL, "Idempotency-Key: already used for a different request");
    else if (once.status == STORE_ONCE_REPLAY)
        publish_replay(req, cors, cfg, c, idem, q, &once);
    free(once.ids);
    return rc;
}

void publish_handle(FCGX_Request *req, const struct config *cfg, const char *cors)
{
    struct publish_batch b = {0};
    struct publisher who = {0};
    struct query q = {0};
    char err[512], reply_key[STORE_KEY_MAX], token[33];
    const char *idem = NULL, *addr = FCGX_GetParam("REMOTE_ADDR", req->envp);
    redisContext *c = NULL;
    char *body = NULL, *print = NULL;
    size_t len = 0;
    int queued;

    if (!request_method(req, cors, "POST") || publish_who(req, cors, cfg, &who) < 0 || publish_idem(req, cors, &idem) < 0 ||
        !(body = publish_body(req, cors, cfg, &len)))
        goto done;
    if (query_parse(FCGX_GetParam("QUERY_STRING", req->envp), cfg, &q, err, sizeof err) < 0 ||
        publish_parse(body, len, cfg, &b, err, sizeof err) < 0) {
        reply_error(req->out, cors, 400, NULL, "%s", err);
        goto done;
    }
    if ((who.key || who.token) && publish_allowed(req, cors, cfg, &who, &b) < 0)
        goto done;
    c = conn_get(cfg);
    if (!who.key && !who.token && publish_public(req, cors, cfg, c, &b) < 0)
        goto done;
    if (q.wait) {
        for (int i = 0; i < 16; i++)
            snprintf(token + 2 * i, 3, "%02x", (unsigned)rand() & 0xff);
        store_key(cfg, "reply:", token, reply_key);
    }
    if (idem) {
        /* Who publishes is part of the request: the same key under another key name, or
         * a keyless retry from another address, is another request. A valid JSON body
         * holds no NUL byte. */
        int head;
        print = xmalloc(len + 80);
        head = snprintf(print, 80, "%.64s\n", who.key ? who.key->name : who.token ? "token" : addr ? addr : "-");
        memcpy(print + head, body, len);
        print[head + len] = 0;
    }
    queued = c ? publish_queue(req, cors, cfg, c, idem, print, &q, &b, q.wait ? reply_key : NULL) : -1;
    if (queued < 0) {
        conn_drop();
        reply_unavailable(req->out, cors);
    } else if (queued) {
        log_info("%zu events by %s", b.n, who.key ? who.key->name : who.token ? "a token" : "a public client");
        if (q.wait)
            publish_wait(req, cors, cfg, c, reply_key, b.n);
        else
            reply_json(req->out, cors, 202, json_pack("{s:I}", "accepted", (json_int_t)b.n), NULL);
    }
done:
    free(body);
    free(print);
    query_free(&q);
    publish_batch_free(&b);
}
