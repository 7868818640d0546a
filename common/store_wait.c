/* store_wait: the waiting requests' side of the data model: history reads
 * (store_read.lua), subscriptions, the waiting set and per-address admission, in a
 * blocking form for one request per process and an asynchronous one for the event
 * loop, each command's arguments built once for both. */
#include "store.h"

#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "clock.h"
#include "log.h"
#include "redis.h"
#include "script.h"
#include "store_history_lua.h" /* generated from store_history.lua */
#include "store_read_lua.h"    /* generated from store_read.lua */
#include "store_waiting_lua.h" /* generated from store_waiting.lua */
#include "xalloc.h"

/* Admits a waiting request of one client address: drops the members whose deadline
 * passed (left by killed processes too), then adds this one unless the limit is
 * reached. KEYS: the address's zset. ARGV: now ms, deadline ms, member, limit.
 * Returns 0, or the ms until the earliest deadline when full. */
static const char admit_lua[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then\n"
    "  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "  return math.max(1, tonumber(first[2]) - tonumber(ARGV[1]))\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])\n"
    "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) - tonumber(ARGV[1]) then\n"
    "  redis.call('PEXPIREAT', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n";

/* The event loop's scripts, run by their sha once store_scripts_async loaded them on the
 * loop's command connection; only the loop's thread uses these. */
static struct script read_script = {store_read_lua, ""}, waiting_script = {store_waiting_lua, ""};

/* EVALSHA when s (else NULL) has its sha, else EVAL with text (Redis caches it then too).
 * A blocking caller passes no s: one EVAL per request costs less than a NOSCRIPT retry, and
 * its threads would share the sha. */
static void script_args(struct args *a, const char *text, const struct script *s)
{
    args_str(a, s && s->sha[0] ? "EVALSHA" : "EVAL");
    args_str(a, s && s->sha[0] ? s->sha : text);
}

void store_scripts_async(redisAsyncContext *ac)
{
    script_load_async(ac, &read_script);
    script_load_async(ac, &waiting_script);
}

/* A read script call (script: store_read.lua or store_history.lua, which take the same
 * keys and arguments), by s's sha when s is not NULL. */
static void read_args(const char *script, const struct script *s, const struct config *cfg,
                      char *const *channels, size_t n, const char *since, int cap, struct args *a)
{
    script_args(a, script, s);
    args_num(a, (long long)n + 2);
    args_key(a, cfg, "last", "");
    args_key(a, cfg, "epoch", "");
    for (size_t i = 0; i < n; i++)
        args_key(a, cfg, "h:", channels[i]);
    args_str(a, since);
    args_num(a, cap);
    args_num(a, cfg->history_age * 1000LL);
}

/* A read script's call on c within STORE_TIMEOUT_MS: the reply, or NULL. */
static redisReply *read_call(const char *script, redisContext *c, const struct config *cfg, char *const *channels,
                             size_t n, const char *cursor, int cap)
{
    struct args a = {0};
    redisReply *r;
    int sent;

    read_args(script, NULL, cfg, channels, n, cursor, cap, &a);
    r = args_call(c, &a, STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    return r;
}

redisReply *store_read(redisContext *c, const struct config *cfg, char *const *channels, size_t n,
                       const char *since, int cap)
{
    return read_call(store_read_lua, c, cfg, channels, n, since, cap);
}

redisReply *store_history(redisContext *c, const struct config *cfg, char *const *channels, size_t n,
                          const char *before, int cap)
{
    return read_call(store_history_lua, c, cfg, channels, n, before, cap);
}

int store_read_async(redisAsyncContext *ac, const struct config *cfg, char *const *channels, size_t n,
                     const char *since, int cap, redisCallbackFn *fn, void *priv)
{
    struct args a = {0};
    int rc;

    read_args(store_read_lua, &read_script, cfg, channels, n, since, cap, &a);
    rc = args_send(ac, &a, fn, priv);
    args_free(&a);
    return rc;
}

/* 1 when r has the shape of a read script reply: last id, gap, cut, then pairs. */
static int read_valid(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->elements % 2 == 0 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->integer < STORE_WHOLE || r->element[1]->integer > STORE_LOST)
        return 0;
    for (size_t i = 2; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return 0;
    return 1;
}

int store_page_parse(const redisReply *r, struct store_page *p)
{
    memset(p, 0, sizeof *p);
    if (r && r->type == REDIS_REPLY_ERROR) {
        log_warn("read script: %s", r->str);
        return -1;
    }
    if (!r || !read_valid(r) || cursor_parse(r->element[0]->str, r->element[0]->len, &p->last) < 0)
        goto fail;
    p->gap = (enum store_gap)r->element[1]->integer;
    if (p->gap && cursor_parse(r->element[2]->str, r->element[2]->len, &p->cut) < 0)
        goto fail;
    p->n = (r->elements - 3) / 2;
    p->events = xcalloc(p->n + 1, sizeof *p->events);
    for (size_t i = 0; i < p->n; i++) {
        const redisReply *id = r->element[3 + 2 * i], *env = r->element[4 + 2 * i];
        if (cursor_parse(id->str, id->len, &p->events[i].id) < 0)
            goto fail;
        p->events[i].env = env->str;
        p->events[i].len = env->len;
    }
    return 0;
fail:
    log_error("read script: unexpected reply");
    store_page_free(p);
    return -1;
}

void store_page_free(struct store_page *p)
{
    free(p->events);
    memset(p, 0, sizeof *p);
}

int store_subscribe(redisContext *c, const struct config *cfg, char *const *channels, size_t n)
{
    const char **argv = xmalloc((n + 1) * sizeof *argv);
    char (*keys)[STORE_KEY_MAX] = xmalloc(n * sizeof *keys);
    int rc = -1;
    void *reply;

    argv[0] = "SUBSCRIBE";
    for (size_t i = 0; i < n; i++) {
        store_key(cfg, "c:", channels[i], keys[i]);
        argv[i + 1] = keys[i];
    }
    if (redisAppendCommandArgv(c, (int)n + 1, argv, NULL) != REDIS_OK)
        goto fail;
    /* A message that comes between two confirmations is taken for one and dropped:
     * the history read that follows holds it. */
    for (size_t i = 0; i < n; i++) {
        if (redisGetReply(c, &reply) != REDIS_OK)
            goto fail;
        freeReplyObject(reply);
    }
    rc = 0;
fail:
    if (rc < 0)
        log_warn("subscribe: %s", c->errstr);
    free(argv);
    free(keys);
    return rc;
}

/* Queues a on ac, its answer ignored (fn NULL) or given to fn. Returns 0 or -1. */
static int args_queue(redisAsyncContext *ac, struct args *a, redisCallbackFn *fn, void *priv)
{
    int rc = args_send(ac, a, fn, priv);

    args_free(a);
    return rc;
}

static void channel_args(const struct config *cfg, const char *verb, const char *channel, struct args *a)
{
    args_str(a, verb);
    args_key(a, cfg, "c:", channel);
}

int store_subscribe_async(redisAsyncContext *ac, const struct config *cfg, const char *channel,
                          redisCallbackFn *fn, void *priv)
{
    struct args a = {0};

    channel_args(cfg, "SUBSCRIBE", channel, &a);
    return args_queue(ac, &a, fn, priv);
}

int store_unsubscribe_async(redisAsyncContext *ac, const struct config *cfg, const char *channel)
{
    struct args a = {0};

    channel_args(cfg, "UNSUBSCRIBE", channel, &a);
    return args_queue(ac, &a, NULL, NULL);
}

/* The waiting script (store_waiting.lua) for w, counted in until deadline_ms or out (0),
 * by s's sha when s is not NULL. */
static void waiting_args(const struct config *cfg, const struct script *s, const struct store_waiter *w,
                         long long deadline_ms, struct args *a)
{
    script_args(a, store_waiting_lua, s);
    args_num(a, (long long)w->n + 5);
    args_key(a, cfg, "waiting", "");
    args_key(a, cfg, "wt:", w->transport);
    args_key(a, cfg, "occupied", "");
    args_key(a, cfg, "hooks", "");
    args_key(a, cfg, "stats", "");
    for (size_t i = 0; i < w->n; i++)
        args_key(a, cfg, "w:", w->channels[i]);
    args_str(a, w->member);
    args_num(a, deadline_ms);
    args_num(a, clock_wall_ms());
    args_num(a, cfg->leave_grace * 1000LL);
    args_num(a, cfg->webhook_url[0] ? cfg->webhook_queue : 0);
    args_str(a, cfg->prefix);
    args_str(a, w->who ? w->who : "");
    args_str(a, w->info ? w->info : "");
    args_str(a, w->presence ? w->presence : "");
    for (size_t i = 0; i < w->n; i++)
        args_str(a, w->channels[i]);
}

int store_waiting(redisContext *c, const struct config *cfg, const struct store_waiter *w, long long deadline_ms)
{
    struct args a = {0};

    waiting_args(cfg, NULL, w, deadline_ms, &a);
    return args_run(c, &a, STORE_TIMEOUT_MS);
}

int store_waiting_async(redisAsyncContext *ac, const struct config *cfg, const struct store_waiter *w,
                        long long deadline_ms, redisCallbackFn *fn)
{
    struct args a = {0};

    waiting_args(cfg, &waiting_script, w, deadline_ms, &a);
    return args_queue(ac, &a, fn, NULL);
}

/* The key of client address addr's waiting set. */
static void addr_key(const struct config *cfg, const char *addr, char *out)
{
    char name[72];

    snprintf(name, sizeof name, "%.64s", addr && *addr ? addr : "-");
    store_key(cfg, "wa:", name, out);
}

void store_admit_args(const struct config *cfg, const char *addr, const char *member, long long deadline_ms,
                      struct args *a)
{
    char key[STORE_KEY_MAX];

    addr_key(cfg, addr, key);
    args_str(a, "EVAL");
    args_str(a, admit_lua);
    args_str(a, "1");
    args_copy(a, key);
    args_num(a, clock_wall_ms());
    args_num(a, deadline_ms);
    args_str(a, member);
    args_num(a, cfg->max_waiting_addr);
}

long long store_admit_result(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

long long store_admit(redisContext *c, const struct config *cfg, const char *addr, const char *member,
                      long long deadline_ms)
{
    struct args a = {0};
    redisReply *r;
    long long rc;
    int sent;

    store_admit_args(cfg, addr, member, deadline_ms, &a);
    r = args_call(c, &a, STORE_TIMEOUT_MS, &sent);
    args_free(&a);
    rc = store_admit_result(r);
    if (r)
        freeReplyObject(r);
    return rc;
}

static void leave_args(const struct config *cfg, const char *addr, const char *member, struct args *a)
{
    char key[STORE_KEY_MAX];

    addr_key(cfg, addr, key);
    args_str(a, "ZREM");
    args_copy(a, key);
    args_str(a, member);
}

int store_leave(redisContext *c, const struct config *cfg, const char *addr, const char *member)
{
    struct args a = {0};

    leave_args(cfg, addr, member, &a);
    return args_run(c, &a, STORE_TIMEOUT_MS);
}

int store_leave_async(redisAsyncContext *ac, const struct config *cfg, const char *addr, const char *member,
                      redisCallbackFn *fn)
{
    struct args a = {0};

    leave_args(cfg, addr, member, &a);
    return args_queue(ac, &a, fn, NULL);
}
