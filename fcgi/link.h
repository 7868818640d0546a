/* link: the event loop's two Redis connections, the shared subscription and the
 * command connection (history reads, waiting sets). Opened when a waiting request
 * first needs them, logged in (redis_login), and given up together when either
 * fails, so the hub sees one state. One per process, like the hub. */
#ifndef COMET_LINK_H
#define COMET_LINK_H

#include <hiredis/async.h>

#include "config.h"
#include "loop.h"

enum link_state {
    LINK_DOWN,       /* no connection; link_connect starts one */
    LINK_CONNECTING, /* waiting for both to connect, at most LINK_TIMEOUT_MS */
    LINK_UP          /* both connected: commands may be sent */
};

/* How long Redis may take to connect, or to answer a command, before the link is
 * given up: a frozen Redis gets 503s (and 504s for what it was sent) this soon. */
#define LINK_TIMEOUT_MS 2000

struct link_hooks {
    void (*up)(void);   /* both connections are ready */
    void (*down)(void); /* connecting failed, or an up link failed: every pending
                         * callback on either connection already got its NULL reply */
};

/* Sets what the link uses; cfg, l and hooks are borrowed for the process's life. */
void link_init(const struct config *cfg, struct loop *l, const struct link_hooks *hooks);

enum link_state link_state(void);

/* Starts connecting when down; nothing otherwise. */
void link_connect(void);

/* The connections while up (NULL otherwise): sub carries SUBSCRIBE and UNSUBSCRIBE
 * only, cmd everything else. */
redisAsyncContext *link_sub(void);
redisAsyncContext *link_cmd(void);

/* Gives both connections up (a failed command, a reply that makes no sense, a connect
 * that takes too long): down follows, now or once the current callback returns. */
void link_fail(void);

/* 1 when r is an error reply (logged); one that says Redis became a replica (READONLY,
 * after a failover) also fails the link, which reconnects through the Sentinels. */
int link_refused(const redisReply *r);

/* The callback of a command whose answer is not needed: link_refused on it. */
void link_reply(redisAsyncContext *ac, void *reply, void *priv);

/* The watchdog, every tick (now: clock_ms): gives up a connect, or a command
 * connection with a PING unanswered, after LINK_TIMEOUT_MS; sends the next PING. */
void link_tick(long long now);

/* Closes both connections for good, calling no hook (the process is stopping), after
 * writing what is queued on the command connection (at most 1 s). */
void link_close(void);

#endif
