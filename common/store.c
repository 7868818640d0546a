/* store: key names and the publish side of the data model: queueing publishes (with
 * their Idempotency-Keys), rates and /stats. The worker's commands are in
 * store_worker.c, the waiting requests' in store_wait.c. Leaves connecting to redis.c
 * and deciding what to do on failure to the callers. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "clock.h"
#include "log.h"
#include "version.h"
#include "xalloc.h"

/* An idempotent publish: queues the entry and remembers the key with the body's
 * fingerprint, unless the key is known (then answers what it holds), all at once.
 * KEYS: inbox, idem hash. ARGV: ttl ms, fingerprint source, event count, then the
 * entry's fields. */
static const char once_lua[] =
    "local fp = redis.sha1hex(ARGV[2])\n"
    "local cur = redis.call('HMGET', KEYS[2], 'fp', 'n', 'ids')\n"
    "if cur[1] then\n"
    "  if cur[1] ~= fp then return {'conflict', '0', ''} end\n"
    "  return {'replay', cur[2], cur[3] or ''}\n"
    "end\n"
    "redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))\n"
    "redis.call('HSET', KEYS[2], 'fp', fp, 'n', ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[1])\n"
    "return {'new', ARGV[3], ''}\n";

/* Counts one keyless publish of who in its minute: the count so far. */
static const char rate_lua[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then redis.call('EXPIRE', KEYS[1], 61) end\n"
    "return n\n";
/* /stats in one call. KEYS: waiting, stats, inbox, worker. ARGV: now ms.
 * Returns {waiting, published, inbox length, last heartbeat or 0}. */
static const char stats_lua[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "local inbox = 0\n"
    "if redis.call('EXISTS', KEYS[3]) == 1 then inbox = redis.call('XLEN', KEYS[3]) end\n"
    "return {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('HGET', KEYS[2], 'published') or '0'),\n"
    "        inbox, tonumber(redis.call('HGET', KEYS[4], 'heartbeat') or '0')}\n";

void store_key(const struct config *cfg, const char *kind, const char *name, char *out)
{
    snprintf(out, STORE_KEY_MAX, "%s%s%s", cfg->prefix, kind, name);
}

void store_reply_key(const struct config *cfg, const char *scope, const char *token, char *out)
{
    char name[160];

    snprintf(name, sizeof name, "%.64s:%.64s", scope, token);
    store_key(cfg, "reply:", name, out);
}

/* Appends an inbox entry's fields: the marks, then a channel and a tail per event.
 * "!" and "?" cannot be channel names, so they mark the reply key and the
 * idempotency key among the fields. */
static void entry_fields(struct args *a, const struct config *cfg, const struct store_publish *p)
{
    if (p->reply_key) {
        args_str(a, "!");
        args_str(a, p->reply_key);
    }
    if (p->idem) {
        args_str(a, "?");
        args_key(a, cfg, "idem:", p->idem);
    }
    for (size_t i = 0; i < p->n; i++) {
        args_str(a, p->channels[i]);
        args_str(a, p->tails[i]);
    }
}

void store_queue_args(const struct config *cfg, const struct store_publish *p, struct args *a)
{
    if (!p->idem) {
        args_str(a, "XADD");
        args_key(a, cfg, "inbox", "");
        args_str(a, "*");
    } else {
        args_str(a, "EVAL");
        args_str(a, once_lua);
        args_str(a, "2");
        args_key(a, cfg, "inbox", "");
        args_key(a, cfg, "idem:", p->idem);
        args_num(a, cfg->idempotency_ttl * 1000LL);
        args_str(a, p->print);
        args_num(a, (long long)p->n);
    }
    entry_fields(a, cfg, p);
}

void store_queue_result(const redisReply *r, const struct store_publish *p, struct store_queued *out)
{
    memset(out, 0, sizeof *out);
    out->n = (long long)p->n;
    if (!r) {
        out->status = STORE_UNKNOWN;
    } else if (r->type == REDIS_REPLY_ERROR) {
        log_warn("queueing a publish: %s", r->str);
        out->status = STORE_REFUSED;
    } else if (!p->idem) {
        out->status = r->type == REDIS_REPLY_STRING ? STORE_QUEUED : STORE_REFUSED;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_STRING &&
               r->element[1]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_STRING) {
        out->status = strcmp(r->element[0]->str, "new") == 0      ? STORE_QUEUED
                      : strcmp(r->element[0]->str, "replay") == 0 ? STORE_REPLAY
                                                                  : STORE_CONFLICT;
        out->n = atoll(r->element[1]->str);
        out->ids = r->element[2]->len ? xstrdup(r->element[2]->str) : NULL;
    } else {
        out->status = STORE_REFUSED;
    }
}

void store_queue(redisContext *c, const struct config *cfg, const struct store_publish *p, struct store_queued *out)
{
    struct args a = {0};
    redisReply *r;
    int sent;

    store_queue_args(cfg, p, &a);
    r = args_call(c, &a, STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    store_queue_result(r, p, out);
    if (!r && !sent)
        out->status = STORE_REFUSED;
    if (r)
        freeReplyObject(r);
}

void store_once_ids_args(const struct config *cfg, const char *idem, struct args *a)
{
    args_str(a, "HGET");
    args_key(a, cfg, "idem:", idem);
    args_str(a, "ids");
}

char *store_ids_result(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING ? xstrdup(r->str) : NULL;
}

int store_once_ids(redisContext *c, const struct config *cfg, const char *idem, char **ids)
{
    struct args a = {0};
    redisReply *r;
    int sent;

    store_once_ids_args(cfg, idem, &a);
    r = args_call(c, &a, STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    *ids = store_ids_result(r);
    if (r)
        freeReplyObject(r);
    return r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
}

int store_await_ids(redisContext *c, const char *reply_key, int seconds, char **ids)
{
    struct args a = {0};
    redisReply *r;
    int rc, sent;

    *ids = NULL;
    args_str(&a, "BLPOP");
    args_str(&a, reply_key);
    args_num(&a, seconds);
    /* Redis answers nil at the timeout itself; the 2 s more bound a Redis that froze. */
    r = args_call(c, &a, seconds * 1000 + STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    if (!r)
        return -1;
    rc = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING;
    if (rc)
        *ids = xstrdup(r->element[1]->str);
    else if (r->type == REDIS_REPLY_ERROR)
        rc = -1;
    freeReplyObject(r);
    return rc;
}

void store_reply_pop_args(const char *reply_key, struct args *a)
{
    args_str(a, "LPOP");
    args_str(a, reply_key);
}

void store_replies_args(const struct config *cfg, const char *scope, struct args *a)
{
    char name[160];

    snprintf(name, sizeof name, "%.64s:*", scope);
    args_str(a, "PSUBSCRIBE");
    args_key(a, cfg, "reply:", name);
}

void store_rate_args(const struct config *cfg, const char *who, struct args *a)
{
    char name[160];

    snprintf(name, sizeof name, "%.100s:%lld", who, clock_wall_ms() / 60000);
    args_str(a, "EVAL");
    args_str(a, rate_lua);
    args_str(a, "1");
    args_key(a, cfg, "rate:", name);
}

long long store_rate_result(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

long long store_rate(redisContext *c, const struct config *cfg, const char *who)
{
    struct args a = {0};
    redisReply *r;
    long long n;
    int sent;

    store_rate_args(cfg, who, &a);
    r = args_call(c, &a, STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    n = store_rate_result(r);
    if (r)
        freeReplyObject(r);
    return n;
}

void store_stats_args(const struct config *cfg, struct args *a)
{
    args_str(a, "EVAL");
    args_str(a, stats_lua);
    args_str(a, "4");
    args_key(a, cfg, "waiting", "");
    args_key(a, cfg, "stats", "");
    args_key(a, cfg, "inbox", "");
    args_key(a, cfg, "worker", "");
    args_num(a, clock_wall_ms());
}

json_t *store_stats_result(const redisReply *r, const struct config *cfg)
{
    long long v[4], hb;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4)
        return NULL;
    for (int i = 0; i < 4; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return NULL;
        v[i] = r->element[i]->integer;
    }
    hb = v[3];
    return json_pack("{s:I, s:I, s:I, s:{s:b, s:o}, s:s}", "published", (json_int_t)v[1], "waiting", (json_int_t)v[0],
                     "inbox", (json_int_t)v[2], "worker", "alive", hb && clock_wall_ms() - hb < 1000LL * cfg->worker_lease,
                     "last_heartbeat", hb ? json_integer(hb) : json_null(), "version", comet_version);
}

json_t *store_stats(redisContext *c, const struct config *cfg)
{
    struct args a = {0};
    redisReply *r;
    json_t *out;
    int sent;

    store_stats_args(cfg, &a);
    r = args_call(c, &a, STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    out = store_stats_result(r, cfg);
    if (r)
        freeReplyObject(r);
    return out;
}
