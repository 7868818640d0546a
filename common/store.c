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

/* Queues a publish as one inbox entry and counts it accepted; with an
 * Idempotency-Key, only unless the key is known (then answers what it holds) and
 * remembers the key with the body's fingerprint, all at once. Also says whether a
 * worker holds the lease, so the publisher learns when nothing will store it.
 * KEYS: inbox, lease, stats[, idem hash]. ARGV: ttl ms, fingerprint source, event
 * count, then the entry's fields. Returns {outcome, count, ids or "", lease held 0/1}. */
static const char queue_lua[] =
    "local worker = redis.call('EXISTS', KEYS[2])\n"
    "local fp\n"
    "if KEYS[4] then\n"
    "  fp = redis.sha1hex(ARGV[2])\n"
    "  local cur = redis.call('HMGET', KEYS[4], 'fp', 'n', 'ids')\n"
    "  if cur[1] then\n"
    "    if cur[1] ~= fp then return {'conflict', '0', '', worker} end\n"
    "    return {'replay', cur[2], cur[3] or '', worker}\n"
    "  end\n"
    "end\n"
    "redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))\n"
    "if fp then\n"
    "  redis.call('HSET', KEYS[4], 'fp', fp, 'n', ARGV[3])\n"
    "  redis.call('PEXPIRE', KEYS[4], ARGV[1])\n"
    "end\n"
    "redis.call('HINCRBY', KEYS[3], 'accepted', 1)\n"
    "redis.call('HINCRBY', KEYS[3], 'accepted_events', ARGV[3])\n"
    "return {'new', ARGV[3], '', worker}\n";

/* Counts one keyless publish of who in its minute: the count so far. */
static const char rate_lua[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then redis.call('EXPIRE', KEYS[1], 61) end\n"
    "return n\n";
/* /stats and /metrics in one call. KEYS: waiting, stats, inbox, worker, archive,
 * hooks, then wt:TRANSPORT for each of STORE_TRANSPORTS. ARGV: now ms.
 * Returns {waiting, inbox length, last heartbeat or 0, archive backlog, the oldest inbox
 * entry's ms or 0, webhook events queued, each transport's waiting, then each of
 * STATS_FIELDS of the stats hash}: every value an integer. */
static const char stats_lua[] =
    "local function len(k) if redis.call('EXISTS', k) == 1 then return redis.call('XLEN', k) end return 0 end\n"
    "local function live(k) redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[1]) return redis.call('ZCARD', k) end\n"
    "local oldest = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)\n"
    "local first = 0\n"
    "if #oldest > 0 then first = tonumber(string.match(oldest[1][1], '^(%d+)')) end\n"
    "local out = {live(KEYS[1]), len(KEYS[3]), tonumber(redis.call('HGET', KEYS[4], 'heartbeat') or '0'),\n"
    "             len(KEYS[5]), first, redis.call('LLEN', KEYS[6])}\n"
    "for i = 7, #KEYS do out[#out + 1] = live(KEYS[i]) end\n"
    "for _, v in ipairs(redis.call('HMGET', KEYS[2], unpack(ARGV, 2))) do out[#out + 1] = tonumber(v or '0') end\n"
    "return out\n";

/* The counters of the stats hash that /stats reports, in stats_lua's order. */
static const char *const stats_fields[] = {"published", "archived", "archive_dropped", "accepted", "accepted_events",
                                           "delivered", "webhook_sent", "webhook_failed", "webhook_dropped"};
enum { STATS_FIXED = 6, STATS_N = STATS_FIXED + STORE_TRANSPORTS + 9 };

const char *const store_transports[STORE_TRANSPORTS] = {"poll", "sse", "stream", "iframe"};

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

int store_inject(redisContext *c, const struct config *cfg, const char *channel, const char *tail)
{
    char *channels[] = {(char *)channel}, *tails[] = {(char *)tail};
    struct store_publish p = {.n = 1, .channels = channels, .tails = tails};
    struct args a = {0};

    args_str(&a, "XADD");
    args_key(&a, cfg, "inbox", "");
    args_str(&a, "*");
    entry_fields(&a, cfg, &p);
    return args_run(c, &a, STORE_TIMEOUT_MS);
}

void store_queue_args(const struct config *cfg, const struct store_publish *p, struct args *a)
{
    args_str(a, "EVAL");
    args_str(a, queue_lua);
    args_str(a, p->idem ? "4" : "3");
    args_key(a, cfg, "inbox", "");
    args_key(a, cfg, "lease", "");
    args_key(a, cfg, "stats", "");
    if (p->idem)
        args_key(a, cfg, "idem:", p->idem);
    args_num(a, cfg->idempotency_ttl * 1000LL);
    args_str(a, p->print ? p->print : "");
    args_num(a, (long long)p->n);
    entry_fields(a, cfg, p);
}

/* 1 when r is the queue script's answer: {outcome, count, ids, lease}. */
static int queue_reply(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == 4 && r->element[0]->type == REDIS_REPLY_STRING &&
           r->element[1]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_STRING &&
           r->element[3]->type == REDIS_REPLY_INTEGER;
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
    } else if (queue_reply(r)) {
        out->status = strcmp(r->element[0]->str, "new") == 0      ? STORE_QUEUED
                      : strcmp(r->element[0]->str, "replay") == 0 ? STORE_REPLAY
                                                                  : STORE_CONFLICT;
        out->n = atoll(r->element[1]->str);
        out->ids = r->element[2]->len ? xstrdup(r->element[2]->str) : NULL;
        out->worker_absent = r->element[3]->integer == 0;
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
    args_num(a, 6 + STORE_TRANSPORTS);
    args_key(a, cfg, "waiting", "");
    args_key(a, cfg, "stats", "");
    args_key(a, cfg, "inbox", "");
    args_key(a, cfg, "worker", "");
    args_key(a, cfg, "archive", "");
    args_key(a, cfg, "hooks", "");
    for (int i = 0; i < STORE_TRANSPORTS; i++)
        args_key(a, cfg, "wt:", store_transports[i]);
    args_num(a, clock_wall_ms());
    for (size_t i = 0; i < sizeof stats_fields / sizeof stats_fields[0]; i++)
        args_str(a, stats_fields[i]);
}

/* The counters of v (STATS_N values, as stats_lua answers) as /stats's added objects. */
static void stats_more(json_t *o, const long long *v, long long now)
{
    const long long *c = v + STATS_FIXED + STORE_TRANSPORTS; /* stats_fields */
    json_t *by = json_object();

    for (int i = 0; i < STORE_TRANSPORTS; i++)
        json_object_set_new(by, store_transports[i], json_integer(v[STATS_FIXED + i]));
    json_object_set_new(o, "waiting_by", by);
    json_object_set_new(o, "accepted", json_integer(c[3]));
    json_object_set_new(o, "accepted_events", json_integer(c[4]));
    json_object_set_new(o, "delivered", json_integer(c[5]));
    json_object_set_new(json_object_get(o, "worker"), "lag_ms", json_integer(v[4] ? now - v[4] : 0));
    json_object_set_new(o, "webhook", json_pack("{s:I, s:I, s:I, s:I}", "queued", (json_int_t)v[5], "sent",
                                                (json_int_t)c[6], "failed", (json_int_t)c[7], "dropped",
                                                (json_int_t)c[8]));
}

json_t *store_stats_result(const redisReply *r, const struct config *cfg)
{
    long long v[STATS_N], hb, now = clock_wall_ms();
    const long long *c = v + STATS_FIXED + STORE_TRANSPORTS;
    json_t *o;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != STATS_N)
        return NULL;
    for (int i = 0; i < STATS_N; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return NULL;
        v[i] = r->element[i]->integer;
    }
    hb = v[2];
    o = json_pack("{s:I, s:I, s:I, s:{s:b, s:o}, s:{s:I, s:I, s:I}, s:s}", "published", (json_int_t)c[0], "waiting",
                  (json_int_t)v[0], "inbox", (json_int_t)v[1], "worker", "alive",
                  hb && now - hb < 1000LL * cfg->worker_lease, "last_heartbeat", hb ? json_integer(hb) : json_null(),
                  "archive", "backlog", (json_int_t)v[3], "archived", (json_int_t)c[1], "dropped", (json_int_t)c[2],
                  "version", comet_version);
    stats_more(o, v, now);
    return o;
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

long long store_stats_counter(redisContext *c, const struct config *cfg, const char *name)
{
    struct args a = {0};
    redisReply *r;
    long long n;
    int sent;

    args_str(&a, "HGET");
    args_key(&a, cfg, "stats", "");
    args_str(&a, name);
    r = args_call(c, &a, STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    n = !r || r->type == REDIS_REPLY_ERROR ? -1 : r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    if (r)
        freeReplyObject(r);
    return n;
}
