/* store_channel: channel information for the backend (store_channel.lua): one channel's
 * subscribers, retained events and last event; a bounded page of channels by prefix;
 * deleting a channel's history. Arguments built once for both process models; the
 * replies read into JSON. Who may ask is the caller's business. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "clock.h"
#include "cursor.h"
#include "store_channel_lua.h" /* generated from store_channel.lua */

static void channel_script(struct args *a, int nkeys)
{
    args_str(a, "EVAL");
    args_str(a, store_channel_lua);
    args_num(a, nkeys);
}

void store_channel_args(const struct config *cfg, const char *channel, struct args *a)
{
    channel_script(a, 2);
    args_key(a, cfg, "h:", channel);
    args_key(a, cfg, "w:", channel);
    args_str(a, "one");
    args_num(a, clock_wall_ms());
}

void store_channel_delete_args(const struct config *cfg, const char *channel, struct args *a)
{
    channel_script(a, 1);
    args_key(a, cfg, "h:", channel);
    args_str(a, "delete");
}

/* Appends s to out with the glob characters of SCAN's MATCH escaped. */
static void glob_escape(char *out, size_t n, const char *s)
{
    size_t at = strlen(out);

    for (; *s && at + 2 < n; s++) {
        if (strchr("*?[]\\", *s))
            out[at++] = '\\';
        out[at++] = *s;
    }
    out[at] = 0;
}

void store_channels_args(const struct config *cfg, const char *prefix, const char *cursor, struct args *a)
{
    char match[2 * STORE_KEY_MAX] = "";

    glob_escape(match, sizeof match, cfg->prefix);
    snprintf(match + strlen(match), sizeof match - strlen(match), "[hw]:");
    glob_escape(match, sizeof match, prefix);
    snprintf(match + strlen(match), sizeof match - strlen(match), "*");
    channel_script(a, 0);
    args_str(a, "list");
    args_num(a, clock_wall_ms());
    args_str(a, cfg->prefix);
    args_copy(a, match);
    args_copy(a, cursor && *cursor ? cursor : "0");
    args_num(a, STORE_CHANNELS_PAGE);
    args_num(a, STORE_CHANNELS_SCAN);
}

/* One channel's object from its three values: subscribers, retained, last id. */
static json_t *channel_json(const char *name, const redisReply *const *v)
{
    struct cursor c;
    json_t *o;

    if (v[0]->type != REDIS_REPLY_INTEGER || v[1]->type != REDIS_REPLY_INTEGER || v[2]->type != REDIS_REPLY_STRING)
        return NULL;
    o = json_pack("{s:s, s:I, s:I}", "channel", name, "subscribers", (json_int_t)v[0]->integer, "retained",
                  (json_int_t)v[1]->integer);
    if (v[2]->len && cursor_parse(v[2]->str, v[2]->len, &c) == 0) {
        json_object_set_new(o, "last_id", json_string(v[2]->str));
        json_object_set_new(o, "last_time", json_integer((json_int_t)c.ms));
    } else {
        json_object_set_new(o, "last_id", json_null());
        json_object_set_new(o, "last_time", json_null());
    }
    return o;
}

json_t *store_channel_result(const redisReply *r, const char *channel)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return NULL;
    return channel_json(channel, (const redisReply *const *)r->element);
}

json_t *store_channels_result(const redisReply *r, int (*keep)(const char *name, void *priv), void *priv)
{
    json_t *list, *o;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 4 != 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return NULL;
    list = json_array();
    for (size_t i = 1; i + 3 < r->elements; i += 4) {
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            json_decref(list);
            return NULL;
        }
        if (keep && !keep(r->element[i]->str, priv))
            continue;
        if (!(o = channel_json(r->element[i]->str, (const redisReply *const *)r->element + i + 1))) {
            json_decref(list);
            return NULL;
        }
        json_array_append_new(list, o);
    }
    return json_pack("{s:o, s:b, s:s}", "channels", list, "more", strcmp(r->element[0]->str, "0") != 0, "cursor",
                     r->element[0]->str);
}
