/* ask: the blocking driver of a one-command request, on the thread's command
 * connection (conn.c), dropped after a failure. The event loop's is hub_ask.c. */
#include "ask.h"

#include <stdlib.h>

#include "clock.h"
#include "conn.h"
#include "hub.h"
#include "reply.h"
#include "xalloc.h"

int ask_json(json_t *o, const char *cors, struct buf *out)
{
    if (!o)
        return -1;
    reply_json_to(out, 200, cors, o, NULL);
    return 0;
}

struct ask *ask_new(const struct config *cfg, ask_answer_fn *answer)
{
    struct ask *k = xcalloc(1, sizeof *k);

    k->cfg = cfg;
    k->answer = answer;
    return k;
}

void ask_free(struct ask *k)
{
    args_free(&k->a);
    free(k);
}

int ask_serve(FCGX_Request *req, const struct config *cfg, const char *cors, struct ask *k, int external)
{
    redisContext *c;
    redisReply *r = NULL;
    struct buf out = {0};
    int sent;

    if (external) {
        hub_ask(req, cfg, cors, k);
        return 1;
    }
    k->sent_ms = clock_ms();
    if (!(c = conn_get(cfg)) || !(r = args_call(c, &k->a, STORE_TIMEOUT_MS, &sent)) ||
        r->type == REDIS_REPLY_ERROR || k->answer(r, k, cors, &out) < 0) {
        conn_drop();
        reply_unavailable_to(&out, cors);
    }
    FCGX_PutStr(out.s, (int)out.len, req->out);
    buf_free(&out);
    if (r)
        freeReplyObject(r);
    ask_free(k);
    return 0;
}
