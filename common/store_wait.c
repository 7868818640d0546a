/* store_wait: the waiting requests' side of the data model: history reads
 * (store_read.lua), subscriptions, the waiting set and per-address admission, in a
 * blocking form for one request per process and an asynchronous one for the event
 * loop, each command's arguments built once for both. */
#include "store.h"

#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "script.h"
#include "store_read_lua.h" /* generated from store_read.lua */
#include "xalloc.h"

static struct script read_script = {store_read_lua, ""};
/* Admits a waiting request of one client address: drops the members whose deadline
 * passed (left by killed processes too), then adds this one unless the limit is
 * reached. KEYS: the address's zset. ARGV: now ms, deadline ms, member, limit.
 * Returns 0, or the ms until the earliest deadline when full. */
static struct script admit_script = {
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then\n"
    "  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "  return math.max(1, tonumber(first[2]) - tonumber(ARGV[1]))\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])\n"
    "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) - tonumber(ARGV[1]) then\n"
    "  redis.call('PEXPIREAT', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n", ""};

/* Fills argv[2..] of a read script call (argv[0] and [1] are the caller's) and returns
 * argc; keys and the number strings live in *mem, which the caller frees. */
static int read_args(const struct config *cfg, char *const *channels, size_t n, const char *since,
                     int cap, const char **argv, char **mem)
{
    char (*keys)[STORE_KEY_MAX] = xmalloc((n + 1) * sizeof *keys + 64);
    char *nums = (char *)(keys + n + 1);
    int argc = 2;

    *mem = (char *)keys;
    snprintf(nums, 16, "%zu", n + 1);
    snprintf(nums + 16, 16, "%d", cap);
    snprintf(nums + 32, 32, "%lld", cfg->history_age * 1000LL);
    argv[argc++] = nums;
    store_key(cfg, "last", "", keys[0]);
    argv[argc++] = keys[0];
    for (size_t i = 0; i < n; i++) {
        store_key(cfg, "h:", channels[i], keys[i + 1]);
        argv[argc++] = keys[i + 1];
    }
    argv[argc++] = since;
    argv[argc++] = nums + 16;
    argv[argc++] = nums + 32;
    return argc;
}

/* Sends a read script call: blocking (c, returns the reply) or, with ac, queued with
 * its callback (returns NULL; *sent 0 or -1). EVAL for the event loop: a pipelined
 * caller cannot retry after NOSCRIPT, and Redis caches the compiled script by its hash. */
static redisReply *read_send(redisContext *c, redisAsyncContext *ac, const struct config *cfg,
                             char *const *channels, size_t n, const char *since, int cap,
                             redisCallbackFn *fn, void *priv, int *sent)
{
    const char **argv = xmalloc((n + 7) * sizeof *argv);
    char *mem;
    int argc = read_args(cfg, channels, n, since, cap, argv, &mem);
    redisReply *r = NULL;

    if (ac) {
        argv[0] = "EVAL";
        argv[1] = read_script.src;
        *sent = redisAsyncCommandArgv(ac, fn, priv, argc, argv, NULL) == REDIS_OK ? 0 : -1;
    } else {
        r = script_eval_ok(c, &read_script, argc, argv, NULL);
    }
    free(argv);
    free(mem);
    return r;
}

redisReply *store_read(redisContext *c, const struct config *cfg, char *const *channels, size_t n,
                       const char *since, int cap)
{
    return read_send(c, NULL, cfg, channels, n, since, cap, NULL, NULL, NULL);
}

int store_read_async(redisAsyncContext *ac, const struct config *cfg, char *const *channels, size_t n,
                     const char *since, int cap, redisCallbackFn *fn, void *priv)
{
    int sent = -1;

    read_send(NULL, ac, cfg, channels, n, since, cap, fn, priv, &sent);
    return sent;
}

/* 1 when r has the shape of a read script reply: last id, truncated, then pairs. */
static int read_valid(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->elements % 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_INTEGER)
        return 0;
    for (size_t i = 2; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return 0;
    return 1;
}

int store_page_parse(const redisReply *r, struct store_page *p)
{
    memset(p, 0, sizeof *p);
    if (!r || !read_valid(r) || cursor_parse(r->element[0]->str, r->element[0]->len, &p->last) < 0)
        goto fail;
    p->truncated = r->element[1]->integer == 1;
    p->n = (r->elements - 2) / 2;
    p->events = xcalloc(p->n + 1, sizeof *p->events);
    for (size_t i = 0; i < p->n; i++) {
        const redisReply *id = r->element[2 + 2 * i], *env = r->element[3 + 2 * i];
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

/* A short command's arguments, built once for the blocking and the asynchronous form. */
struct cmd {
    int argc;
    const char *argv[4];
    char key[STORE_KEY_MAX], num[24];
};

/* Runs k on c, ignoring its answer. Returns 0, or -1 on an error (logged). */
static int cmd_run(redisContext *c, const struct cmd *k)
{
    redisReply *r = redis_ok(c, k->argc, (const char **)k->argv, NULL);

    if (!r)
        return -1;
    freeReplyObject(r);
    return 0;
}

/* Queues k on ac with its callback. Returns 0, or -1 when ac takes no more commands. */
static int cmd_send(redisAsyncContext *ac, const struct cmd *k, redisCallbackFn *fn, void *priv)
{
    return redisAsyncCommandArgv(ac, fn, priv, k->argc, (const char **)k->argv, NULL) == REDIS_OK ? 0 : -1;
}

static void channel_cmd(const struct config *cfg, const char *verb, const char *channel, struct cmd *k)
{
    store_key(cfg, "c:", channel, k->key);
    k->argc = 2;
    k->argv[0] = verb;
    k->argv[1] = k->key;
}

int store_subscribe_async(redisAsyncContext *ac, const struct config *cfg, const char *channel,
                          redisCallbackFn *fn, void *priv)
{
    struct cmd k;

    channel_cmd(cfg, "SUBSCRIBE", channel, &k);
    return cmd_send(ac, &k, fn, priv);
}

int store_unsubscribe_async(redisAsyncContext *ac, const struct config *cfg, const char *channel)
{
    struct cmd k;

    channel_cmd(cfg, "UNSUBSCRIBE", channel, &k);
    return cmd_send(ac, &k, NULL, NULL);
}

/* ZADD to the waiting set until deadline_ms, or ZREM from it when deadline_ms is 0. */
static void waiting_cmd(const struct config *cfg, const char *member, long long deadline_ms, struct cmd *k)
{
    k->argc = 0;
    store_key(cfg, "waiting", "", k->key);
    k->argv[k->argc++] = deadline_ms ? "ZADD" : "ZREM";
    k->argv[k->argc++] = k->key;
    if (deadline_ms) {
        snprintf(k->num, sizeof k->num, "%lld", deadline_ms);
        k->argv[k->argc++] = k->num;
    }
    k->argv[k->argc++] = member;
}

int store_waiting(redisContext *c, const struct config *cfg, const char *member, long long deadline_ms)
{
    struct cmd k;

    waiting_cmd(cfg, member, deadline_ms, &k);
    return cmd_run(c, &k);
}

int store_waiting_async(redisAsyncContext *ac, const struct config *cfg, const char *member,
                        long long deadline_ms)
{
    struct cmd k;

    waiting_cmd(cfg, member, deadline_ms, &k);
    return cmd_send(ac, &k, NULL, NULL);
}

/* The key of client address addr's waiting set. */
static void addr_key(const struct config *cfg, const char *addr, char *out)
{
    char name[72];

    snprintf(name, sizeof name, "%.64s", addr && *addr ? addr : "-");
    store_key(cfg, "wa:", name, out);
}

long long store_admit(redisContext *c, const struct config *cfg, const char *addr, const char *member,
                      long long deadline_ms)
{
    char key[STORE_KEY_MAX], now[24], until[24], limit[16];
    redisReply *r;
    long long rc = -1;

    addr_key(cfg, addr, key);
    snprintf(now, sizeof now, "%lld", clock_wall_ms());
    snprintf(until, sizeof until, "%lld", deadline_ms);
    snprintf(limit, sizeof limit, "%d", cfg->max_waiting_addr);
    r = script_eval_ok(c, &admit_script, 8, (const char *[]){NULL, NULL, "1", key, now, until, member, limit},
                       NULL);
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        rc = r->integer;
    freeReplyObject(r);
    return rc;
}

static void leave_cmd(const struct config *cfg, const char *addr, const char *member, struct cmd *k)
{
    addr_key(cfg, addr, k->key);
    k->argc = 3;
    k->argv[0] = "ZREM";
    k->argv[1] = k->key;
    k->argv[2] = member;
}

int store_leave(redisContext *c, const struct config *cfg, const char *addr, const char *member)
{
    struct cmd k;

    leave_cmd(cfg, addr, member, &k);
    return cmd_run(c, &k);
}

int store_leave_async(redisAsyncContext *ac, const struct config *cfg, const char *addr, const char *member)
{
    struct cmd k;

    leave_cmd(cfg, addr, member, &k);
    return cmd_send(ac, &k, NULL, NULL);
}
