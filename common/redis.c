/* redis: connection setup and command helpers over hiredis. Builds against hiredis
 * 0.14 (Debian 12) and 1.x alike; knows nothing of the key layout. */
#include "redis.h"

#include <stdlib.h>
#include <string.h>

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

static int redis_auth_select(redisContext *c, const struct config *cfg)
{
    redisReply *r;
    char db[16];

    if (cfg->redis_password[0]) {
        if (cfg->redis_user[0])
            r = redis_ok(c, 3, (const char *[]){"AUTH", cfg->redis_user, cfg->redis_password}, NULL);
        else
            r = redis_ok(c, 2, (const char *[]){"AUTH", cfg->redis_password}, NULL);
        if (!r)
            return -1;
        freeReplyObject(r);
    }
    if (cfg->redis_db) {
        snprintf(db, sizeof db, "%d", cfg->redis_db);
        if (!(r = redis_ok(c, 2, (const char *[]){"SELECT", db}, NULL)))
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
    if (redisSetTimeout(c, tv) != REDIS_OK || redis_auth_select(c, cfg) < 0)
        goto fail;
    return c;
fail:
    if (c)
        redisFree(c);
    return NULL;
}
