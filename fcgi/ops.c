/* ops: who may ask (the stats key or address list; a publish key and its channel
 * patterns), what each endpoint asks the store, and how its reply is answered. The
 * commands and their replies are the store's (store.c, store_channel.c). */
#include "ops.h"

#include <strings.h>

#include "ask.h"
#include "auth.h"
#include "cidr.h"
#include "clock.h"
#include "envelope.h"
#include "metrics.h"
#include "reply.h"
#include "request.h"
#include "store.h"

#define BEARER "WWW-Authenticate: Bearer\r\n"

/* The bearer token of req, or NULL. */
static const char *ops_bearer(FCGX_Request *req)
{
    const char *h = FCGX_GetParam("HTTP_AUTHORIZATION", req->envp);

    return h && strncasecmp(h, "Bearer ", 7) == 0 && h[7] ? h + 7 : NULL;
}

/* The stats guard: public unless COMET_STATS_KEY or COMET_STATS_ALLOW is set (open: 1;
 * the status page and channel pass 0, closed while neither is set: busiest channels
 * name channels); then key must be the stats key, or the client address in the list.
 * Returns 1, or 0 after answering 401 (a key is configured: missing or wrong) or 403
 * (only an address list: not in it; or neither set and not open). */
static int ops_check(FCGX_Request *req, const struct config *cfg, const char *cors, const char *key, int open)
{
    const char *addr = FCGX_GetParam("REMOTE_ADDR", req->envp);

    if (!cfg->stats_key[0] && !cfg->stats_allow[0]) {
        if (open)
            return 1;
        reply_error(req->out, cors, 403, NULL, "the status page and %s are closed until COMET_STATS_KEY or "
                                               "COMET_STATS_ALLOW is set", ENVELOPE_STATUS);
        return 0;
    }
    if (cidr_list_match(cfg->stats_allow, addr) || auth_stats_key(cfg, key))
        return 1;
    if (cfg->stats_key[0])
        reply_error(req->out, cors, 401, BEARER, "%s",
                    key ? "wrong stats key" : "send Authorization: Bearer with COMET_STATS_KEY");
    else
        reply_error(req->out, cors, 403, NULL, "this address may not read the server's statistics");
    return 0;
}

/* /stats and /metrics: the key as Authorization: Bearer. */
static int ops_guard(FCGX_Request *req, const struct config *cfg, const char *cors)
{
    return ops_check(req, cfg, cors, ops_bearer(req), 1);
}

int ops_status_guard(FCGX_Request *req, const struct config *cfg, const char *cors, const char *key)
{
    return ops_check(req, cfg, cors, ops_bearer(req) ? ops_bearer(req) : key, 0);
}

static int answer_stats(const redisReply *r, const struct ask *k, const char *cors, struct buf *out)
{
    return ask_json(store_stats_result(r, k->cfg), cors, out);
}

static int answer_metrics(const redisReply *r, const struct ask *k, const char *cors, struct buf *out)
{
    json_t *stats = store_stats_result(r, k->cfg);
    struct buf body = {0};

    if (!stats)
        return -1;
    metrics_render(&body, stats, clock_ms() - k->sent_ms);
    reply_head(out, 200, METRICS_CONTENT_TYPE, 0, cors, NULL);
    buf_append(out, body.s, body.len);
    buf_free(&body);
    json_decref(stats);
    return 0;
}

/* GET /stats or /metrics, guarded. */
static int ops_read_stats(FCGX_Request *req, const struct config *cfg, const char *cors, int external,
                          ask_answer_fn *answer)
{
    struct ask *k;

    if (!request_method(req, cors, "GET") || !ops_guard(req, cfg, cors))
        return 0;
    request_drain(req);
    k = ask_new(cfg, answer);
    store_stats_args(cfg, &k->a);
    return ask_serve(req, cfg, cors, k, external);
}

int ops_stats(FCGX_Request *req, const struct config *cfg, const char *cors, int external)
{
    return ops_read_stats(req, cfg, cors, external, answer_stats);
}

int ops_metrics(FCGX_Request *req, const struct config *cfg, const char *cors, int external)
{
    return ops_read_stats(req, cfg, cors, external, answer_metrics);
}
