/* redis: opening an authenticated connection to the configured Redis, and the one
 * way both binaries wait for replies. A context is dead after any error: free it
 * and open a new one. */
#ifndef COMET_REDIS_H
#define COMET_REDIS_H

#include <hiredis/hiredis.h>

#include "config.h"

#define REDIS_SENTINEL_MS 300 /* how long one Sentinel may take to answer */

/* Where Redis is: a unix socket (port 0, host the path), a host and port, or the master
 * that the Sentinels of COMET_REDIS_SENTINELS name (sentinel 1; asked in turn, each
 * for at most REDIS_SENTINEL_MS, so that a failover is followed on every connect).
 * Returns 0, or -1 (logged) when no Sentinel knows the master. */
struct redis_where {
    char host[256];
    int port;
    int sentinel;
};
int redis_where(const struct config *cfg, struct redis_where *w);

/* 1 when role is a ROLE reply of a master. */
int redis_is_master(const redisReply *role);

/* Connects (TCP or unix socket, or the master the Sentinels name, checked with ROLE),
 * authenticates and selects the database. Replies
 * block for at most timeout_ms. Returns a new context (caller frees with
 * redisFree), or NULL after logging why. */
redisContext *redis_open(const struct config *cfg, int timeout_ms);

/* The commands that log a new connection in, as configured: AUTH (with the ACL user
 * when one is set) and SELECT, n of them (0 to 2). Both ways of connecting, blocking
 * (redis_open) and the event loop's, send these. The strings are cfg's or l's. */
struct redis_login {
    int n, argc[2];
    const char *argv[2][3];
    char db[16];
};
void redis_login(const struct config *cfg, struct redis_login *l);

/* Sends argv and returns the reply (caller frees with freeReplyObject), or NULL on
 * an I/O or protocol error, after which c is dead. An error reply is returned as a
 * reply of type REDIS_REPLY_ERROR. */
redisReply *redis_cmd(redisContext *c, int argc, const char **argv, const size_t *lens);

/* Like redis_cmd, waiting for the reply with poll() on c's socket for at most
 * timeout_ms instead of its socket timeout. NULL on an error or no answer in time: c
 * is then dead (c->err set), and *sent says whether the command had gone out whole
 * (so Redis may have run it) or not (it did not). */
redisReply *redis_cmd_within(redisContext *c, int argc, const char **argv, const size_t *lens, int timeout_ms,
                             int *sent);

/* Like redis_cmd, but logs and turns an error reply into NULL too (freeing it). The
 * context stays usable after an error reply. */
redisReply *redis_ok(redisContext *c, int argc, const char **argv, const size_t *lens);

#endif
