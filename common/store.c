/* store: key names and the publish side of the data model: queueing publishes (with
 * their Idempotency-Keys), rates and /stats. The worker's commands are in
 * store_worker.c, the waiting requests' in store_wait.c. Leaves connecting to redis.c
 * and deciding what to do on failure to the callers. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "script.h"
#include "xalloc.h"

/* An idempotent publish: queues the entry and remembers the key with the body's
 * fingerprint, unless the key is known (then answers what it holds), all at once.
 * KEYS: inbox, idem hash. ARGV: ttl ms, fingerprint source, event count, then the
 * entry's fields. */
static struct script once_script = {
    "local fp = redis.sha1hex(ARGV[2])\n"
    "local cur = redis.call('HMGET', KEYS[2], 'fp', 'n', 'ids')\n"
    "if cur[1] then\n"
    "  if cur[1] ~= fp then return {'conflict', '0', ''} end\n"
    "  return {'replay', cur[2], cur[3] or ''}\n"
    "end\n"
    "redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))\n"
    "redis.call('HSET', KEYS[2], 'fp', fp, 'n', ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[1])\n"
    "return {'new', ARGV[3], ''}\n", ""};

void store_key(const struct config *cfg, const char *kind, const char *name, char *out)
{
    snprintf(out, STORE_KEY_MAX, "%s%s%s", cfg->prefix, kind, name);
}

/* Appends an inbox entry's fields to argv at *argc: the marks, then a channel and a
 * tail per event. "!" and "?" cannot be channel names, so they mark the reply key
 * and the idempotency key among the fields. */
static void entry_fields(const char **argv, size_t *argc, size_t n, char *const *channels,
                         char *const *tails, const char *reply_key, const char *idem_key)
{
    if (reply_key) {
        argv[(*argc)++] = "!";
        argv[(*argc)++] = reply_key;
    }
    if (idem_key) {
        argv[(*argc)++] = "?";
        argv[(*argc)++] = idem_key;
    }
    for (size_t i = 0; i < n; i++) {
        argv[(*argc)++] = channels[i];
        argv[(*argc)++] = tails[i];
    }
}

int store_enqueue(redisContext *c, const struct config *cfg, size_t n, char *const *channels,
                  char *const *tails, const char *reply_key)
{
    size_t argc = 0;
    const char **argv = xmalloc((5 + 2 * n) * sizeof *argv);
    char inbox[STORE_KEY_MAX];
    redisReply *r;

    store_key(cfg, "inbox", "", inbox);
    argv[argc++] = "XADD";
    argv[argc++] = inbox;
    argv[argc++] = "*";
    entry_fields(argv, &argc, n, channels, tails, reply_key, NULL);
    r = redis_ok(c, (int)argc, argv, NULL);
    free(argv);
    if (!r)
        return -1;
    freeReplyObject(r);
    return 0;
}

int store_enqueue_once(redisContext *c, const struct config *cfg, const char *idem, const char *print,
                       size_t n, char *const *channels, char *const *tails, const char *reply_key,
                       struct store_once *out)
{
    size_t argc = 2;
    const char **argv = xmalloc((16 + 2 * n) * sizeof *argv);
    char inbox[STORE_KEY_MAX], key[STORE_KEY_MAX], ttl[24], count[24];
    redisReply *r;
    int rc = -1;

    memset(out, 0, sizeof *out);
    store_key(cfg, "inbox", "", inbox);
    store_key(cfg, "idem:", idem, key);
    snprintf(ttl, sizeof ttl, "%lld", cfg->idempotency_ttl * 1000LL);
    snprintf(count, sizeof count, "%zu", n);
    argv[argc++] = "2";
    argv[argc++] = inbox;
    argv[argc++] = key;
    argv[argc++] = ttl;
    argv[argc++] = print;
    argv[argc++] = count;
    entry_fields(argv, &argc, n, channels, tails, reply_key, key);
    r = script_eval_ok(c, &once_script, (int)argc, argv, NULL);
    free(argv);
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_STRING) {
        out->status = strcmp(r->element[0]->str, "new") == 0      ? STORE_ONCE_NEW
                      : strcmp(r->element[0]->str, "replay") == 0 ? STORE_ONCE_REPLAY
                                                                  : STORE_ONCE_CONFLICT;
        out->n = atoll(r->element[1]->str);
        out->ids = r->element[2]->len ? xstrdup(r->element[2]->str) : NULL;
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

int store_once_ids(redisContext *c, const struct config *cfg, const char *idem, char **ids)
{
    char key[STORE_KEY_MAX];
    redisReply *r;

    *ids = NULL;
    store_key(cfg, "idem:", idem, key);
    if (!(r = redis_ok(c, 3, (const char *[]){"HGET", key, "ids"}, NULL)))
        return -1;
    if (r->type == REDIS_REPLY_STRING)
        *ids = xstrdup(r->str);
    freeReplyObject(r);
    return 0;
}

int store_await_ids(redisContext *c, const char *reply_key, int seconds, char **ids)
{
    char secs[16];
    redisReply *r;
    int rc;

    *ids = NULL;
    snprintf(secs, sizeof secs, "%d", seconds);
    /* Redis answers nil at the timeout itself; the 2 s more bound a Redis that froze. */
    r = redis_cmd_within(c, 3, (const char *[]){"BLPOP", reply_key, secs}, seconds * 1000 + 2000);
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

long long store_rate(redisContext *c, const struct config *cfg, const char *who)
{
    char name[160], key[STORE_KEY_MAX];
    redisReply *r;
    long long n;

    snprintf(name, sizeof name, "%.100s:%lld", who, clock_wall_ms() / 60000);
    store_key(cfg, "rate:", name, key);
    if (redisAppendCommand(c, "INCR %s", key) != REDIS_OK || redisAppendCommand(c, "EXPIRE %s 61", key) != REDIS_OK)
        return -1;
    if (redisGetReply(c, (void **)&r) != REDIS_OK)
        return -1;
    n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (redisGetReply(c, (void **)&r) != REDIS_OK)
        return -1;
    freeReplyObject(r);
    return n;
}

/* Appends a command to the pipeline of store_stats. */
static int append(redisContext *c, int argc, const char **argv)
{
    return redisAppendCommandArgv(c, argc, argv, NULL) == REDIS_OK ? 0 : -1;
}

json_t *store_stats(redisContext *c, const struct config *cfg)
{
    char waiting[STORE_KEY_MAX], stats[STORE_KEY_MAX], inbox[STORE_KEY_MAX], worker[STORE_KEY_MAX];
    char now[24];
    redisReply *r[5] = {NULL};
    json_t *out = NULL;
    long long hb = 0, t = clock_wall_ms();

    store_key(cfg, "waiting", "", waiting);
    store_key(cfg, "stats", "", stats);
    store_key(cfg, "inbox", "", inbox);
    store_key(cfg, "worker", "", worker);
    snprintf(now, sizeof now, "%lld", t);
    if (append(c, 4, (const char *[]){"ZREMRANGEBYSCORE", waiting, "-inf", now}) ||
        append(c, 2, (const char *[]){"ZCARD", waiting}) ||
        append(c, 3, (const char *[]){"HGET", stats, "published"}) ||
        append(c, 2, (const char *[]){"XLEN", inbox}) ||
        append(c, 3, (const char *[]){"HGET", worker, "heartbeat"}))
        return NULL;
    for (int i = 0; i < 5; i++)
        if (redisGetReply(c, (void **)&r[i]) != REDIS_OK)
            goto done;
    if (r[4]->type == REDIS_REPLY_STRING)
        hb = atoll(r[4]->str);
    out = json_pack("{s:I, s:I, s:I, s:{s:b, s:o}}",
                    "published", (json_int_t)(r[2]->type == REDIS_REPLY_STRING ? atoll(r[2]->str) : 0),
                    "waiting", (json_int_t)(r[1]->type == REDIS_REPLY_INTEGER ? r[1]->integer : 0),
                    "inbox", (json_int_t)(r[3]->type == REDIS_REPLY_INTEGER ? r[3]->integer : 0),
                    "worker", "alive", hb && t - hb < 1000LL * cfg->worker_lease,
                    "last_heartbeat", hb ? json_integer(hb) : json_null());
done:
    for (int i = 0; i < 5; i++)
        if (r[i])
            freeReplyObject(r[i]);
    return out;
}
