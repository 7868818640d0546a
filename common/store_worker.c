/* store_worker: the worker's side of the data model: the inbox's consumer group,
 * taking and reclaiming entries, the atomic store script (store_write.lua) pipelined
 * per batch, and the lease that keeps one worker active. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "script.h"
#include "store_write_lua.h" /* generated from store_write.lua */
#include "xalloc.h"

static struct script write_script = {store_write_lua, ""};
/* Takes the lease when free, keeps it when held by this token. */
static struct script hold_script = {
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur and cur ~= ARGV[1] then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "redis.call('HSET', KEYS[2], 'heartbeat', ARGV[3], 'worker', ARGV[1])\n"
    "return 1\n", ""};
static struct script release_script = {
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "return 0\n", ""};

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

/* 1 when a field name is one of the marks ("!" reply key, "?" idempotency key). */
static int is_mark(const redisReply *name)
{
    return strcmp(name->str, "!") == 0 || strcmp(name->str, "?") == 0;
}

/* The keys of one entry's store script call into keys: inbox, last, lease, stats, then
 * a history key per event; the marks' keys into *reply_key and *idem_key. Returns the
 * number of events. */
static size_t write_keys(const struct config *cfg, const redisReply *fields, char (*keys)[STORE_KEY_MAX],
                         const char **reply_key, const char **idem_key)
{
    size_t nev = 0;

    store_key(cfg, "inbox", "", keys[0]);
    store_key(cfg, "last", "", keys[1]);
    store_key(cfg, "lease", "", keys[2]);
    store_key(cfg, "stats", "", keys[3]);
    for (size_t i = 0; i < fields->elements; i += 2) {
        if (strcmp(fields->element[i]->str, "!") == 0)
            *reply_key = fields->element[i + 1]->str;
        else if (strcmp(fields->element[i]->str, "?") == 0)
            *idem_key = fields->element[i + 1]->str;
        else
            store_key(cfg, "h:", fields->element[i]->str, keys[4 + nev++]);
    }
    return nev;
}

int store_write_append(redisContext *c, const struct config *cfg, const char *token, const redisReply *entry)
{
    const redisReply *fields = entry->type == REDIS_REPLY_ARRAY && entry->elements == 2 ? entry->element[1] : NULL;
    const char *reply_key = "", *idem_key = "", **argv;
    char (*keys)[STORE_KEY_MAX], nkeys[16], size[16], age[24], pubsub[STORE_KEY_MAX];
    size_t *lens, argc = 2, nev;
    int rc;

    if ((!write_script.sha[0] && script_load(c, &write_script) < 0) || !fields ||
        fields->type != REDIS_REPLY_ARRAY || fields->elements % 2)
        return -1;
    /* 10 fixed arguments, then per event a key, a channel and a tail. */
    argv = xmalloc((3 * fields->elements / 2 + 16) * sizeof *argv);
    lens = xmalloc((3 * fields->elements / 2 + 16) * sizeof *lens);
    keys = xmalloc((fields->elements / 2 + 4) * sizeof *keys);
    nev = write_keys(cfg, fields, keys, &reply_key, &idem_key);
    snprintf(nkeys, sizeof nkeys, "%zu", nev + 4);
    snprintf(size, sizeof size, "%d", cfg->history_size);
    snprintf(age, sizeof age, "%lld", cfg->history_age * 1000LL);
    store_key(cfg, "c:", "", pubsub);
    argv[argc++] = nkeys;
    for (size_t i = 0; i < nev + 4; i++)
        argv[argc++] = keys[i];
    for (const char *const *a = (const char *const[]){token, entry->element[0]->str, size, age, reply_key, pubsub,
                                                      idem_key, NULL};
         *a; a++)
        argv[argc++] = *a;
    for (size_t i = 2; i < argc; i++)
        lens[i] = strlen(argv[i]);
    for (size_t i = 0; i < fields->elements; i += 2)
        for (size_t k = 0; k < 2 && !is_mark(fields->element[i]); k++) {
            lens[argc] = fields->element[i + k]->len;
            argv[argc++] = fields->element[i + k]->str;
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
            script_forget(&write_script);
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
    snprintf(now, sizeof now, "%lld", clock_wall_ms());
    r = script_eval_ok(c, s, 8, (const char *[]){NULL, NULL, "2", lease, worker, token, ms, now}, NULL);
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
