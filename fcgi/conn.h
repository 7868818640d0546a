/* conn: the process's one command connection to Redis, opened on first use and
 * reopened after any failure. Subscriptions use connections of their own. */
#ifndef COMET_CONN_H
#define COMET_CONN_H

#include <hiredis/hiredis.h>

#include "config.h"

/* Returns the live connection (borrowed), or NULL when Redis is unreachable. */
redisContext *conn_get(const struct config *cfg);

/* Forgets the connection after an error on it; the next conn_get reconnects. */
void conn_drop(void);

#endif
