/* publish: reads POST /publish: authenticates the publisher, checks the body (size,
 * type, JSON shape, names) and the channels the publisher may use. What is left is a
 * job that either process model queues (block_publish.c, hub_publish.c). A rejected
 * request touches nothing in Redis. */
#include "publish.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "clock.h"
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

/* A publish without a key: allowed when every channel is public (its rate is checked
 * when it is queued). Returns 0, or -1 after answering 401. */
static int publish_public(FCGX_Request *req, const char *cors, const struct config *cfg,
                          const struct publish_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (!pattern_list_match(cfg->public_channels, b->channels[i])) {
            reply_error(req->out, cors, 401, "WWW-Authenticate: Bearer\r\n",
                        "missing publish key: %s is not a public channel", b->channels[i]);
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
    if (strcmp(json_string_value(v), ENVELOPE_STATUS) == 0) {
        snprintf(err, errlen, "item %zu: %s is the server's own channel: nobody publishes to it", i, ENVELOPE_STATUS);
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

int publish_depth_ok(const char *body, size_t len, int max)
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
    if (!publish_depth_ok(body, len, cfg->max_depth)) {
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

/* What identifies the request of an Idempotency-Key: who publishes (the same key under
 * another key name, or a keyless retry from another address, is another request) and
 * the body. A valid JSON body holds no NUL byte. */
static char *publish_print(const struct publisher *who, const char *addr, const char *body, size_t len)
{
    char *print = xmalloc(len + 80);
    int head = snprintf(print, 80, "%.64s\n", who->key ? who->key->name : who->token ? "token" : addr ? addr : "-");

    memcpy(print + head, body, len);
    print[head + len] = 0;
    return print;
}

/* The checks of publish_read once the body is read. Returns 0, or -1 after answering. */
static int publish_check(FCGX_Request *req, const struct config *cfg, const char *cors,
                         const struct publisher *who, const char *body, size_t len, struct publish_job *job)
{
    struct query q = {0};
    char err[512];
    int rc = -1;

    if (query_parse(FCGX_GetParam("QUERY_STRING", req->envp), cfg, &q, err, sizeof err) < 0 ||
        publish_parse(body, len, cfg, &job->batch, err, sizeof err) < 0)
        reply_error(req->out, cors, 400, NULL, "%s", err);
    else if ((who->key || who->token) ? publish_allowed(req, cors, cfg, who, &job->batch) == 0
                                      : publish_public(req, cors, cfg, &job->batch) == 0)
        rc = 0;
    job->wait = q.wait;
    query_free(&q);
    return rc;
}

int publish_read(FCGX_Request *req, const struct config *cfg, const char *cors, struct publish_job *job)
{
    const char *idem = NULL, *addr = FCGX_GetParam("REMOTE_ADDR", req->envp);
    struct publisher who = {0};
    char *body = NULL;
    size_t len = 0;
    int rc = -1;

    memset(job, 0, sizeof *job);
    if (request_method(req, cors, "POST") && publish_who(req, cors, cfg, &who) == 0 &&
        publish_idem(req, cors, &idem) == 0 && (body = publish_body(req, cors, cfg, &len)) &&
        publish_check(req, cfg, cors, &who, body, len, job) == 0) {
        job->who = who.key ? who.key->name : who.token ? "a token" : "a public client";
        if (!who.key && !who.token)
            job->rate_who = xstrdup(addr ? addr : "-");
        if (idem) {
            job->idem = xstrdup(idem);
            job->print = publish_print(&who, addr, body, len);
        }
        rc = 0;
    }
    free(body);
    return rc;
}

void publish_job_free(struct publish_job *job)
{
    publish_batch_free(&job->batch);
    free(job->idem);
    free(job->print);
    free(job->rate_who);
    memset(job, 0, sizeof *job);
}

void publish_store(const struct publish_job *job, const char *reply_key, struct store_publish *p)
{
    p->n = job->batch.n;
    p->channels = job->batch.channels;
    p->tails = job->batch.tails;
    p->reply_key = job->wait ? reply_key : NULL;
    p->idem = job->idem;
    p->print = job->print;
}

/* At most one warning a minute per process: a publisher that keeps publishing while no
 * worker runs learns it from each answer; the log needs it once. */
#define PUBLISH_ABSENT_EVERY_MS 60000

void publish_note_worker(int absent)
{
    static _Atomic long long warned; /* wall ms of the last warning; 0 for none */
    long long now = clock_ms(), last = atomic_load(&warned);

    if (absent && (last == 0 || now - last >= PUBLISH_ABSENT_EVERY_MS) &&
        atomic_compare_exchange_strong(&warned, &last, now))
        log_warn("publish: no worker holds the lease: publishes are queued, and stored only once "
                 "comet-worker runs (this warning at most once a minute per process)");
}
