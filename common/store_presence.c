/* store_presence: presence's side of the data model (store_presence.lua; counting in and
 * out is store_waiting.lua's): the worker's sweep, which lets members leave, and the read
 * of who is on a channel, built once for both process models. */
#include "store.h"

#include <string.h>

#include "args.h"
#include "clock.h"
#include "store_presence_lua.h" /* generated from store_presence.lua */

/* The script's call for op ("sweep": with its four keys; "read": with none). */
static void presence_script(struct args *a, const struct config *cfg, const char *op)
{
    int sweep = strcmp(op, "sweep") == 0;

    args_str(a, "EVAL");
    args_str(a, store_presence_lua);
    args_str(a, sweep ? "4" : "0");
    if (sweep) {
        args_key(a, cfg, "presence", "");
        args_key(a, cfg, "inbox", "");
        args_key(a, cfg, "hooks", "");
        args_key(a, cfg, "stats", "");
    }
    args_str(a, op);
    args_num(a, clock_wall_ms());
    args_str(a, cfg->prefix);
}

int store_presence_sweep(redisContext *c, const struct config *cfg)
{
    struct args a = {0};

    presence_script(&a, cfg, "sweep");
    args_num(&a, cfg->webhook_url[0] ? cfg->webhook_queue : 0);
    return args_run(c, &a, STORE_TIMEOUT_MS);
}

void store_presence_args(const struct config *cfg, const char *channel, int most, struct args *a)
{
    presence_script(a, cfg, "read");
    args_str(a, channel);
    args_num(a, most);
}

/* One member: {"id"} and its "info" when it has one (JSON the token signed). */
static json_t *member_json(const redisReply *id, const redisReply *info)
{
    json_t *o = json_pack("{s:s%}", "id", id->str, id->len), *v;

    if (info->len && (v = json_loadb(info->str, info->len, 0, NULL)))
        json_object_set_new(o, "info", v);
    return o;
}

json_t *store_presence_result(const redisReply *r, const char *channel)
{
    json_t *members;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->elements % 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER)
        return NULL;
    for (size_t i = 2; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return NULL;
    members = json_array();
    for (size_t i = 2; i < r->elements; i += 2)
        json_array_append_new(members, member_json(r->element[i], r->element[i + 1]));
    return json_pack("{s:s, s:I, s:o, s:b}", "channel", channel, "count", (json_int_t)r->element[0]->integer,
                     "members", members, "more", r->element[1]->integer > (long long)(r->elements - 2) / 2);
}
