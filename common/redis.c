/* redis: connection setup and command helpers over hiredis. Builds against hiredis
 * 0.14 (Debian 12) and 1.x alike; knows nothing of the key layout. */
#include "redis.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

redisReply *redis_cmd(redisContext *c, int argc, const char **argv, const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);

    if (!r)
        log_warn("redis %s: %s", argv[0], c->errstr[0] ? c->errstr : "connection lost");
    return r;
}

redisReply *redis_ok(redisContext *c, int argc, const char **argv, const size_t *lens)
{
    redisReply *r = redis_cmd(c, argc, argv, lens);

    if (r && r->type == REDIS_REPLY_ERROR) {
        log_warn("redis %s: %s", argv[0], r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

void redis_login(const struct config *cfg, struct redis_login *l)
{
    l->n = 0;
    if (cfg->redis_password[0]) {
        const char **argv = l->argv[l->n];
        l->argc[l->n] = 0;
        argv[l->argc[l->n]++] = "AUTH";
        if (cfg->redis_user[0])
            argv[l->argc[l->n]++] = cfg->redis_user;
        argv[l->argc[l->n]++] = cfg->redis_password;
        l->n++;
    }
    if (cfg->redis_db) {
        snprintf(l->db, sizeof l->db, "%d", cfg->redis_db);
        l->argc[l->n] = 2;
        l->argv[l->n][0] = "SELECT";
        l->argv[l->n][1] = l->db;
        l->n++;
    }
}

/* Sends the login commands and checks their answers. Returns 0 or -1 (logged). */
redisReply *redis_cmd_within(redisContext *c, int argc, const char **argv, const size_t *lens, int timeout_ms,
                             int *sent)
{
    long long end = clock_ms() + timeout_ms;
    void *r = NULL;
    int done = 0;

    *sent = 0;
    if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK)
        return NULL;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            goto fail;
    *sent = 1;
    for (;;) {
        long long left = end - clock_ms();
        if (redisGetReplyFromReader(c, &r) != REDIS_OK)
            goto fail;
        if (r)
            return r;
        if (left <= 0 || poll(&(struct pollfd){.fd = c->fd, .events = POLLIN}, 1, (int)left) <= 0 ||
            redisBufferRead(c) != REDIS_OK)
            goto fail;
    }
fail:
    if (!c->err) {
        c->err = REDIS_ERR_IO; /* the reply may still come: the context is out of step */
        snprintf(c->errstr, sizeof c->errstr, "no answer in %d ms", timeout_ms);
    }
    log_warn("redis %s: %s", argv[0], c->errstr);
    return NULL;
}

static int redis_login_run(redisContext *c, const struct config *cfg)
{
    struct redis_login l;
    redisReply *r;

    redis_login(cfg, &l);
    for (int i = 0; i < l.n; i++) {
        if (!(r = redis_ok(c, l.argc[i], l.argv[i], NULL)))
            return -1;
        freeReplyObject(r);
    }
    return 0;
}

/* Asks the Sentinel at spec ("host:port") where the master is. Returns 0 with w filled,
 * or -1. */
static int redis_ask_sentinel(const struct config *cfg, const char *spec, size_t len, struct redis_where *w)
{
    struct timeval tv = {0, REDIS_SENTINEL_MS * 1000};
    char host[256];
    const char *colon = memchr(spec, ':', len);
    redisContext *c = NULL;
    redisReply *r = NULL;
    int rc = -1;

    if (!colon || (size_t)(colon - spec) >= sizeof host)
        return -1;
    snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
    c = redisConnectWithTimeout(host, atoi(colon + 1), tv);
    if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK &&
        (r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", cfg->redis_master)) &&
        r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        snprintf(w->host, sizeof w->host, "%s", r->element[0]->str);
        w->port = atoi(r->element[1]->str);
        rc = 0;
    }
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return rc;
}

int redis_where(const struct config *cfg, struct redis_where *w)
{
    const char *p = cfg->redis_sentinels;

    memset(w, 0, sizeof *w);
    w->sentinel = *p != 0;
    if (!w->sentinel) {
        snprintf(w->host, sizeof w->host, "%s", cfg->redis_socket[0] ? cfg->redis_socket : cfg->redis_host);
        w->port = cfg->redis_socket[0] ? 0 : cfg->redis_port;
        return 0;
    }
    while (*p) {
        size_t len = strcspn(p, ",");
        while (len && *p == ' ')
            p++, len--;
        if (len && redis_ask_sentinel(cfg, p, len, w) == 0)
            return 0;
        p += len + (p[len] == ',');
    }
    log_warn("no Redis Sentinel of %s knows the master %s", cfg->redis_sentinels, cfg->redis_master);
    return -1;
}

int redis_is_master(const redisReply *role)
{
    return role && role->type == REDIS_REPLY_ARRAY && role->elements > 0 &&
           role->element[0]->type == REDIS_REPLY_STRING && strcmp(role->element[0]->str, "master") == 0;
}

/* A master found through the Sentinels must still be one: right after a failover the
 * old one may still answer, as a replica. Returns 0 or -1. */
static int redis_check_master(redisContext *c, const struct redis_where *w)
{
    redisReply *r;
    int ok;

    if (!w->sentinel)
        return 0;
    r = redis_cmd(c, 1, (const char *[]){"ROLE"}, NULL);
    ok = redis_is_master(r);
    if (r)
        freeReplyObject(r);
    if (!ok)
        log_warn("redis at %s:%d is not a master (yet)", w->host, w->port);
    return ok ? 0 : -1;
}

redisContext *redis_open(const struct config *cfg, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    struct redis_where w;
    redisContext *c;

    if (redis_where(cfg, &w) < 0)
        return NULL;
    c = w.port ? redisConnectWithTimeout(w.host, w.port, tv) : redisConnectUnixWithTimeout(w.host, tv);
    if (!c || c->err) {
        log_warn("cannot connect to redis at %s%s%.0d: %s", w.host, w.port ? ":" : "", w.port,
                 c ? c->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK || redis_login_run(c, cfg) < 0 || redis_check_master(c, &w) < 0)
        goto fail;
    return c;
fail:
    if (c)
        redisFree(c);
    return NULL;
}
