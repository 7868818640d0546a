/* hub_stats: GET /stats in the event loop: one script call on the command connection. */
#include <stdlib.h>

#include "hub.h"
#include "hub_req.h"
#include "link.h"
#include "reply.h"
#include "store.h"
#include "xalloc.h"

struct hub_stat {
    struct hub_req req;
};

static void stat_answered(redisAsyncContext *ac, void *reply, void *priv)
{
    struct hub_req *r = priv;
    json_t *stats;
    size_t at;

    (void)ac;
    if (hub_req_release(r) || r->ending)
        return;
    if (!(stats = store_stats_result(reply, r->cfg))) {
        hub_req_unavailable(r);
        return;
    }
    at = hub_req_open(r);
    reply_json_to(&r->out, 200, r->cors, stats, NULL);
    hub_req_emit(r, at, 1);
}

static void stat_start(struct hub_req *r)
{
    redisAsyncContext *cmd = link_cmd();
    struct args a = {0};

    store_stats_args(r->cfg, &a);
    if (!cmd || args_send(cmd, &a, stat_answered, r) < 0)
        link_fail();
    else
        hub_req_hold(r);
    args_free(&a);
}

static void stat_free(struct hub_req *r)
{
    free(r);
}

static const struct hub_kind stat_kind = {stat_start, hub_req_unavailable, NULL, hub_req_unavailable, NULL,
                                          stat_free};

void hub_stats(FCGX_Request *req, const struct config *cfg, const char *cors)
{
    struct hub_stat *s = xcalloc(1, sizeof *s);

    hub_req_take(&s->req, &stat_kind, req, cfg, cors);
}
