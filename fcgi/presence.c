/* presence: GET /presence?channel=A: who is on a presence channel
 * (COMET_PRESENCE_CHANNELS), asked with the credentials that subscribing to A takes.
 * What is read is the store's (store_presence.c). */
#include "presence.h"

#include <stdio.h>

#include "ask.h"
#include "pattern.h"
#include "reply.h"
#include "request.h"
#include "store.h"

#define PRESENCE_LIMIT_DEFAULT 100

static int answer_presence(const redisReply *r, const struct ask *k, const char *cors, struct buf *out)
{
    return ask_json(store_presence_result(r, k->channel), cors, out);
}

int presence_serve(FCGX_Request *req, const struct config *cfg, const char *cors, int external)
{
    struct query q;
    struct ask *k;
    long long until;
    int rc = 0;

    if (request_reader(req, cfg, cors, &q, &until, NULL) < 0) {
        query_free(&q);
        return 0;
    }
    if (q.nchannels != 1) {
        reply_error(req->out, cors, 400, NULL, "give one channel: ?channel=NAME");
    } else if (!pattern_list_match(cfg->presence_channels, q.channels[0])) {
        reply_error(req->out, cors, 404, NULL, "%s is not a presence channel (COMET_PRESENCE_CHANNELS)",
                    q.channels[0]);
    } else {
        request_drain(req);
        k = ask_new(cfg, answer_presence);
        snprintf(k->channel, sizeof k->channel, "%s", q.channels[0]);
        store_presence_args(cfg, k->channel, q.limit > 0 ? q.limit : PRESENCE_LIMIT_DEFAULT, &k->a);
        rc = ask_serve(req, cfg, cors, k, external);
    }
    query_free(&q);
    return rc;
}
