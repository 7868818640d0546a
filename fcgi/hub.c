/* hub: the event loop of external mode. Owns every detached waiting request, the
 * shared Redis subscription (one SUBSCRIBE per channel however many wait on it) and a
 * pipelined command connection for history reads. The order that makes waiting
 * race-free is wait.c's, done asynchronously: a waiter's history is read only once all
 * of its channels are confirmed subscribed, and messages that arrive while the read is
 * in flight are held and merged by id. Framing is frame.c's, records record.c's. */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "envelope.h"
#include "frame.h"
#include "log.h"
#include "record.h"
#include "reply.h"
#include "request.h"
#include "store.h"
#include "wait.h"
#include "xalloc.h"

#define HUB_OUT_MAX (1 << 20) /* unsent bytes a slow client may pile up before it is dropped */
#define HUB_IDLE_MS 10000     /* a channel nobody waits on stays subscribed this long */
#define HUB_TICK_MS 250
#define HUB_TABLE 4096

enum io_type { IO_PIPE, IO_REDIS, IO_WAITER };
enum wstate { W_SUBSCRIBING, W_READING, W_LIVE, W_CLOSED };

struct io {
    enum io_type type;
};

struct channel {
    char *name;
    struct waiter **w;
    size_t n, cap;
    int want;            /* should be subscribed */
    int inflight;        /* SUBSCRIBE/UNSUBSCRIBE sent, not yet confirmed */
    long long idle_since;
    struct channel *next; /* hash chain */
};

struct waiter {
    struct io io;
    int fd, id, kind;
    char *cb, *cors;
    char **names;         /* channel names, until attached */
    struct channel **ch;
    size_t *slot;         /* index in ch[k]->w */
    size_t nch;
    int missing;          /* channel subscriptions not yet confirmed */
    enum wstate state;
    int reads;            /* history reads in flight */
    int has_since, truncated, headed, ending;
    int expiring;         /* the deadline is when the credentials expire */
    struct cursor cursor;
    long long deadline, beat;
    struct frame out;     /* records not yet written */
    char **held;          /* messages that came while the history was read */
    size_t nheld;
    char name[WAIT_NAME_MAX]; /* member of the store's waiting sets */
    char *addr;           /* client address whose set holds name (admitted), or NULL */
    int dirty;            /* has output queued that hub_flush will write */
    struct waiter *prev, *next, *next_dirty;
};

struct conn {
    struct io io;
    redisContext *c;
    int out; /* EPOLLOUT armed */
};

static struct {
    const struct config *cfg;
    pthread_t thread;
    int ep, pipe[2], running;
    struct conn sub, cmd;
    struct waiter **queue; /* owners of the cmd replies to come, in order; NULL: ignore */
    size_t qhead, qlen, qcap;
    struct channel *table[HUB_TABLE];
    struct waiter *all;
    struct waiter *grave; /* closed this round; freed after it, as epoll may still name them */
    struct waiter *dirty; /* streams with output queued this round */
    long long retry_at, next_tick;
    int backoff;
    struct frame scratch, body;
    struct frame event;   /* the last live event as framed for ev_kind, padding included */
    int ev_kind;          /* -2: none (an iframe's callback makes each framing its own) */
    struct cursor ev_id;
} hub;

static atomic_int hub_count;

static void hub_fail(void);
static void waiter_read(struct waiter *w);
static void waiter_close(struct waiter *w);

/* ---- channels ---- */

static struct channel **channel_slot(const char *name)
{
    unsigned h = 2166136261u;
    struct channel **p;

    for (const char *s = name; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    for (p = &hub.table[h % HUB_TABLE]; *p && strcmp((*p)->name, name); p = &(*p)->next)
        ;
    return p;
}

static void channel_free(struct channel *c)
{
    *channel_slot(c->name) = c->next;
    free(c->name);
    free(c->w);
    free(c);
}

/* ---- connections ---- */

/* Arms or disarms EPOLLOUT for a connection or waiter fd. */
static void hub_watch(int fd, void *tag, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.ptr = tag};

    epoll_ctl(hub.ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Writes what hiredis has buffered; arms EPOLLOUT for the rest. Returns 0 or -1. */
static int conn_flush(struct conn *k)
{
    int done = 0;

    if (redisBufferWrite(k->c, &done) != REDIS_OK) {
        log_warn("redis: %s", k->c->errstr);
        return -1;
    }
    if (k->out != !done)
        hub_watch(k->c->fd, k, k->out = !done);
    return 0;
}

static int conn_open(struct conn *k)
{
    const struct config *cfg = hub.cfg;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = k};

    k->io.type = IO_REDIS;
    k->c = cfg->redis_socket[0] ? redisConnectUnixNonBlock(cfg->redis_socket)
                                : redisConnectNonBlock(cfg->redis_host, cfg->redis_port);
    if (!k->c || k->c->err) {
        log_warn("cannot connect to redis: %s", k->c ? k->c->errstr : "out of memory");
        return -1;
    }
    k->out = 1;
    epoll_ctl(hub.ep, EPOLL_CTL_ADD, k->c->fd, &ev);
    return 0;
}

/* Appends AUTH and SELECT as configured; returns how many replies they will give. */
static int conn_login(struct conn *k)
{
    const struct config *cfg = hub.cfg;
    char db[16];
    int n = 0;

    if (cfg->redis_password[0]) {
        if (cfg->redis_user[0])
            redisAppendCommand(k->c, "AUTH %s %s", cfg->redis_user, cfg->redis_password);
        else
            redisAppendCommand(k->c, "AUTH %s", cfg->redis_password);
        n++;
    }
    if (cfg->redis_db) {
        snprintf(db, sizeof db, "%d", cfg->redis_db);
        redisAppendCommand(k->c, "SELECT %s", db);
        n++;
    }
    return n;
}

/* Expects one more reply on the command connection, for w (NULL: to be ignored). */
static void queue_push(struct waiter *w)
{
    if (hub.qlen == hub.qcap) {
        struct waiter **q = xmalloc((hub.qcap ? hub.qcap * 2 : 64) * sizeof *q);
        for (size_t i = 0; i < hub.qlen; i++)
            q[i] = hub.queue[(hub.qhead + i) % hub.qcap];
        free(hub.queue);
        hub.queue = q;
        hub.qhead = 0;
        hub.qcap = hub.qcap ? hub.qcap * 2 : 64;
    }
    hub.queue[(hub.qhead + hub.qlen++) % hub.qcap] = w;
    if (w)
        w->reads++;
}

static int hub_connect(void)
{
    if (conn_open(&hub.sub) < 0 || conn_open(&hub.cmd) < 0)
        return -1;
    conn_login(&hub.sub); /* their replies are not arrays: sub_reply skips them */
    for (int n = conn_login(&hub.cmd); n > 0; n--)
        queue_push(NULL);
    log_info("connected to redis");
    return 0;
}

static void conn_close(struct conn *k)
{
    if (k->c) {
        epoll_ctl(hub.ep, EPOLL_CTL_DEL, k->c->fd, NULL);
        redisFree(k->c);
    }
    k->c = NULL;
}

/* ---- waiters: output ---- */

static int is_poll(const struct waiter *w)
{
    return w->kind == REQUEST_POLL;
}

/* Writes what is queued; closes the waiter once its end is written or the client is
 * gone. Returns 0 while the waiter lives. */
static int waiter_flush(struct waiter *w)
{
    while (w->out.len) {
        ssize_t n = write(w->fd, w->out.s, w->out.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (w->out.len > HUB_OUT_MAX)
                break;
            hub_watch(w->fd, w, 1);
            return 0;
        }
        if (n <= 0)
            break;
        memmove(w->out.s, w->out.s + n, w->out.len - (size_t)n);
        w->out.len -= (size_t)n;
    }
    if (w->out.len == 0 && !w->ending)
        return 0;
    waiter_close(w);
    return -1;
}

/* Queues data as STDOUT records, with the head first if not yet sent. Writes nothing:
 * waiter_flush does, and may close the waiter. */
static void waiter_queue(struct waiter *w, int status, const char *type, const char *extra,
                         const char *data, size_t len)
{
    char head[2048];

    if (!w->headed) {
        w->headed = 1;
        record_stdout(&w->out, w->id, head,
                      (size_t)reply_format(head, sizeof head, status, type, status == 200 && !is_poll(w),
                                           w->cors, extra));
    }
    record_stdout(&w->out, w->id, data, len);
}

/* Ends the response: the end records, then close once written. */
static void waiter_end(struct waiter *w)
{
    record_end(&w->out, w->id);
    w->ending = 1;
    waiter_flush(w);
}

static void waiter_unavailable(struct waiter *w)
{
    static const char body[] = "{\"error\":\"the event store (Redis) is unreachable; retry shortly\"}\n";

    if (w->ending || w->state == W_CLOSED)
        return;
    if (!w->headed)
        waiter_queue(w, 503, "application/json", "Retry-After: 1\r\n", body, sizeof body - 1);
    waiter_end(w);
}

/* Answers a poll with the events in hub.body (a poll answer's inside, see frame_poll_*). */
static void waiter_answer(struct waiter *w, struct frame *json)
{
    frame_poll_end(json, w->cursor, w->truncated);
    if (w->cb) {
        frame_reset(&hub.scratch);
        frame_jsonp(&hub.scratch, w->cb, json->s, json->len);
        waiter_queue(w, 200, "application/javascript; charset=utf-8", NULL, hub.scratch.s, hub.scratch.len);
    } else {
        frame_append(json, "\n", 1);
        waiter_queue(w, 200, "application/json", NULL, json->s, json->len);
    }
    waiter_end(w);
}

/* Queues f on stream w. Written by hub_flush once this round's input is handled, so
 * that the events of one Redis read reach a client in one write, not one each. */
static void waiter_send(struct waiter *w, const struct frame *f)
{
    waiter_queue(w, 200, frame_content_type((enum frame_kind)w->kind), NULL, f->s, f->len);
    if (!w->dirty) {
        w->dirty = 1;
        w->next_dirty = hub.dirty;
        hub.dirty = w;
    }
}

/* Pads what is in hub.scratch and queues it on stream w. */
static void waiter_stream(struct waiter *w)
{
    if (hub.cfg->sse_padding)
        frame_padding(&hub.scratch, (enum frame_kind)w->kind, (size_t)hub.cfg->sse_padding);
    waiter_send(w, &hub.scratch);
}

/* Writes what this round queued on streams. Runs before hub_bury: a waiter closed
 * meanwhile is still allocated, and skipped. */
static void hub_flush(void)
{
    while (hub.dirty) {
        struct waiter *w = hub.dirty;
        hub.dirty = w->next_dirty;
        w->dirty = 0;
        if (w->state != W_CLOSED)
            waiter_flush(w);
    }
}

/* Queues a stream's last frame when its credentials expire. */
static void waiter_expired(struct waiter *w)
{
    frame_reset(&hub.scratch);
    frame_expired(&hub.scratch, (enum frame_kind)w->kind, w->cb);
    waiter_stream(w);
}

/* ---- waiters: life ---- */

static void waiter_free(struct waiter *w)
{
    for (size_t i = 0; i < w->nheld; i++)
        free(w->held[i]);
    free(w->held);
    frame_free(&w->out);
    free(w->names);
    free(w->ch);
    free(w->slot);
    free(w->cb);
    free(w->cors);
    free(w->addr);
    free(w);
}

static void waiter_detach(struct waiter *w)
{
    for (size_t k = 0; k < w->nch && w->ch; k++) {
        struct channel *c = w->ch[k];
        struct waiter *moved = c->w[--c->n];
        c->w[w->slot[k]] = moved;
        for (size_t j = 0; j < moved->nch; j++)
            if (moved->ch[j] == c)
                moved->slot[j] = w->slot[k];
        if (c->n == 0)
            c->idle_since = wait_clock_ms();
    }
    w->nch = 0;
}

static void waiter_close(struct waiter *w)
{
    char key[STORE_KEY_MAX];

    if (w->state == W_CLOSED)
        return;
    waiter_detach(w);
    if (w->prev)
        w->prev->next = w->next;
    else
        hub.all = w->next;
    if (w->next)
        w->next->prev = w->prev;
    epoll_ctl(hub.ep, EPOLL_CTL_DEL, w->fd, NULL);
    close(w->fd);
    if (hub.cmd.c) {
        store_key(hub.cfg, "waiting", "", key);
        redisAppendCommandArgv(hub.cmd.c, 3, (const char *[]){"ZREM", key, w->name}, NULL);
        queue_push(NULL);
        if (w->addr) {
            store_addr_key(hub.cfg, w->addr, key);
            redisAppendCommandArgv(hub.cmd.c, 3, (const char *[]){"ZREM", key, w->name}, NULL);
            queue_push(NULL);
        }
        if (conn_flush(&hub.cmd) < 0)
            hub.retry_at = -1; /* noticed by the loop: not from inside a waiter's close */
    }
    w->state = W_CLOSED;
    atomic_fetch_sub(&hub_count, 1);
    if (w->reads == 0) {
        w->next = hub.grave;
        hub.grave = w;
    }
}

/* Attaches a new waiter to its channels, subscribing those nobody had. */
static void waiter_attach(struct waiter *w)
{
    char key[STORE_KEY_MAX];

    w->ch = xcalloc(w->nch, sizeof *w->ch);
    w->slot = xcalloc(w->nch, sizeof *w->slot);
    for (size_t k = 0; k < w->nch; k++) {
        struct channel **p = channel_slot(w->names[k]), *c = *p;
        if (!c) {
            c = *p = xcalloc(1, sizeof *c);
            c->name = xstrdup(w->names[k]);
        }
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 4;
            c->w = xrealloc(c->w, c->cap * sizeof *c->w);
        }
        w->slot[k] = c->n;
        c->w[c->n++] = w;
        w->ch[k] = c;
        if (!c->want) {
            c->want = 1;
            c->inflight++;
            store_key(hub.cfg, "c:", c->name, key);
            redisAppendCommandArgv(hub.sub.c, 2, (const char *[]){"SUBSCRIBE", key}, NULL);
        }
        if (c->inflight)
            w->missing++;
    }
}

/* A waiting request arrives from an accept thread. */
static void waiter_adopt(struct waiter *w)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = w};
    long long now = wait_clock_ms();

    fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
    w->next = hub.all;
    if (hub.all)
        hub.all->prev = w;
    hub.all = w;
    epoll_ctl(hub.ep, EPOLL_CTL_ADD, w->fd, &ev);
    if (!hub.sub.c && hub.retry_at <= now && hub_connect() < 0)
        hub_fail();
    if (!hub.sub.c) {
        waiter_unavailable(w);
        return;
    }
    waiter_attach(w);
    if (conn_flush(&hub.sub) < 0) {
        hub_fail();
        return;
    }
    if (w->missing == 0)
        waiter_read(w);
}

/* ---- history ---- */

static void waiter_read(struct waiter *w)
{
    char since[CURSOR_MAX] = "", key[STORE_KEY_MAX], score[24];

    if (w->state == W_SUBSCRIBING) {
        store_key(hub.cfg, "waiting", "", key);
        snprintf(score, sizeof score, "%lld", store_now_ms() + (w->deadline - wait_clock_ms()) + 5000);
        redisAppendCommandArgv(hub.cmd.c, 4, (const char *[]){"ZADD", key, score, w->name}, NULL);
        queue_push(NULL);
    }
    w->state = W_READING;
    if (w->has_since)
        cursor_format(w->cursor, since);
    store_read_append(hub.cmd.c, hub.cfg, w->names, w->nch, since, hub.cfg->poll_max_events);
    queue_push(w);
    if (conn_flush(&hub.cmd) < 0)
        hub_fail();
}

/* Hands w one event newer than its cursor: a stream writes it, a poll answers with it. */
static void waiter_event(struct waiter *w, struct cursor id, const char *env, size_t len)
{
    if (cursor_cmp(id, w->cursor) <= 0)
        return;
    w->cursor = id;
    if (is_poll(w)) {
        frame_reset(&hub.body);
        frame_poll_begin(&hub.body);
        frame_poll_add(&hub.body, 0, env, len);
        waiter_answer(w, &hub.body);
        return;
    }
    /* Thousands of streams of one kind get the same bytes: frame them once. */
    if (w->cb || hub.ev_kind != w->kind || cursor_cmp(hub.ev_id, id) != 0) {
        frame_reset(&hub.event);
        hub.ev_kind = -2;
        if (frame_event(&hub.event, (enum frame_kind)w->kind, w->cb, env, len) < 0)
            return;
        if (hub.cfg->sse_padding)
            frame_padding(&hub.event, (enum frame_kind)w->kind, (size_t)hub.cfg->sse_padding);
        if (!w->cb)
            hub.ev_kind = w->kind;
        hub.ev_id = id;
    }
    waiter_send(w, &hub.event);
}

/* The read script answered for w. */
static void waiter_history(struct waiter *w, redisReply *r)
{
    int cap = hub.cfg->poll_max_events, n = 0;
    enum frame_kind kind = (enum frame_kind)w->kind;
    struct cursor last, id;
    int full;

    if (!r || !store_read_valid(r) || cursor_parse(r->element[0]->str, r->element[0]->len, &last) < 0) {
        waiter_unavailable(w);
        return;
    }
    w->truncated |= r->element[1]->integer == 1;
    full = (int)(r->elements - 2) / 2 == cap;
    if (cursor_cmp(w->cursor, last) > 0) /* a cursor from the future would hide events */
        w->cursor = last;
    frame_reset(&hub.scratch);
    frame_reset(&hub.body);
    frame_poll_begin(&hub.body);
    if (!is_poll(w) && !w->headed) {
        frame_prelude(&hub.scratch, kind, hub.cfg->sse_retry);
        if (w->truncated)
            frame_truncated(&hub.scratch, kind, w->cb);
    }
    for (size_t i = 2; i < r->elements; i += 2) {
        if (cursor_parse(r->element[i]->str, r->element[i]->len, &id) < 0 || cursor_cmp(id, w->cursor) <= 0)
            continue;
        w->cursor = id;
        if (is_poll(w))
            frame_poll_add(&hub.body, n++, r->element[i + 1]->str, r->element[i + 1]->len);
        else
            frame_event(&hub.scratch, kind, w->cb, r->element[i + 1]->str, r->element[i + 1]->len);
    }
    if (!full) {
        /* Everything retained is handed out: the cursor may move to the newest id, and
         * held messages newer than it are the next events. */
        if (cursor_cmp(last, w->cursor) > 0)
            w->cursor = last;
        for (size_t i = 0; i < w->nheld; i++) {
            const char *type;
            size_t tlen, len = strlen(w->held[i]);
            if (envelope_head(w->held[i], len, &id, &type, &tlen) < 0 || cursor_cmp(id, w->cursor) <= 0 ||
                n == cap)
                continue;
            w->cursor = id;
            if (is_poll(w))
                frame_poll_add(&hub.body, n++, w->held[i], len);
            else
                frame_event(&hub.scratch, kind, w->cb, w->held[i], len);
        }
        for (size_t i = 0; i < w->nheld; i++)
            free(w->held[i]);
        w->nheld = 0;
    }
    w->has_since = 1;
    if (is_poll(w)) {
        if (n || w->truncated) {
            waiter_answer(w, &hub.body);
            return;
        }
    } else {
        if (!full)
            frame_open(&hub.scratch, kind, w->cb, w->cursor);
        waiter_stream(w);
    }
    if (full) {
        waiter_read(w);
        return;
    }
    w->state = W_LIVE;
    w->beat = wait_clock_ms() + hub.cfg->sse_heartbeat * 1000LL;
}

/* ---- Redis input ---- */

/* A reply on the shared subscription: a confirmation or a message. */
static void sub_reply(redisReply *r)
{
    char prefix[STORE_KEY_MAX];
    const char *kind, *key;
    struct channel *c;
    size_t plen;

    if (r->type == REDIS_REPLY_ERROR) {
        log_error("subscription: %s", r->str);
        hub.retry_at = -1; /* fail once this read is done */
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    kind = r->element[0]->str;
    key = r->element[1]->str;
    store_key(hub.cfg, "c:", "", prefix);
    plen = strlen(prefix);
    if (strncmp(key, prefix, plen) != 0 || !(c = *channel_slot(key + plen)))
        return;
    if (strcmp(kind, "message") == 0) {
        struct cursor id;
        const char *type, *env = r->element[2]->str;
        size_t tlen, len = r->element[2]->len;
        if (!c->want || envelope_head(env, len, &id, &type, &tlen) < 0)
            return;
        /* Downward: closing a poll waiter moves the last one into its place. */
        for (size_t i = c->n; i-- > 0;) {
            struct waiter *w = c->w[i];
            if (w->state == W_LIVE) {
                waiter_event(w, id, env, len);
            } else if (w->state == W_READING) {
                w->held = xrealloc(w->held, (w->nheld + 1) * sizeof *w->held);
                w->held[w->nheld++] = xstrdup(env);
            }
        }
        return;
    }
    if (--c->inflight > 0)
        return;
    if (!c->want) {
        if (c->n == 0)
            channel_free(c);
        return;
    }
    for (size_t i = c->n; i-- > 0;)
        if (c->w[i]->state == W_SUBSCRIBING && --c->w[i]->missing == 0)
            waiter_read(c->w[i]);
}

static int conn_read(struct conn *k, void (*each)(redisReply *))
{
    redisReply *r;

    if (redisBufferRead(k->c) != REDIS_OK) {
        log_warn("redis: %s", k->c->errstr[0] ? k->c->errstr : "connection closed");
        return -1;
    }
    for (;;) {
        if (redisGetReplyFromReader(k->c, (void **)&r) != REDIS_OK)
            return -1;
        if (!r)
            return 0;
        each(r);
        freeReplyObject(r);
        if (!k->c)
            return -1; /* each() failed the hub */
    }
}

static void cmd_reply(redisReply *r)
{
    struct waiter *w;

    if (hub.qlen == 0)
        return;
    w = hub.queue[hub.qhead];
    hub.qhead = (hub.qhead + 1) % hub.qcap;
    hub.qlen--;
    if (!w) {
        if (r->type == REDIS_REPLY_ERROR)
            log_warn("redis: %s", r->str);
        return;
    }
    if (--w->reads == 0 && w->state == W_CLOSED) {
        w->next = hub.grave;
        hub.grave = w;
        return;
    }
    if (w->state == W_READING)
        waiter_history(w, r);
}

/* Redis failed: every waiter is answered (503, or its stream ends), the subscription
 * is forgotten, and reconnecting waits a backoff. */
static void hub_fail(void)
{
    long long now = wait_clock_ms();

    conn_close(&hub.sub);
    conn_close(&hub.cmd);
    while (hub.qlen) {
        struct waiter *w = hub.queue[hub.qhead];
        hub.qhead = (hub.qhead + 1) % hub.qcap;
        hub.qlen--;
        if (w && --w->reads == 0 && w->state == W_CLOSED) {
            w->next = hub.grave;
            hub.grave = w;
        }
    }
    for (struct waiter *w = hub.all, *next; w; w = next) {
        next = w->next;
        waiter_unavailable(w);
    }
    /* Those still here only finish writing: they need no channel. */
    for (struct waiter *w = hub.all; w; w = w->next)
        waiter_detach(w);
    for (size_t i = 0; i < HUB_TABLE; i++)
        while (hub.table[i])
            channel_free(hub.table[i]);
    hub.backoff = hub.backoff ? (hub.backoff * 2 > 5000 ? 5000 : hub.backoff * 2) : 100;
    hub.retry_at = now + hub.backoff;
}

/* ---- time ---- */

static void hub_tick(long long now)
{
    char key[STORE_KEY_MAX];

    for (struct waiter *w = hub.all, *next; w; w = next) {
        next = w->next;
        if (w->state != W_LIVE)
            continue;
        if (now >= w->deadline) {
            if (is_poll(w)) {
                frame_reset(&hub.body);
                frame_poll_begin(&hub.body);
                waiter_answer(w, &hub.body);
            } else {
                if (w->expiring)
                    waiter_expired(w);
                waiter_end(w);
            }
        } else if (!is_poll(w) && now >= w->beat) {
            w->beat = now + hub.cfg->sse_heartbeat * 1000LL;
            frame_reset(&hub.scratch);
            frame_ping(&hub.scratch, (enum frame_kind)w->kind);
            waiter_stream(w);
        }
    }
    for (size_t i = 0; i < HUB_TABLE && hub.sub.c; i++)
        for (struct channel *c = hub.table[i]; c; c = c->next)
            if (c->n == 0 && c->want && !c->inflight && now - c->idle_since > HUB_IDLE_MS) {
                c->want = 0;
                c->inflight++;
                store_key(hub.cfg, "c:", c->name, key);
                redisAppendCommandArgv(hub.sub.c, 2, (const char *[]){"UNSUBSCRIBE", key}, NULL);
            }
    if (hub.sub.c && conn_flush(&hub.sub) < 0)
        hub_fail();
    if (hub.sub.c && hub.backoff && now > hub.retry_at + 10000)
        hub.backoff = 0;
}

/* Ends every waiter for a stop: polls answer with their cursor, streams end, and what
 * remains unsent gets a second to go out. */
static void hub_drain(void)
{
    for (struct waiter *w = hub.all, *next; w; w = next) {
        next = w->next;
        if (is_poll(w) && (w->state == W_LIVE || w->has_since)) {
            frame_reset(&hub.body);
            frame_poll_begin(&hub.body);
            waiter_answer(w, &hub.body);
        } else if (w->headed) {
            waiter_end(w);
        } else {
            waiter_unavailable(w);
        }
    }
    for (struct waiter *w = hub.all, *next; w; w = next) {
        next = w->next;
        poll(&(struct pollfd){.fd = w->fd, .events = POLLOUT}, 1, 1000);
        waiter_flush(w);
        if (w->state != W_CLOSED)
            waiter_close(w);
    }
}

/* ---- the loop ---- */

static void hub_event(struct epoll_event *ev)
{
    struct io *io = ev->data.ptr;
    struct waiter *jobs[64];
    ssize_t n;

    if (io->type == IO_PIPE) {
        while ((n = read(hub.pipe[0], jobs, sizeof jobs)) > 0)
            for (ssize_t i = 0; i < n / (ssize_t)sizeof jobs[0]; i++)
                if (jobs[i])
                    waiter_adopt(jobs[i]);
    } else if (io->type == IO_REDIS) {
        struct conn *k = (struct conn *)io;
        /* k->c is NULL when a reply's handling already failed the hub. */
        if ((ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
            conn_read(k, k == &hub.sub ? sub_reply : cmd_reply) < 0 && k->c)
            hub_fail();
        else if (k->c && (ev->events & EPOLLOUT) && conn_flush(k) < 0)
            hub_fail();
    } else {
        struct waiter *w = (struct waiter *)io;
        if (ev->events & EPOLLOUT)
            if (waiter_flush(w) < 0)
                return;
        if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            waiter_close(w); /* the web server hung up: the client left */
        else if (w->out.len == 0)
            hub_watch(w->fd, w, 0);
    }
}

/* Frees the waiters closed this round. */
static void hub_bury(void)
{
    while (hub.grave) {
        struct waiter *w = hub.grave;
        hub.grave = w->next;
        waiter_free(w);
    }
}

static void *hub_main(void *arg)
{
    struct epoll_event evs[256];

    (void)arg;
    while (!wait_stopping) {
        long long now = wait_clock_ms();
        int n = epoll_wait(hub.ep, evs, 256, (int)(hub.next_tick > now ? hub.next_tick - now : 0));

        for (int i = 0; i < n; i++) {
            /* A waiter closed by an earlier event in this batch is skipped by its state. */
            struct io *io = evs[i].data.ptr;
            if (io->type == IO_WAITER && ((struct waiter *)io)->state == W_CLOSED)
                continue;
            if (io->type == IO_REDIS && !((struct conn *)io)->c)
                continue;
            hub_event(&evs[i]);
        }
        now = wait_clock_ms();
        if (now >= hub.next_tick) {
            hub_tick(now);
            hub.next_tick = now + HUB_TICK_MS;
        }
        hub_flush();
        hub_bury();
        if (hub.retry_at < 0)
            hub_fail();
    }
    hub_flush();
    hub_drain();
    hub_bury();
    return NULL;
}

int hub_start(const struct config *cfg)
{
    struct epoll_event ev = {.events = EPOLLIN};
    static struct io pipe_io = {IO_PIPE};

    hub.cfg = cfg;
    hub.ev_kind = -2;
    if ((hub.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || pipe2(hub.pipe, O_CLOEXEC) < 0) {
        log_error("hub: %s", strerror(errno));
        return -1;
    }
    fcntl(hub.pipe[0], F_SETFL, O_NONBLOCK);
    ev.data.ptr = &pipe_io;
    epoll_ctl(hub.ep, EPOLL_CTL_ADD, hub.pipe[0], &ev);
    if (hub_connect() < 0)
        hub_fail();
    if (pthread_create(&hub.thread, NULL, hub_main, NULL) != 0) {
        log_error("hub: cannot start its thread");
        return -1;
    }
    hub.running = 1;
    return 0;
}

int hub_take(FCGX_Request *req, const struct config *cfg, int kind, const char *cors)
{
    struct query q;
    struct waiter *w;
    size_t size = 0;
    char *p, name[WAIT_NAME_MAX];
    struct request_span span;

    if (request_waiting(req, cfg, kind, &q, &span) < 0) {
        query_free(&q);
        return 0;
    }
    if (atomic_load(&hub_count) >= cfg->max_waiting) {
        reply_error(req->out, 503, "Retry-After: 5\r\n", "this server holds its most waiting requests");
        query_free(&q);
        return 0;
    }
    wait_name(name, sizeof name);
    /* On the accept thread's connection: the answer is needed before the hand-over. */
    if (request_admit(req, cfg, name, span.seconds) < 0) {
        query_free(&q);
        return 0;
    }
    request_drain(req);
    for (size_t i = 0; i < q.nchannels; i++)
        size += strlen(q.channels[i]) + 1;
    w = xcalloc(1, sizeof *w);
    w->io.type = IO_WAITER;
    w->fd = req->ipcFd;
    w->id = req->requestId;
    w->kind = kind;
    snprintf(w->name, sizeof w->name, "%s", name);
    if (cfg->max_waiting_addr) {
        const char *addr = FCGX_GetParam("REMOTE_ADDR", req->envp);
        w->addr = xstrdup(addr ? addr : "");
    }
    w->cb = q.callback ? xstrdup(q.callback) : NULL;
    w->cors = cors && *cors ? xstrdup(cors) : NULL;
    w->nch = q.nchannels;
    w->names = xmalloc(q.nchannels * sizeof *w->names + size);
    p = (char *)(w->names + q.nchannels);
    for (size_t i = 0; i < q.nchannels; i++) {
        w->names[i] = strcpy(p, q.channels[i]);
        p += strlen(p) + 1;
    }
    w->has_since = q.has_since;
    w->cursor = q.since;
    w->deadline = span.deadline;
    w->expiring = span.expiring;
    query_free(&q);
    FCGX_Free(req, 0); /* the streams go; the connection stays, now the hub's */
    req->ipcFd = -1;
    atomic_fetch_add(&hub_count, 1);
    if (write(hub.pipe[1], &w, sizeof w) != sizeof w)
        log_error("hub: lost a request: %s", strerror(errno));
    return 1;
}

void hub_wake(void)
{
    static struct waiter *const none = NULL;

    if (write(hub.pipe[1], &none, sizeof none) < 0)
        return;
}

void hub_stop(void)
{
    if (!hub.running)
        return;
    hub_wake();
    pthread_join(hub.thread, NULL);
    hub.running = 0;
    conn_close(&hub.sub);
    conn_close(&hub.cmd);
}
