/* ops_channel: channel information for the backend, with a publish key (COMET_PUBLISH_KEYS;
 * a named key with patterns sees only its channels): GET /channel?channel=A, DELETE
 * /channel?channel=A (its history), GET /channels?prefix=P[&cursor=C]. What is read is
 * the store's (store_channel.c). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ask.h"
#include "auth.h"
#include "ops.h"
#include "pattern.h"
#include "query.h"
#include "reply.h"
#include "request.h"
#include "store.h"

/* The publish key of req (borrowed from cfg), or NULL after answering 401. */
static const struct config_key *ops_key(FCGX_Request *req, const struct config *cfg, const char *cors)
{
    const char *h = FCGX_GetParam("HTTP_AUTHORIZATION", req->envp);
    const struct config_key *key = NULL;

    if (h && strncasecmp(h, "Bearer ", 7) == 0 && h[7])
        key = auth_key(cfg, h + 7);
    if (!key)
        reply_error(req->out, cors, 401, "WWW-Authenticate: Bearer\r\n", "%s",
                    h && *h ? "wrong publish key" : "send a publish key: Authorization: Bearer KEY");
    return key;
}

/* The query of req, or -1 after answering 400. */
static int ops_query(FCGX_Request *req, const struct config *cfg, const char *cors, struct query *q)
{
    char err[256];

    if (query_parse(FCGX_GetParam("QUERY_STRING", req->envp), cfg, q, err, sizeof err) == 0)
        return 0;
    reply_error(req->out, cors, 400, NULL, "%s", err);
    return -1;
}

static int answer_channel(const redisReply *r, const struct ask *k, const char *cors, struct buf *out)
{
    return ask_json(store_channel_result(r, k->channel), cors, out);
}

static int answer_deleted(const redisReply *r, const struct ask *k, const char *cors, struct buf *out)
{
    return r->type != REDIS_REPLY_INTEGER
               ? -1
               : ask_json(json_pack("{s:s, s:I}", "channel", k->channel, "deleted", (json_int_t)r->integer), cors, out);
}

/* GET or DELETE: 1, or 0 after answering 405. */
static int ops_get_or_delete(FCGX_Request *req, const char *cors, int *del)
{
    const char *m = FCGX_GetParam("REQUEST_METHOD", req->envp);

    *del = m && strcmp(m, "DELETE") == 0;
    if (m && (*del || strcmp(m, "GET") == 0))
        return 1;
    reply_error(req->out, cors, 405, "Allow: GET, DELETE\r\n", "use GET or DELETE");
    return 0;
}

int ops_channel(FCGX_Request *req, const struct config *cfg, const char *cors, int external)
{
    const struct config_key *key;
    struct query q = {0};
    struct ask *k;
    int del, rc = 0;

    if (!ops_get_or_delete(req, cors, &del) || !(key = ops_key(req, cfg, cors)) || ops_query(req, cfg, cors, &q) < 0) {
        query_free(&q);
        return 0;
    }
    if (q.nchannels != 1) {
        reply_error(req->out, cors, 400, NULL, "give one channel: ?channel=NAME");
    } else if (key->channels && !pattern_list_match(key->channels, q.channels[0])) {
        reply_error(req->out, cors, 403, NULL, "this key's patterns do not cover %s", q.channels[0]);
    } else {
        request_drain(req);
        k = ask_new(cfg, del ? answer_deleted : answer_channel);
        snprintf(k->channel, sizeof k->channel, "%s", q.channels[0]);
        (del ? store_channel_delete_args : store_channel_args)(cfg, k->channel, &k->a);
        rc = ask_serve(req, cfg, cors, k, external);
    }
    query_free(&q);
    return rc;
}

static int ops_keep(const char *name, void *priv)
{
    const char *patterns = priv;

    return !patterns || pattern_list_match(patterns, name);
}

static int answer_channels(const redisReply *r, const struct ask *k, const char *cors, struct buf *out)
{
    return ask_json(store_channels_result(r, ops_keep, (void *)k->patterns), cors, out);
}

int ops_channels(FCGX_Request *req, const struct config *cfg, const char *cors, int external)
{
    const struct config_key *key;
    struct query q = {0};
    struct ask *k;
    int rc = 0;

    if (!request_method(req, cors, "GET") || !(key = ops_key(req, cfg, cors)) || ops_query(req, cfg, cors, &q) < 0) {
        query_free(&q);
        return 0;
    }
    if (q.prefix && strlen(q.prefix) > (size_t)cfg->channel_max) {
        reply_error(req->out, cors, 400, NULL, "prefix: at most %d bytes", cfg->channel_max);
    } else {
        request_drain(req);
        k = ask_new(cfg, answer_channels);
        k->patterns = key->channels;
        store_channels_args(cfg, q.prefix ? q.prefix : "", q.cursor, &k->a);
        rc = ask_serve(req, cfg, cors, k, external);
    }
    query_free(&q);
    return rc;
}
