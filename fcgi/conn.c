/* conn: caches the command connection between requests. */
#include "conn.h"

#include <poll.h>

#include "redis.h"

#define CONN_TIMEOUT_MS 2000

static _Thread_local redisContext *conn; /* one per accept thread */

/* An idle connection never has anything to read: if it does, Redis closed it (a
 * restart, a timeout) and the next command would fail. */
static int conn_stale(void)
{
    struct pollfd p = {.fd = conn->fd, .events = POLLIN};

    return poll(&p, 1, 0) != 0;
}

redisContext *conn_get(const struct config *cfg)
{
    if (conn && (conn->err || conn_stale()))
        conn_drop();
    if (!conn)
        conn = redis_open(cfg, CONN_TIMEOUT_MS);
    return conn;
}

void conn_drop(void)
{
    if (conn)
        redisFree(conn);
    conn = NULL;
}
