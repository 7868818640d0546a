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

redisContext *redis_open(const struct config *cfg, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c;

    if (cfg->redis_socket[0])
        c = redisConnectUnixWithTimeout(cfg->redis_socket, tv);
    else
        c = redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);
    if (!c || c->err) {
        if (cfg->redis_socket[0])
            log_warn("cannot connect to redis at %s: %s", cfg->redis_socket,
                     c ? c->errstr : "out of memory");
        else
            log_warn("cannot connect to redis at %s:%d: %s", cfg->redis_host, cfg->redis_port,
                     c ? c->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK || redis_login_run(c, cfg) < 0)
        goto fail;
    return c;
fail:
    if (c)
        redisFree(c);
    return NULL;
}
