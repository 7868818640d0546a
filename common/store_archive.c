/* store_archive: the archive writer's side of the data model: reading the queue that the
 * store script fills (P archive), removing what was committed, and the drop counter.
 * What an archive is and how rows are written is archive/'s business. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "log.h"

/* KEYS: archive, stats. ARGV: the entry ids. Counts only what it removed, so an
 * acknowledgement repeated after a lost answer does not count twice. */
static const char ack_lua[] =
    "local n = redis.call('XDEL', KEYS[1], unpack(ARGV))\n"
    "if n > 0 then redis.call('HINCRBY', KEYS[2], 'archived', n) end\n"
    "return n\n";

redisReply *store_archive_take(redisContext *c, const struct config *cfg, int count, int block_ms)
{
    struct args a = {0};
    redisReply *r;
    int sent;

    args_str(&a, "XREAD");
    args_str(&a, "COUNT");
    args_num(&a, count);
    args_str(&a, "BLOCK");
    args_num(&a, block_ms);
    args_str(&a, "STREAMS");
    args_key(&a, cfg, "archive", "");
    args_str(&a, "0-0"); /* from the oldest: what is queued is what is not archived yet */
    r = args_call(c, &a, block_ms + STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    if (r && r->type == REDIS_REPLY_ERROR) {
        log_warn("XREAD: %s", r->str);
        freeReplyObject(r);
        return NULL; /* the caller drops c, as after any failure */
    }
    return r;
}

/* The value of field name among an entry's fields, or NULL. */
static const redisReply *field(const redisReply *f, const char *name)
{
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (f->element[i]->type == REDIS_REPLY_STRING && strcmp(f->element[i]->str, name) == 0 &&
            f->element[i + 1]->type == REDIS_REPLY_STRING)
            return f->element[i + 1];
    return NULL;
}

size_t store_archive_entries(const redisReply *r, struct store_archived *out, size_t max)
{
    const redisReply *list;
    size_t n = 0;

    /* XREAD: [[stream, [[id, [field, value, …]], …]]], or nil after a quiet wait. */
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1 || r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[0]->elements != 2 || r->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    list = r->element[0]->element[1];
    for (size_t i = 0; i < list->elements && n < max; i++) {
        const redisReply *e = list->element[i], *id, *ch, *env;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        if (e->element[1]->type != REDIS_REPLY_ARRAY || !(id = field(e->element[1], "i")) ||
            !(ch = field(e->element[1], "c")) || !(env = field(e->element[1], "e")))
            out[n++] = (struct store_archived){e->element[0]->str, "", "", "", 0}; /* not an event */
        else
            out[n++] = (struct store_archived){e->element[0]->str, id->str, ch->str, env->str, env->len};
    }
    return n;
}

int store_archive_ack(redisContext *c, const struct config *cfg, const struct store_archived *e, size_t n)
{
    struct args a = {0};
    redisReply *r;
    int sent, rc;

    args_str(&a, "EVAL");
    args_str(&a, ack_lua);
    args_str(&a, "2");
    args_key(&a, cfg, "archive", "");
    args_key(&a, cfg, "stats", "");
    for (size_t i = 0; i < n; i++)
        args_str(&a, e[i].qid);
    r = args_call(c, &a, STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    rc = r && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (r && r->type == REDIS_REPLY_ERROR)
        log_warn("archive queue: %s", r->str);
    if (r)
        freeReplyObject(r);
    return rc;
}

long long store_archive_dropped(redisContext *c, const struct config *cfg)
{
    return store_stats_counter(c, cfg, "archive_dropped");
}
