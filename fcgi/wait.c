/* wait: the subscribe-then-read order that makes waiting race-free, history paging,
 * and the poll() loop over the Redis subscription and the FastCGI connection. An
 * event published between the SUBSCRIBE and the history read arrives twice and is
 * dropped the second time by comparing ids with the cursor. */
#include "wait.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "log.h"
#include "redis.h"
#include "store.h"
#include "xalloc.h"

#define WAIT_SUB_TIMEOUT_MS 2000

volatile sig_atomic_t wait_stopping;

struct waiter {
    const struct config *cfg;
    redisContext *cmd, *sub;
    char *const *channels;
    size_t n;
    int client_fd;
    struct cursor cursor;   /* last handed out, or the starting point */
    struct cursor last;     /* the newest id when history was read */
    int truncated;
    redisReply *page;       /* the history page being handed out */
    size_t next;            /* its next id/envelope pair */
    int paging;             /* the page was full: more history may follow */
    redisReply *message;    /* the pub/sub message last handed out */
    char name[WAIT_NAME_MAX]; /* in the store's waiting sets */
    const char *addr;       /* client address whose set holds name, or NULL */
    int counted;
};

long long wait_clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void wait_name(char *buf, size_t len)
{
    static atomic_ulong seq;
    char host[64] = "";

    gethostname(host, sizeof host - 1);
    snprintf(buf, len, "%.63s:%d:%lu", host, (int)getpid(), atomic_fetch_add(&seq, 1) + 1);
}

/* Reads the next history page after the cursor; since is "" to read none. */
static int wait_read(struct waiter *w, const char *since)
{
    int cap = w->cfg->poll_max_events;
    struct cursor last;

    if (w->page)
        freeReplyObject(w->page);
    w->page = store_read(w->cmd, w->cfg, w->channels, w->n, since, cap);
    if (!w->page)
        return -1;
    if (cursor_parse(w->page->element[0]->str, w->page->element[0]->len, &last) < 0)
        return -1;
    if (cursor_cmp(last, w->last) > 0)
        w->last = last;
    w->truncated |= w->page->element[1]->integer == 1;
    w->next = 2;
    w->paging = (int)(w->page->elements - 2) / 2 == cap;
    return 0;
}

struct waiter *wait_open(const struct config *cfg, redisContext *cmd, char *const *channels,
                         size_t n, const struct cursor *since, int client_fd, long long until_ms,
                         const char *name, const char *addr)
{
    struct waiter *w = xcalloc(1, sizeof *w);
    char from[CURSOR_MAX] = "";

    w->cfg = cfg;
    w->cmd = cmd;
    w->channels = channels;
    w->n = n;
    w->client_fd = client_fd;
    w->addr = addr;
    snprintf(w->name, sizeof w->name, "%s", name);
    if (!(w->sub = redis_open(cfg, WAIT_SUB_TIMEOUT_MS)) || store_subscribe(w->sub, cfg, channels, n) < 0)
        goto fail;
    if (since)
        cursor_format(*since, from);
    if (wait_read(w, from) < 0)
        goto fail;
    /* A cursor from the future (another site, a bug) would hide events up to it. */
    w->cursor = since && cursor_cmp(*since, w->last) < 0 ? *since : w->last;
    if (store_waiting(cmd, cfg, w->name, until_ms) < 0)
        goto fail;
    w->counted = 1;
    return w;
fail:
    wait_close(w);
    return NULL;
}

int wait_truncated(const struct waiter *w)
{
    return w->truncated;
}

struct cursor wait_cursor(const struct waiter *w)
{
    if (!w->paging && w->next >= w->page->elements && cursor_cmp(w->last, w->cursor) > 0)
        return w->last;
    return w->cursor;
}

/* Hands out the next history event; 1 when there was one, 0 when the history is
 * exhausted, -1 on a Redis error. */
static int wait_history(struct waiter *w, const char **env, size_t *len)
{
    char from[CURSOR_MAX];

    while (w->next >= w->page->elements) {
        if (!w->paging)
            return 0;
        cursor_format(w->cursor, from);
        if (wait_read(w, from) < 0)
            return -1;
    }
    cursor_parse(w->page->element[w->next]->str, w->page->element[w->next]->len, &w->cursor);
    *env = w->page->element[w->next + 1]->str;
    *len = w->page->element[w->next + 1]->len;
    w->next += 2;
    return 1;
}

/* Takes the next buffered pub/sub message newer than the cursor; 1 when there was
 * one, 0 when none is buffered, -1 on a protocol error. */
static int wait_buffered(struct waiter *w, const char **env, size_t *len)
{
    redisReply *r;
    struct cursor id;
    const char *type;
    size_t tlen;

    for (;;) {
        if (redisGetReplyFromReader(w->sub, (void **)&r) != REDIS_OK)
            return -1;
        if (!r)
            return 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[2]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[0]->str, "message") == 0 &&
            envelope_head(r->element[2]->str, r->element[2]->len, &id, &type, &tlen) == 0 &&
            cursor_cmp(id, wait_cursor(w)) > 0) {
            if (w->message)
                freeReplyObject(w->message);
            w->message = r;
            w->cursor = id;
            *env = r->element[2]->str;
            *len = r->element[2]->len;
            return 1;
        }
        freeReplyObject(r);
    }
}

enum wait_status wait_next(struct waiter *w, long long deadline_ms, const char **env, size_t *len)
{
    struct pollfd fds[2] = {{.fd = w->sub->fd, .events = POLLIN},
                            {.fd = w->client_fd, .events = POLLIN | POLLRDHUP}};
    int rc;

    if ((rc = wait_history(w, env, len)) != 0)
        return rc > 0 ? WAIT_EVENT : WAIT_ERROR;
    for (;;) {
        long long left = deadline_ms - wait_clock_ms();

        if ((rc = wait_buffered(w, env, len)) != 0)
            return rc > 0 ? WAIT_EVENT : WAIT_ERROR;
        if (wait_stopping)
            return WAIT_STOP;
        rc = poll(fds, w->client_fd >= 0 ? 2 : 1, left > 0 ? (int)left : 0);
        if (rc < 0 && errno != EINTR)
            return WAIT_ERROR;
        if (rc > 0 && fds[1].revents)
            return WAIT_GONE;
        if (rc > 0 && redisBufferRead(w->sub) != REDIS_OK) {
            log_warn("subscription: %s", w->sub->errstr);
            return WAIT_ERROR;
        }
        if (rc == 0)
            return WAIT_TIMEOUT;
    }
}

void wait_close(struct waiter *w)
{
    if (!w)
        return;
    if (w->counted)
        store_waiting(w->cmd, w->cfg, w->name, 0);
    if (w->addr)
        store_leave(w->cmd, w->cfg, w->addr, w->name);
    if (w->sub)
        redisFree(w->sub);
    if (w->page)
        freeReplyObject(w->page);
    if (w->message)
        freeReplyObject(w->message);
    free(w);
}
