/* store: key names, the Lua scripts and every Redis command of the data model.
 * Leaves connecting to redis.c and deciding what to do on failure to the callers. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "redis.h"
#include "store_scripts.h" /* generated from store_*.lua: store_write_lua, store_read_lua */
#include "xalloc.h"

struct script {
    const char *src;
    char sha[41];
};

static struct script write_script = {store_write_lua, ""};
static struct script read_script = {store_read_lua, ""};
/* Takes the lease when free, keeps it when held by this token. */
static struct script hold_script = {
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur and cur ~= ARGV[1] then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "redis.call('HSET', KEYS[2], 'heartbeat', ARGV[3], 'worker', ARGV[1])\n"
    "return 1\n", ""};
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
static struct script release_script = {
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "return 0\n", ""};

long long store_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_key(const struct config *cfg, const char *kind, const char *name, char *out)
{
    snprintf(out, STORE_KEY_MAX, "%s%s%s", cfg->prefix, kind, name);
}

/* Loads s into Redis and notes its sha. Returns 0, or -1 (logged). */
static int store_eval_load(redisContext *c, struct script *s)
{
    redisReply *r = redis_ok(c, 3, (const char *[]){"SCRIPT", "LOAD", s->src}, NULL);

    if (!r)
        return -1;
    snprintf(s->sha, sizeof s->sha, "%s", r->str);
    freeReplyObject(r);
    return 0;
}

/* EVALSHA argv[0..argc) (argv[0] and [1], and their lens when lens is not NULL, are
 * filled here), loading the script on first use and again after Redis forgot it (a
 * restart or SCRIPT FLUSH). */
static redisReply *store_eval(redisContext *c, struct script *s, int argc, const char **argv,
                              size_t *lens)
{
    redisReply *r = NULL;

    argv[0] = "EVALSHA";
    argv[1] = s->sha;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s->sha[0]) {
            if (lens) {
                lens[0] = 7;
                lens[1] = strlen(s->sha);
            }
            r = redis_cmd(c, argc, argv, lens);
            if (!r || r->type != REDIS_REPLY_ERROR || strncmp(r->str, "NOSCRIPT", 8) != 0)
                return r;
            freeReplyObject(r);
        }
        if (store_eval_load(c, s) < 0)
            return NULL;
    }
    return NULL;
}

/* store_eval that also turns an error reply into NULL, logging it. */
static redisReply *store_eval_ok(redisContext *c, struct script *s, int argc, const char **argv,
                                 size_t *lens)
{
    redisReply *r = store_eval(c, s, argc, argv, lens);

    if (r && r->type == REDIS_REPLY_ERROR) {
        log_warn("script: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
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
    r = store_eval_ok(c, &once_script, (int)argc, argv, NULL);
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

redisReply *store_read(redisContext *c, const struct config *cfg, char *const *channels,
                       size_t n, const char *since, int cap)
{
    const char **argv = xmalloc((n + 7) * sizeof *argv);
    char *mem;
    int argc = read_args(cfg, channels, n, since, cap, argv, &mem);
    redisReply *r = store_eval_ok(c, &read_script, argc, argv, NULL);

    free(argv);
    free(mem);
    if (r && !store_read_valid(r)) {
        log_error("read script: unexpected reply");
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

int store_read_append(redisContext *c, const struct config *cfg, char *const *channels, size_t n,
                      const char *since, int cap)
{
    const char **argv = xmalloc((n + 7) * sizeof *argv);
    char *mem;
    int argc = read_args(cfg, channels, n, since, cap, argv, &mem), rc;

    /* EVAL, not EVALSHA: a pipelined caller cannot retry after NOSCRIPT. Redis still
     * compiles the script once and caches it by its hash. */
    argv[0] = "EVAL";
    argv[1] = read_script.src;
    rc = redisAppendCommandArgv(c, argc, argv, NULL) == REDIS_OK ? 0 : -1;
    free(argv);
    free(mem);
    return rc;
}

int store_read_valid(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->elements % 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_INTEGER)
        return 0;
    for (size_t i = 2; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return 0;
    return 1;
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

int store_group(redisContext *c, const struct config *cfg)
{
    char inbox[STORE_KEY_MAX];
    redisReply *r;

    store_key(cfg, "inbox", "", inbox);
    /* From "0": publishes queued before the first worker ever ran are kept. */
    r = redis_cmd(c, 6, (const char *[]){"XGROUP", "CREATE", inbox, "workers", "0", "MKSTREAM"}, NULL);
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        log_error("XGROUP CREATE: %s", r->str);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

redisReply *store_claim(redisContext *c, const struct config *cfg, const char *consumer)
{
    char inbox[STORE_KEY_MAX];

    store_key(cfg, "inbox", "", inbox);
    return redis_ok(c, 8, (const char *[]){"XAUTOCLAIM", inbox, "workers", consumer, "0", "0-0",
                                          "COUNT", "1000"}, NULL);
}

redisReply *store_take(redisContext *c, const struct config *cfg, const char *consumer, int block_ms)
{
    char inbox[STORE_KEY_MAX], block[16];

    store_key(cfg, "inbox", "", inbox);
    snprintf(block, sizeof block, "%d", block_ms);
    return redis_ok(c, 11, (const char *[]){"XREADGROUP", "GROUP", "workers", consumer, "COUNT",
                                           "100", "BLOCK", block, "STREAMS", inbox, ">"}, NULL);
}

const redisReply *store_entries(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return NULL;
    if (r->elements == 1) /* XREADGROUP: [[stream, entries]]; XAUTOCLAIM: [cursor, entries, deleted] */
        r = r->element[0];
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[1]->type != REDIS_REPLY_ARRAY ||
        r->element[1]->elements == 0)
        return NULL;
    return r->element[1];
}

int store_write_append(redisContext *c, const struct config *cfg, const char *token,
                       const redisReply *entry)
{
    const redisReply *id, *fields;
    const char *reply_key = "", *idem_key = "";
    const char **argv;
    size_t *lens, argc, nev = 0;
    char (*keys)[STORE_KEY_MAX];
    char nkeys[16], size[16], age[24], pubsub[STORE_KEY_MAX];
    int rc = -1;

    if (!write_script.sha[0] && store_eval_load(c, &write_script) < 0)
        return -1;
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2)
        return -1;
    id = entry->element[0];
    fields = entry->element[1];
    if (fields->type != REDIS_REPLY_ARRAY || fields->elements % 2)
        return -1;
    /* 10 fixed arguments, then per event a key, a channel and a tail. */
    argv = xmalloc((3 * fields->elements / 2 + 16) * sizeof *argv);
    lens = xmalloc((3 * fields->elements / 2 + 16) * sizeof *lens);
    keys = xmalloc((fields->elements / 2 + 4) * sizeof *keys);
    store_key(cfg, "inbox", "", keys[0]);
    store_key(cfg, "last", "", keys[1]);
    store_key(cfg, "lease", "", keys[2]);
    store_key(cfg, "stats", "", keys[3]);
    for (size_t i = 0; i < fields->elements; i += 2) {
        if (strcmp(fields->element[i]->str, "!") == 0)
            reply_key = fields->element[i + 1]->str;
        else if (strcmp(fields->element[i]->str, "?") == 0)
            idem_key = fields->element[i + 1]->str;
        else
            store_key(cfg, "h:", fields->element[i]->str, keys[4 + nev++]);
    }
    argc = 2;
    snprintf(nkeys, sizeof nkeys, "%zu", nev + 4);
    argv[argc++] = nkeys;
    for (size_t i = 0; i < nev + 4; i++)
        argv[argc++] = keys[i];
    snprintf(size, sizeof size, "%d", cfg->history_size);
    snprintf(age, sizeof age, "%lld", cfg->history_age * 1000LL);
    store_key(cfg, "c:", "", pubsub);
    argv[argc++] = token;
    argv[argc++] = id->str;
    argv[argc++] = size;
    argv[argc++] = age;
    argv[argc++] = reply_key;
    argv[argc++] = pubsub;
    argv[argc++] = idem_key;
    for (size_t i = 2; i < argc; i++) /* store_eval fills in the first two */
        lens[i] = strlen(argv[i]);
    for (size_t i = 0; i < fields->elements; i += 2) {
        if (strcmp(fields->element[i]->str, "!") == 0 || strcmp(fields->element[i]->str, "?") == 0)
            continue;
        for (size_t k = 0; k < 2; k++) {
            lens[argc] = fields->element[i + k]->len;
            argv[argc++] = fields->element[i + k]->str;
        }
    }
    argv[0] = "EVALSHA";
    argv[1] = write_script.sha;
    lens[0] = 7;
    lens[1] = strlen(write_script.sha);
    rc = redisAppendCommandArgv(c, (int)argc, argv, lens) == REDIS_OK ? 0 : -1;
    free(argv);
    free(lens);
    free(keys);
    return rc;
}

int store_write_reply(redisContext *c, int *lost)
{
    redisReply *r = NULL;
    int rc = -1;

    *lost = 0;
    if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
        log_warn("redis: %s", c->errstr[0] ? c->errstr : "connection lost");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        /* NOSCRIPT too: Redis restarted; the entries stay pending and are stored again. */
        *lost = strncmp(r->str, "NOTLEADER", 9) == 0;
        if (strncmp(r->str, "NOSCRIPT", 8) == 0)
            write_script.sha[0] = 0;
        log_warn("storing: %s", r->str);
    } else {
        rc = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    }
    freeReplyObject(r);
    return rc;
}

/* Runs a lease script over KEYS lease, worker and ARGV token, ms, now; returns its
 * integer reply or -1. */
static int store_lease_script(redisContext *c, const struct config *cfg, struct script *s,
                              const char *token)
{
    char lease[STORE_KEY_MAX], worker[STORE_KEY_MAX], ms[24], now[24];
    redisReply *r;
    int rc;

    store_key(cfg, "lease", "", lease);
    store_key(cfg, "worker", "", worker);
    snprintf(ms, sizeof ms, "%lld", cfg->worker_lease * 1000LL);
    snprintf(now, sizeof now, "%lld", store_now_ms());
    r = store_eval_ok(c, s, 8, (const char *[]){NULL, NULL, "2", lease, worker, token, ms, now}, NULL);
    if (!r)
        return -1;
    rc = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    freeReplyObject(r);
    return rc;
}

int store_lease_hold(redisContext *c, const struct config *cfg, const char *token)
{
    return store_lease_script(c, cfg, &hold_script, token);
}

void store_lease_release(redisContext *c, const struct config *cfg, const char *token)
{
    store_lease_script(c, cfg, &release_script, token);
}

int store_waiting(redisContext *c, const struct config *cfg, const char *member, long long deadline_ms)
{
    char key[STORE_KEY_MAX], score[24];
    redisReply *r;

    store_key(cfg, "waiting", "", key);
    if (deadline_ms) {
        snprintf(score, sizeof score, "%lld", deadline_ms);
        r = redis_ok(c, 4, (const char *[]){"ZADD", key, score, member}, NULL);
    } else {
        r = redis_ok(c, 3, (const char *[]){"ZREM", key, member}, NULL);
    }
    if (!r)
        return -1;
    freeReplyObject(r);
    return 0;
}

void store_addr_key(const struct config *cfg, const char *addr, char *out)
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

    store_addr_key(cfg, addr, key);
    snprintf(now, sizeof now, "%lld", store_now_ms());
    snprintf(until, sizeof until, "%lld", deadline_ms);
    snprintf(limit, sizeof limit, "%d", cfg->max_waiting_addr);
    r = store_eval_ok(c, &admit_script, 8, (const char *[]){NULL, NULL, "1", key, now, until, member, limit},
                      NULL);
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        rc = r->integer;
    freeReplyObject(r);
    return rc;
}

int store_leave(redisContext *c, const struct config *cfg, const char *addr, const char *member)
{
    char key[STORE_KEY_MAX];
    redisReply *r;

    store_addr_key(cfg, addr, key);
    if (!(r = redis_ok(c, 3, (const char *[]){"ZREM", key, member}, NULL)))
        return -1;
    freeReplyObject(r);
    return 0;
}

long long store_rate(redisContext *c, const struct config *cfg, const char *who)
{
    char name[160], key[STORE_KEY_MAX];
    redisReply *r;
    long long n;

    snprintf(name, sizeof name, "%.100s:%lld", who, store_now_ms() / 60000);
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
    long long hb = 0, t = store_now_ms();

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
