/* store_webhook: the webhook queue's side of the data model: the sweep that vacates
 * channels (store_webhook.lua), taking queued events, putting them back, and counting
 * what became of them. Queueing channel_occupied is store_waiting.lua's; sending is
 * worker/webhook.c's. */
#include "store.h"

#include <string.h>

#include "args.h"
#include "clock.h"
#include "store_webhook_lua.h" /* generated from store_webhook.lua */

int store_webhook_sweep(redisContext *c, const struct config *cfg)
{
    struct args a = {0};
    char wkey[STORE_KEY_MAX];

    store_key(cfg, "w:", "", wkey);
    args_str(&a, "EVAL");
    args_str(&a, store_webhook_lua);
    args_str(&a, "3");
    args_key(&a, cfg, "occupied", "");
    args_key(&a, cfg, "hooks", "");
    args_key(&a, cfg, "stats", "");
    args_num(&a, clock_wall_ms());
    args_num(&a, cfg->webhook_queue);
    args_copy(&a, wkey);
    return args_run(c, &a, STORE_TIMEOUT_MS);
}

redisReply *store_webhook_take(redisContext *c, const struct config *cfg, int most)
{
    struct args a = {0};
    redisReply *r;
    int sent;

    args_str(&a, "LPOP");
    args_key(&a, cfg, "hooks", "");
    args_num(&a, most);
    r = args_call(c, &a, STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    if (r && r->type != REDIS_REPLY_ARRAY && r->type != REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

int store_webhook_putback(redisContext *c, const struct config *cfg, const redisReply *events)
{
    struct args a = {0};

    args_str(&a, "LPUSH");
    args_key(&a, cfg, "hooks", "");
    for (size_t i = events->elements; i-- > 0;)
        args_add(&a, events->element[i]->str, events->element[i]->len);
    return args_run(c, &a, STORE_TIMEOUT_MS);
}

int store_webhook_count(redisContext *c, const struct config *cfg, const char *what, long long n)
{
    struct args a = {0};

    args_str(&a, "HINCRBY");
    args_key(&a, cfg, "stats", "");
    args_str(&a, what);
    args_num(&a, n);
    return args_run(c, &a, STORE_TIMEOUT_MS);
}
