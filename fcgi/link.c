/* link: connecting, logging in, and one failure for two connections. What is sent on
 * them is channel.c's and hub.c's business. */
#include "link.h"

#include <poll.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "loop_redis.h"
#include "redis.h"
#include "store.h"

static struct {
    const struct config *cfg;
    struct loop *loop;
    const struct link_hooks *hooks;
    enum link_state state;
    struct loop_redis conn[2]; /* the subscription, the command connection */
    int connected;             /* how many said they are connected */
    long long since;           /* when connecting started, or the PING in flight was sent */
    int pinging;               /* a PING is in flight on the command connection */
} link;

enum { SUB, CMD };

static void link_gone(struct loop_redis *lr)
{
    (void)lr;
    if (link.state == LINK_DOWN)
        return; /* the second of the two, or link_close */
    link.state = LINK_DOWN;
    for (int i = 0; i < 2; i++)
        if (link.conn[i].ac)
            redisAsyncFree(link.conn[i].ac);
    link.hooks->down();
}

static void link_connected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        log_warn("cannot connect to redis: %s", ac->errstr);
        return; /* hiredis frees ac next: link_gone */
    }
    if (++link.connected == 2 && link.state == LINK_CONNECTING) {
        link.state = LINK_UP;
        log_info("connected to redis");
        link.hooks->up();
    }
}

static void link_disconnected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK)
        log_warn("redis: %s", ac->errstr ? ac->errstr : "connection lost");
}

/* A login command answered: an error (a wrong password, a missing database) makes the
 * link useless. */
static void link_logged_in(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *r = reply;

    (void)ac, (void)priv;
    if (r && r->type == REDIS_REPLY_ERROR) {
        log_error("redis login: %s", r->str);
        link_fail();
    }
}

/* Through the Sentinels, the server must still be the master: right after a failover
 * the old one may answer as a replica. */
static void link_role(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac, (void)priv;
    if (reply && !redis_is_master(reply)) {
        log_warn("redis: the server the Sentinels named is not a master (yet)");
        link_fail();
    }
}

/* Opens connection i to w; returns 0 or -1. */
static int link_open(int i, const struct redis_where *w)
{
    const struct config *cfg = link.cfg;
    redisAsyncContext *ac = w->port ? redisAsyncConnect(w->host, w->port) : redisAsyncConnectUnix(w->host);
    struct redis_login l;

    if (!ac || ac->err) {
        log_warn("cannot connect to redis: %s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        return -1;
    }
    link.conn[i].gone = link_gone;
    if (loop_redis_attach(&link.conn[i], link.loop, ac) < 0) {
        redisAsyncFree(ac);
        return -1;
    }
    redisAsyncSetConnectCallback(ac, link_connected);
    redisAsyncSetDisconnectCallback(ac, link_disconnected);
    redis_login(cfg, &l);
    for (int k = 0; k < l.n; k++)
        redisAsyncCommandArgv(ac, link_logged_in, NULL, l.argc[k], l.argv[k], NULL);
    if (w->sentinel)
        redisAsyncCommand(ac, link_role, NULL, "ROLE");
    if (i == CMD)
        store_scripts_async(ac);
    return 0;
}

void link_init(const struct config *cfg, struct loop *l, const struct link_hooks *hooks)
{
    link.cfg = cfg;
    link.loop = l;
    link.hooks = hooks;
}

enum link_state link_state(void)
{
    return link.state;
}

void link_connect(void)
{
    struct redis_where w;

    if (link.state != LINK_DOWN)
        return;
    link.state = LINK_CONNECTING;
    link.connected = 0;
    link.pinging = 0;
    link.since = clock_ms();
    /* Asking the Sentinels blocks the loop for at most REDIS_SENTINEL_MS each, and only
     * while the link is down anyway. */
    if (redis_where(link.cfg, &w) < 0 || link_open(SUB, &w) < 0 || link_open(CMD, &w) < 0)
        link_fail();
}

int link_refused(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ERROR)
        return 0;
    log_warn("redis: %s", r->str);
    /* A master demoted to a replica (a failover): connect again, through the Sentinels.
     * Scripts flushed (SCRIPT FLUSH): a new connection loads them again (store_scripts_async). */
    if (strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "NOSCRIPT", 8) == 0)
        link_fail();
    return 1;
}

void link_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac, (void)priv;
    link_refused(reply);
}

redisAsyncContext *link_sub(void)
{
    return link.state == LINK_UP ? link.conn[SUB].ac : NULL;
}

redisAsyncContext *link_cmd(void)
{
    return link.state == LINK_UP ? link.conn[CMD].ac : NULL;
}

void link_fail(void)
{
    if (link.state == LINK_DOWN)
        return;
    if (link.conn[SUB].ac || link.conn[CMD].ac) {
        /* Freeing one calls link_gone, which frees the other and tells the hub. */
        redisAsyncFree(link.conn[link.conn[SUB].ac ? SUB : CMD].ac);
        return;
    }
    link.state = LINK_DOWN; /* neither opened */
    link.hooks->down();
}

/* The watchdog's PING answered (NULL: the link is going anyway). */
static void link_pong(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac, (void)reply, (void)priv;
    link.pinging = 0;
}

void link_tick(long long now)
{
    if (link.state == LINK_CONNECTING && now - link.since >= LINK_TIMEOUT_MS) {
        log_warn("cannot connect to redis: no answer in %d ms", LINK_TIMEOUT_MS);
        link_fail();
    } else if (link.state == LINK_UP && link.pinging && now - link.since >= LINK_TIMEOUT_MS) {
        /* Commands are answered in order: a PING unanswered means everything sent
         * before it is too. Their callbacks get NULL: their outcome is unknown. */
        log_warn("redis: no answer in %d ms", LINK_TIMEOUT_MS);
        link_fail();
    } else if (link.state == LINK_UP && !link.pinging) {
        if (redisAsyncCommand(link.conn[CMD].ac, link_pong, NULL, "PING") != REDIS_OK) {
            link_fail();
            return;
        }
        link.pinging = 1;
        link.since = now;
    }
}

/* Writes what is still queued on ac, for at most ms: the waiting sets' cleanup of a
 * stop, which would otherwise hold the places until their deadlines. */
static void link_drain(redisAsyncContext *ac, int ms)
{
    long long end = clock_ms() + ms;
    int done = 0;

    while (redisBufferWrite(&ac->c, &done) == REDIS_OK && !done && clock_ms() < end)
        poll(&(struct pollfd){.fd = ac->c.fd, .events = POLLOUT}, 1, (int)(end - clock_ms()));
}

void link_close(void)
{
    if (link.state == LINK_UP)
        link_drain(link.conn[CMD].ac, 1000);
    link.state = LINK_DOWN;
    for (int i = 0; i < 2; i++)
        if (link.conn[i].ac)
            redisAsyncFree(link.conn[i].ac);
}
