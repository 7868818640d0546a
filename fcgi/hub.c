/* hub: the waiting requests of external mode, their hand-over from the accept
 * threads, and feeding their sessions: history pages from the link's command
 * connection, messages from channel.c, the time from a tick, a stop. Output queues
 * per request and is written once per loop round. What is sent when is session.c's,
 * the loop loop.c's, the Redis connections link.c's. */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <unistd.h>

#include "channel.h"
#include "clock.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "record.h"
#include "reply.h"
#include "session.h"
#include "store.h"
#include "xalloc.h"

#define HUB_OUT_MAX (1 << 20) /* unsent bytes a slow client may pile up before it is dropped */
#define HUB_TICK_MS 250

struct hub_waiter {
    struct loop_watch watch;   /* the FastCGI connection */
    int id;                    /* its FastCGI request id */
    struct session *s;
    char **names;              /* channel names, in one allocation */
    struct channel_member *m;  /* its place on each channel, while joined */
    size_t n;
    int joined;                /* its channels were joined (or tried) */
    int missing;               /* channels whose SUBSCRIBE is not confirmed yet */
    int read;                  /* a history read was sent: it counts among the waiting */
    int reads;                 /* history reads in flight: their callbacks still name it */
    int ending;                /* its end records are queued: it closes once they are written */
    int closed;
    struct buf out;            /* FastCGI records not yet written */
    char name[PROC_NAME_MAX];  /* member of the store's waiting sets */
    char *addr;                /* client address whose set holds name, or NULL */
    long long until;           /* wall clock end of its place in those sets */
    int is_dirty;
    LIST_ENTRY(hub_waiter) all;   /* every open waiter */
    LIST_ENTRY(hub_waiter) dirty; /* those with output queued this round */
};

LIST_HEAD(waiter_list, hub_waiter);

static struct {
    const struct config *cfg;
    pthread_t thread;
    int running, pipe[2];
    struct loop *loop;
    struct loop_watch pipe_watch;
    struct waiter_list all, dirty;
    struct session_event ev; /* the live message being handed out */
    long long next_tick;
} hub;

static atomic_int hub_count; /* waiting requests taken, for hub_room on other threads */

static void waiter_read(struct hub_waiter *w);

/* ---- output ---- */

static void waiter_free(struct hub_waiter *w)
{
    session_free(w->s);
    buf_free(&w->out);
    free(w->names);
    free(w->m);
    free(w->addr);
    free(w);
}

static void waiter_close(struct hub_waiter *w)
{
    redisAsyncContext *cmd = link_cmd();

    for (size_t k = 0; k < w->n; k++)
        channel_leave(&w->m[k]);
    loop_del(hub.loop, &w->watch);
    close(w->watch.fd);
    if (cmd && w->read && store_waiting_async(cmd, hub.cfg, w->name, 0) < 0)
        link_fail();
    if ((cmd = link_cmd()) && w->addr && store_leave_async(cmd, hub.cfg, w->addr, w->name) < 0)
        link_fail();
    LIST_REMOVE(w, all);
    if (w->is_dirty)
        LIST_REMOVE(w, dirty);
    w->closed = 1;
    atomic_fetch_sub(&hub_count, 1);
    if (w->reads == 0)
        waiter_free(w);
}

/* Writes what is queued; closes the waiter once its end is written, its client is
 * gone, or it piled up more than HUB_OUT_MAX unread. Returns 1 when it closed it (w
 * may then be freed). */
static int waiter_flush(struct hub_waiter *w)
{
    while (w->out.len) {
        ssize_t n = write(w->watch.fd, w->out.s, w->out.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && w->out.len <= HUB_OUT_MAX) {
            loop_mod(hub.loop, &w->watch, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
            return 0;
        }
        if (n <= 0)
            break;
        buf_consume(&w->out, (size_t)n);
    }
    if (w->out.len == 0 && !w->ending)
        return 0;
    waiter_close(w);
    return 1;
}

/* Wraps what the session appended to w->out since at in records, ends the response
 * when the session is done, and queues w for this round's writes. */
static void waiter_emit(struct hub_waiter *w, size_t at, enum session_next next)
{
    record_close(&w->out, at, w->id);
    if (next == SESSION_END && !w->ending) {
        record_end(&w->out, w->id);
        w->ending = 1;
    }
    if (w->out.len && !w->is_dirty) {
        w->is_dirty = 1;
        LIST_INSERT_HEAD(&hub.dirty, w, dirty);
    }
}

/* Writes what this round queued. */
static void hub_flush(void)
{
    struct hub_waiter *w;

    while ((w = LIST_FIRST(&hub.dirty))) {
        LIST_REMOVE(w, dirty);
        w->is_dirty = 0;
        waiter_flush(w);
    }
}

/* The FastCGI connection is writable again, or the web server hung up. */
static void waiter_handle(struct loop_watch *watch, uint32_t events)
{
    struct hub_waiter *w = (struct hub_waiter *)watch;

    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        waiter_close(w); /* stdin was drained: readable means the client left */
        return;
    }
    if (events & EPOLLOUT) {
        loop_mod(hub.loop, &w->watch, EPOLLIN | EPOLLRDHUP);
        waiter_flush(w);
    }
}

/* ---- feeding sessions ---- */

static void waiter_fail(struct hub_waiter *w)
{
    size_t at = record_open(&w->out);

    waiter_emit(w, at, session_fail(w->s, &w->out));
}

/* A history page came for w (r NULL: the link is going down, which answers it). */
static void waiter_page(redisAsyncContext *ac, void *reply, void *priv)
{
    struct hub_waiter *w = priv;
    struct store_page page;
    enum session_next next;
    size_t at;

    (void)ac;
    if (--w->reads == 0 && w->closed) {
        waiter_free(w);
        return;
    }
    if (w->closed || w->ending || !reply)
        return;
    if (store_page_parse(reply, &page) < 0) {
        waiter_fail(w);
        return;
    }
    at = record_open(&w->out);
    next = session_page(w->s, &page, clock_ms(), &w->out);
    store_page_free(&page);
    waiter_emit(w, at, next);
    if (next == SESSION_READ)
        waiter_read(w);
}

/* Reads w's next history page; the first read also counts it among the waiting. */
static void waiter_read(struct hub_waiter *w)
{
    redisAsyncContext *cmd = link_cmd();
    char since[CURSOR_MAX];

    if (!cmd || (!w->read && store_waiting_async(cmd, hub.cfg, w->name, w->until) < 0)) {
        link_fail();
        return;
    }
    w->read = 1;
    session_since(w->s, since);
    if (store_read_async(cmd, hub.cfg, w->names, w->n, since, hub.cfg->poll_max_events, waiter_page, w) < 0) {
        link_fail();
        return;
    }
    w->reads++;
}

/* Joins w to its channels; its history is read once all are subscribed. */
static void waiter_join(struct hub_waiter *w)
{
    w->joined = 1;
    for (size_t k = 0; k < w->n; k++) {
        int rc = channel_join(&w->m[k], w->names[k]);
        if (rc < 0) {
            link_fail();
            return;
        }
        w->missing += rc == 0;
    }
    if (w->missing == 0)
        waiter_read(w);
}

static void hub_ready(struct channel_member *m)
{
    struct hub_waiter *w = m->owner;

    if (--w->missing == 0 && !w->ending)
        waiter_read(w);
}

/* A live message on channel c: each of its waiters' sessions gets it. */
static void hub_message(struct channel *c, const char *env, size_t len)
{
    long long now = clock_ms();
    struct channel_member **m;
    size_t n;

    if (session_event_set(&hub.ev, env, len) < 0)
        return;
    m = channel_members(c, &n);
    for (size_t i = 0; i < n; i++) {
        struct hub_waiter *w = m[i]->owner;
        size_t at;
        if (w->ending || m[i]->pending)
            continue;
        at = record_open(&w->out);
        waiter_emit(w, at, session_message(w->s, &hub.ev, now, &w->out));
    }
}

static void hub_up(void)
{
    struct hub_waiter *w;

    LIST_FOREACH(w, &hub.all, all)
        if (!w->joined && !w->ending)
            waiter_join(w);
}

/* Redis failed: every session fails (503, or its stream ends); the channels go. */
static void hub_down(void)
{
    struct hub_waiter *w;

    channel_reset();
    LIST_FOREACH(w, &hub.all, all)
        waiter_fail(w);
}

static void hub_tick(long long now)
{
    struct hub_waiter *w;

    link_tick(now);
    channel_tick(now);
    LIST_FOREACH(w, &hub.all, all)
        if (!w->ending && now >= session_wake_ms(w->s)) {
            size_t at = record_open(&w->out);
            waiter_emit(w, at, session_tick(w->s, now, &w->out));
        }
}

/* ---- hand-over and life ---- */

/* A waiting request arrives from an accept thread. */
static void waiter_adopt(struct hub_waiter *w)
{
    fcntl(w->watch.fd, F_SETFL, fcntl(w->watch.fd, F_GETFL) | O_NONBLOCK);
    LIST_INSERT_HEAD(&hub.all, w, all);
    loop_add(hub.loop, &w->watch, EPOLLIN | EPOLLRDHUP);
    if (link_state() == LINK_UP)
        waiter_join(w);
    else
        link_connect(); /* joins on hub_up, fails on hub_down */
}

static void hub_pipe(struct loop_watch *watch, uint32_t events)
{
    struct hub_waiter *jobs[64];
    ssize_t n;

    (void)watch, (void)events;
    while ((n = read(hub.pipe[0], jobs, sizeof jobs)) > 0)
        for (ssize_t i = 0; i < n / (ssize_t)sizeof jobs[0]; i++)
            if (jobs[i])
                waiter_adopt(jobs[i]);
}

/* Ends every waiter for a stop: polls answer with their cursor, streams end, and what
 * remains unsent gets a second to go out. */
static void hub_drain(void)
{
    struct hub_waiter *w;

    LIST_FOREACH(w, &hub.all, all)
        if (!w->ending) {
            size_t at = record_open(&w->out);
            waiter_emit(w, at, session_stop(w->s, &w->out));
        }
    while ((w = LIST_FIRST(&hub.all))) {
        poll(&(struct pollfd){.fd = w->watch.fd, .events = POLLOUT}, 1, 1000);
        if (!waiter_flush(w))
            waiter_close(w);
    }
}

static void *hub_main(void *arg)
{
    (void)arg;
    while (!proc_stopping) {
        long long now = clock_ms();
        loop_once(hub.loop, (int)(hub.next_tick > now ? hub.next_tick - now : 0));
        now = clock_ms();
        if (now >= hub.next_tick) {
            hub_tick(now);
            hub.next_tick = now + HUB_TICK_MS;
        }
        hub_flush();
    }
    hub_flush();
    hub_drain();
    link_close();
    return NULL;
}

int hub_start(const struct config *cfg)
{
    static const struct link_hooks link_hooks = {hub_up, hub_down};
    static const struct channel_hooks channel_hooks = {hub_ready, hub_message};

    hub.cfg = cfg;
    LIST_INIT(&hub.all);
    LIST_INIT(&hub.dirty);
    if (!(hub.loop = loop_new()) || pipe2(hub.pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("hub: %s", strerror(errno));
        return -1;
    }
    hub.pipe_watch = (struct loop_watch){hub.pipe[0], hub_pipe};
    loop_add(hub.loop, &hub.pipe_watch, EPOLLIN);
    link_init(cfg, hub.loop, &link_hooks);
    channel_init(cfg, &channel_hooks);
    link_connect();
    if (pthread_create(&hub.thread, NULL, hub_main, NULL) != 0) {
        log_error("hub: cannot start its thread");
        return -1;
    }
    hub.running = 1;
    return 0;
}

int hub_room(FCGX_Request *req, const struct config *cfg, const char *cors)
{
    if (atomic_load(&hub_count) < cfg->max_waiting)
        return 1;
    reply_error(req->out, cors, 503, "Retry-After: 5\r\n", "this server holds its most waiting requests");
    return 0;
}

/* Copies the channel names of w into one allocation. */
static char **waiter_names(const struct request_wait *w)
{
    size_t size = 0;
    char **names, *p;

    for (size_t i = 0; i < w->q.nchannels; i++)
        size += strlen(w->q.channels[i]) + 1;
    names = xmalloc(w->q.nchannels * sizeof *names + size);
    p = (char *)(names + w->q.nchannels);
    for (size_t i = 0; i < w->q.nchannels; i++) {
        names[i] = strcpy(p, w->q.channels[i]);
        p += strlen(p) + 1;
    }
    return names;
}

void hub_take(FCGX_Request *req, const struct config *cfg, const struct request_wait *rw, const char *cors)
{
    struct hub_waiter *w = xcalloc(1, sizeof *w);
    struct session_start st;

    request_session(rw, cors, &st);
    w->s = session_new(cfg, &st);
    w->watch = (struct loop_watch){req->ipcFd, waiter_handle};
    w->id = req->requestId;
    w->n = rw->q.nchannels;
    w->names = waiter_names(rw);
    w->m = xcalloc(w->n, sizeof *w->m);
    for (size_t k = 0; k < w->n; k++)
        w->m[k].owner = w;
    snprintf(w->name, sizeof w->name, "%s", rw->name);
    w->addr = rw->addr ? xstrdup(rw->addr) : NULL;
    w->until = rw->until;
    FCGX_Free(req, 0); /* the streams go; the connection stays, now the hub's */
    req->ipcFd = -1;
    atomic_fetch_add(&hub_count, 1);
    if (write(hub.pipe[1], &w, sizeof w) != sizeof w)
        log_error("hub: lost a request: %s", strerror(errno));
}

void hub_stop(void)
{
    static struct hub_waiter *const none = NULL;

    if (!hub.running)
        return;
    if (write(hub.pipe[1], &none, sizeof none) < 0)
        log_warn("hub: %s", strerror(errno));
    pthread_join(hub.thread, NULL);
    hub.running = 0;
}
