/* hub_ask: a one-command request (ask.h) in the event loop: the command on the
 * command connection, its callback answering. */
#include <stdlib.h>

#include "ask.h"
#include "clock.h"
#include "hub.h"
#include "hub_req.h"
#include "link.h"
#include "reply.h"
#include "xalloc.h"

struct hub_asked {
    struct hub_req req;
    struct ask *k;
};

static void ask_answered(redisAsyncContext *ac, void *reply, void *priv)
{
    struct hub_asked *q = priv;
    const redisReply *r = reply;
    size_t at;

    (void)ac;
    if (hub_req_release(&q->req) || q->req.ending)
        return;
    link_refused(reply);
    at = hub_req_open(&q->req);
    if (!r || r->type == REDIS_REPLY_ERROR || q->k->answer(r, q->k, q->req.cors, &q->req.out) < 0)
        reply_unavailable_to(&q->req.out, q->req.cors);
    hub_req_emit(&q->req, at, 1);
}

static void ask_start(struct hub_req *r)
{
    struct hub_asked *q = (struct hub_asked *)r;
    redisAsyncContext *cmd = link_cmd();

    q->k->sent_ms = clock_ms();
    if (!cmd || args_send(cmd, &q->k->a, ask_answered, q) < 0)
        link_fail();
    else
        hub_req_hold(r);
}

static void ask_hub_free(struct hub_req *r)
{
    struct hub_asked *q = (struct hub_asked *)r;

    ask_free(q->k);
    free(q);
}

static const struct hub_kind ask_kind = {ask_start, hub_req_unavailable, NULL, hub_req_unavailable, NULL,
                                         ask_hub_free};

void hub_ask(FCGX_Request *req, const struct config *cfg, const char *cors, struct ask *k)
{
    struct hub_asked *q = xcalloc(1, sizeof *q);

    q->k = k;
    hub_req_take(&q->req, &ask_kind, req, cfg, cors);
}
