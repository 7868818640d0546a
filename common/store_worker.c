/* store_worker: the worker's side of the data model: the inbox's consumer group,
 * taking and reclaiming entries, the atomic store script (store_write.lua) pipelined
 * per batch, the lease that keeps one worker active, and its own status samples. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "args.h"
#include "cursor.h"
#include "pattern.h"
#include "script.h"
#include "store_write_lua.h" /* generated from store_write.lua */
#include "xalloc.h"

static struct script write_script = {store_write_lua, ""};
/* Takes the lease when free, keeps it when held by this token. */
/* KEYS: lease, worker hash. ARGV: token, ms, now, this worker's client id, and the
 * client id of a holder whose connection is gone ("" for none): then the lease is taken
 * from it, provided it still holds the lease under that connection. */
static struct script hold_script = {
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur and cur ~= ARGV[1] then\n"
    "  local w = redis.call('HMGET', KEYS[2], 'worker', 'client')\n"
    "  if ARGV[5] == '' or w[1] ~= cur or w[2] ~= ARGV[5] then return 0 end\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "redis.call('HSET', KEYS[2], 'heartbeat', ARGV[3], 'worker', ARGV[1], 'client', ARGV[4])\n"
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

/* The value of mark m among an entry's fields, or "". */
static const char *mark(const redisReply *fields, const char *m)
{
    for (size_t i = 0; i < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, m) == 0)
            return fields->element[i + 1]->str;
    return "";
}

/* An inbox entry's fields (name, value, ...), or NULL when entry is not one. */
static const redisReply *entry_fieldset(const redisReply *entry)
{
    const redisReply *f = entry->type == REDIS_REPLY_ARRAY && entry->elements == 2 ? entry->element[1] : NULL;

    return f && f->type == REDIS_REPLY_ARRAY && f->elements % 2 == 0 ? f : NULL;
}

const char *store_entry_reply_key(const redisReply *entry)
{
    const redisReply *fields = entry_fieldset(entry);

    return fields ? mark(fields, "!") : "";
}

void store_entry_channels(const redisReply *entry, void (*fn)(const char *channel, void *priv), void *priv)
{
    const redisReply *fields = entry_fieldset(entry);

    for (size_t i = 0; fields && i < fields->elements; i += 2)
        if (!is_mark(fields->element[i]))
            fn(fields->element[i]->str, priv);
}

/* Appends one argument: a "1" or "0" per event of an entry's fields, whether its
 * channel is archived (COMET_ARCHIVE_CHANNELS; every channel when that is empty). */
static void archive_marks(struct args *a, const struct config *cfg, const redisReply *fields)
{
    char *marks = xmalloc(fields->elements / 2 + 1);
    size_t n = 0;

    for (size_t i = 0; i < fields->elements; i += 2)
        if (!is_mark(fields->element[i]))
            marks[n++] = !cfg->archive_channels[0] || pattern_list_match(cfg->archive_channels, fields->element[i]->str)
                             ? '1' : '0';
    marks[n] = 0;
    args_copy(a, marks);
    free(marks);
}

int store_write_append(redisContext *c, const struct config *cfg, const char *token, const redisReply *entry,
                       const char *expect, int confirm)
{
    const redisReply *fields = entry_fieldset(entry);
    struct args a = {0};
    size_t nev = 0;
    int rc;

    if ((!write_script.sha[0] && script_load(c, &write_script) < 0) || !fields)
        return -1;
    for (size_t i = 0; i < fields->elements; i += 2)
        nev += !is_mark(fields->element[i]);
    args_str(&a, "EVALSHA");
    args_str(&a, write_script.sha);
    args_num(&a, (long long)nev + 6);
    for (const char *const *k = (const char *const[]){"inbox", "last", "lease", "stats", "epoch", "archive", NULL};
         *k; k++)
        args_key(&a, cfg, *k, "");
    for (size_t i = 0; i < fields->elements; i += 2)
        if (!is_mark(fields->element[i]))
            args_key(&a, cfg, "h:", fields->element[i]->str);
    args_str(&a, token);
    args_str(&a, entry->element[0]->str);
    args_num(&a, cfg->history_size);
    args_num(&a, cfg->history_age * 1000LL);
    args_str(&a, confirm ? mark(fields, "!") : "");
    args_key(&a, cfg, "c:", "");
    args_str(&a, mark(fields, "?"));
    args_str(&a, expect);
    args_num(&a, cfg->archive[0] ? cfg->archive_backlog : 0);
    archive_marks(&a, cfg, fields);
    for (size_t i = 0; i < fields->elements; i += 2)
        for (size_t k = 0; k < 2 && !is_mark(fields->element[i]); k++)
            args_add(&a, fields->element[i + k]->str, fields->element[i + k]->len);
    rc = redisAppendCommandArgv(c, a.argc, a.argv, a.lens) == REDIS_OK ? 0 : -1;
    args_free(&a);
    return rc;
}

/* The ids of a store script's answer as a JSON array (new string). */
static char *ids_json(const redisReply *r)
{
    json_t *a = json_array();
    char *s;

    for (size_t i = 0; i < r->elements; i++)
        json_array_append_new(a, json_stringn(r->element[i]->str, r->element[i]->len));
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

int store_write_reply(redisContext *c, int *lost, char *last, char **ids)
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
        if (rc && r->element[r->elements - 1]->type == REDIS_REPLY_STRING)
            snprintf(last, CURSOR_MAX, "%s", r->element[r->elements - 1]->str);
        if (rc && ids)
            *ids = ids_json(r);
    }
    freeReplyObject(r);
    return rc;
}

/* Confirms a ?wait=1 publish as the store script does when it may: the ids on the
 * reply key, as a list (BLPOP) and as a pub/sub channel. */
static const char confirm_lua[] =
    "redis.call('RPUSH', KEYS[1], ARGV[1])\n"
    "redis.call('EXPIRE', KEYS[1], 300)\n"
    "redis.call('PUBLISH', KEYS[1], ARGV[1])\n"
    "return 0\n";

int store_confirm(redisContext *c, const char *reply_key, const char *ids)
{
    redisReply *r = redis_ok(c, 5, (const char *[]){"EVAL", confirm_lua, "1", reply_key, ids}, NULL);

    if (!r)
        return -1;
    freeReplyObject(r);
    return 0;
}

long long store_replicated(redisContext *c, int replicas, int timeout_ms)
{
    char n[16], ms[16];
    redisReply *r;
    long long acks;

    snprintf(n, sizeof n, "%d", replicas);
    snprintf(ms, sizeof ms, "%d", timeout_ms);
    if (!(r = redis_ok(c, 3, (const char *[]){"WAIT", n, ms}, NULL)))
        return -1;
    acks = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return acks;
}

/* Runs a lease script over KEYS lease, worker and ARGV token, ms, now; returns its
 * integer reply or -1. */
static int store_lease_script(redisContext *c, const struct config *cfg, struct script *s,
                              const char *token, long long client, long long dead)
{
    char lease[STORE_KEY_MAX], worker[STORE_KEY_MAX], ms[24], now[24], id[24], gone[24] = "";
    redisReply *r;
    int rc;

    store_key(cfg, "lease", "", lease);
    store_key(cfg, "worker", "", worker);
    snprintf(ms, sizeof ms, "%lld", cfg->worker_lease * 1000LL);
    snprintf(now, sizeof now, "%lld", clock_wall_ms());
    snprintf(id, sizeof id, "%lld", client);
    if (dead)
        snprintf(gone, sizeof gone, "%lld", dead);
    r = script_eval_ok(c, s, 10, (const char *[]){NULL, NULL, "2", lease, worker, token, ms, now, id, gone}, NULL);
    if (!r)
        return -1;
    rc = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    freeReplyObject(r);
    return rc;
}

int store_lease_hold(redisContext *c, const struct config *cfg, const char *token, long long client, long long dead)
{
    return store_lease_script(c, cfg, &hold_script, token, client, dead);
}

long long store_lease_gone(redisContext *c, const struct config *cfg)
{
    char worker[STORE_KEY_MAX], filter[24];
    redisReply *r;
    long long id = 0;

    store_key(cfg, "worker", "", worker);
    if (!(r = redis_ok(c, 3, (const char *[]){"HGET", worker, "client"}, NULL)))
        return -1;
    if (r->type == REDIS_REPLY_STRING)
        id = atoll(r->str);
    freeReplyObject(r);
    if (id <= 0)
        return 0;
    snprintf(filter, sizeof filter, "%lld", id);
    /* An error reply (an ACL user without CLIENT) leaves only the lease's expiry. */
    if (!(r = redis_cmd(c, 4, (const char *[]){"CLIENT", "LIST", "ID", filter}, NULL)))
        return -1;
    if (r->type != REDIS_REPLY_STRING || r->len > 0)
        id = 0; /* still connected, or not known */
    freeReplyObject(r);
    return id;
}

long long store_client_id(redisContext *c)
{
    redisReply *r = redis_cmd(c, 2, (const char *[]){"CLIENT", "ID"}, NULL);
    long long id = !r ? -1 : r->type == REDIS_REPLY_INTEGER ? r->integer : 0;

    if (r)
        freeReplyObject(r);
    return id;
}

void store_lease_release(redisContext *c, const struct config *cfg, const char *token)
{
    store_lease_script(c, cfg, &release_script, token, 0, 0);
}

long long store_watched(redisContext *c, const struct config *cfg, const char *channel)
{
    char key[STORE_KEY_MAX], now[24];
    redisReply *r;
    long long n;

    store_key(cfg, "w:", channel, key);
    snprintf(now, sizeof now, "(%lld", clock_wall_ms());
    if (!(r = redis_ok(c, 4, (const char *[]){"ZCOUNT", key, now, "+inf"}, NULL)))
        return -1;
    n = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return n;
}

