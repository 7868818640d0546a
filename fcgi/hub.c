/* hub: external mode's event-loop thread and the life every request it holds shares:
 * the hand-over from the accept threads, start once Redis is up, output queued as
 * FastCGI records and written once per loop round, close and free. What each kind of
 * request does is its file's (hub_wait.c, hub_publish.c, hub_ask.c); the loop is
 * loop.c's, the Redis connections link.c's. */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "channel.h"
#include "clock.h"
#include "hub_archive.h"
#include "hub_req.h"
#include "hub_ws.h"
#include "link.h"
#include "log.h"
#include "proc.h"
#include "record.h"
#include "reply.h"
#include "xalloc.h"

#define HUB_OUT_MAX (1 << 20) /* unsent bytes a slow client may pile up before it is dropped */

LIST_HEAD(req_list, hub_req);

static struct {
    pthread_t thread;
    int running, pipe[2];
    struct loop *loop;
    struct loop_watch pipe_watch;
    struct req_list all, dirty;
    long long next_tick;
} hub;

/* ---- output and life ---- */

static void hub_req_free(struct hub_req *r)
{
    buf_free(&r->out);
    free(r->cors);
    r->kind->free(r);
}

static void hub_req_close(struct hub_req *r)
{
    if (r->kind->leave)
        r->kind->leave(r);
    if (!r->sink) {
        loop_del(hub.loop, &r->watch);
        close(r->watch.fd);
    }
    LIST_REMOVE(r, all);
    if (r->is_dirty)
        LIST_REMOVE(r, dirty);
    r->closed = 1;
    if (r->holds == 0)
        hub_req_free(r);
}

/* Writes what is queued; closes r once its end is written, its client is gone, or it
 * piled up more than HUB_OUT_MAX unread. Returns 1 when it closed it (r may be freed). */
static int hub_req_flush(struct hub_req *r)
{
    if (r->sink && (r->out.len || r->ending)) {
        r->sink(r, &r->out, r->ending);
        buf_reset(&r->out);
    }
    while (!r->sink && r->out.len) {
        ssize_t n = write(r->watch.fd, r->out.s, r->out.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && r->out.len <= HUB_OUT_MAX) {
            loop_mod(hub.loop, &r->watch, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
            return 0;
        }
        if (n <= 0)
            break;
        buf_consume(&r->out, (size_t)n);
    }
    if (r->out.len == 0 && !r->ending)
        return 0;
    hub_req_close(r);
    return 1;
}

size_t hub_req_open(struct hub_req *r)
{
    return r->sink ? r->out.len : record_open(&r->out);
}

void hub_req_emit(struct hub_req *r, size_t at, int end)
{
    if (!r->sink)
        record_close(&r->out, at, r->id);
    if (end && !r->ending) {
        if (!r->sink)
            record_end(&r->out, r->id);
        r->ending = 1;
    }
    if (r->out.len && !r->is_dirty) {
        r->is_dirty = 1;
        LIST_INSERT_HEAD(&hub.dirty, r, dirty);
    }
}

void hub_req_unavailable(struct hub_req *r)
{
    size_t at = hub_req_open(r);

    reply_unavailable_to(&r->out, r->cors);
    hub_req_emit(r, at, 1);
}

void hub_req_hold(struct hub_req *r)
{
    r->holds++;
}

int hub_req_release(struct hub_req *r)
{
    int closed = r->closed;

    if (--r->holds == 0 && closed)
        hub_req_free(r);
    return closed;
}

/* Writes what this round queued. */
static void hub_flush(void)
{
    struct hub_req *r;

    while ((r = LIST_FIRST(&hub.dirty))) {
        LIST_REMOVE(r, dirty);
        r->is_dirty = 0;
        hub_req_flush(r);
    }
}

/* The FastCGI connection is writable again, or the web server hung up. */
static void hub_req_handle(struct loop_watch *watch, uint32_t events)
{
    struct hub_req *r = (struct hub_req *)watch;

    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        hub_req_close(r); /* stdin was drained: readable means the client left */
        return;
    }
    if (events & EPOLLOUT) {
        loop_mod(hub.loop, &r->watch, EPOLLIN | EPOLLRDHUP);
        hub_req_flush(r);
    }
}

/* ---- what happens to every request ---- */

static void hub_start_one(struct hub_req *r)
{
    r->started = 1;
    r->kind->start(r);
}

static void hub_up(void)
{
    struct hub_req *r;

    LIST_FOREACH(r, &hub.all, all)
        if (!r->started && !r->ending)
            hub_start_one(r);
}

/* Redis failed: every request is told (a 503 for those that never started). */
static void hub_down(void)
{
    struct hub_req *r;

    channel_reset();
    hub_publish_down();
    LIST_FOREACH(r, &hub.all, all)
        if (r->ending)
            continue;
        else if (r->started)
            r->kind->down(r);
        else
            hub_req_unavailable(r);
}

static void hub_tick(long long now)
{
    struct hub_req *r;

    link_tick(now);
    channel_tick(now);
    LIST_FOREACH(r, &hub.all, all)
        if (r->started && !r->ending && r->kind->tick)
            r->kind->tick(r, now);
    hub_ws_tick(now);
}

/* Ends every request for a stop, and gives what remains unsent a second to go out. */
static void hub_drain(void)
{
    struct hub_req *r;

    LIST_FOREACH(r, &hub.all, all)
        if (r->ending)
            continue;
        else if (r->started)
            r->kind->stop(r);
        else
            hub_req_unavailable(r);
    while ((r = LIST_FIRST(&hub.all))) {
        if (!r->sink)
            poll(&(struct pollfd){.fd = r->watch.fd, .events = POLLOUT}, 1, 1000);
        if (!hub_req_flush(r))
            hub_req_close(r);
    }
}

/* ---- hand-over and the thread ---- */

/* A request arrives from an accept thread, or from hub_req_adopt. */
static void hub_adopt(struct hub_req *r)
{
    LIST_INSERT_HEAD(&hub.all, r, all);
    if (!r->sink) {
        fcntl(r->watch.fd, F_SETFL, fcntl(r->watch.fd, F_GETFL) | O_NONBLOCK);
        loop_add(hub.loop, &r->watch, EPOLLIN | EPOLLRDHUP);
    }
    if (link_state() == LINK_UP)
        hub_start_one(r);
    else
        link_connect(); /* starts on hub_up, answers 503 on hub_down */
}

static void hub_pipe(struct loop_watch *watch, uint32_t events)
{
    struct hub_req *jobs[64];
    ssize_t n;

    (void)watch, (void)events;
    while ((n = read(hub.pipe[0], jobs, sizeof jobs)) > 0)
        for (ssize_t i = 0; i < n / (ssize_t)sizeof jobs[0]; i++)
            if (jobs[i])
                hub_adopt(jobs[i]);
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
    hub_ws_stop();
    link_close();
    return NULL;
}

int hub_start(const struct config *cfg, int ws_fd)
{
    static const struct link_hooks link_hooks = {hub_up, hub_down};

    LIST_INIT(&hub.all);
    LIST_INIT(&hub.dirty);
    if (!(hub.loop = loop_new()) || pipe2(hub.pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_error("hub: %s", strerror(errno));
        return -1;
    }
    hub.pipe_watch = (struct loop_watch){hub.pipe[0], hub_pipe};
    loop_add(hub.loop, &hub.pipe_watch, EPOLLIN);
    link_init(cfg, hub.loop, &link_hooks);
    hub_wait_init(cfg);
    hub_publish_init(cfg);
    if (hub_archive_start(cfg, hub.loop) < 0 || (ws_fd >= 0 && hub_ws_start(cfg, hub.loop, ws_fd) < 0))
        return -1;
    link_connect();
    if (pthread_create(&hub.thread, NULL, hub_main, NULL) != 0) {
        log_error("hub: cannot start its thread");
        return -1;
    }
    hub.running = 1;
    return 0;
}

void hub_req_take(struct hub_req *r, const struct hub_kind *kind, FCGX_Request *req, const struct config *cfg,
                  const char *cors)
{
    r->watch = (struct loop_watch){req->ipcFd, hub_req_handle};
    r->kind = kind;
    r->cfg = cfg;
    r->id = req->requestId;
    r->cors = cors && *cors ? xstrdup(cors) : NULL;
    FCGX_Free(req, 0); /* the streams go; the connection stays, now the hub's */
    req->ipcFd = -1;
    if (write(hub.pipe[1], &r, sizeof r) != sizeof r)
        log_error("hub: lost a request: %s", strerror(errno));
}

void hub_req_adopt(struct hub_req *r, const struct hub_kind *kind, const struct config *cfg, hub_sink *sink,
                   void *owner)
{
    r->watch = (struct loop_watch){-1, NULL};
    r->kind = kind;
    r->cfg = cfg;
    r->sink = sink;
    r->owner = owner;
    hub_adopt(r);
}

void hub_req_detach(struct hub_req *r)
{
    if (r->out.len)
        r->sink(r, &r->out, 0);
    hub_req_close(r);
}

void hub_stop(void)
{
    static struct hub_req *const none = NULL;

    if (!hub.running)
        return;
    if (write(hub.pipe[1], &none, sizeof none) < 0)
        log_warn("hub: %s", strerror(errno));
    pthread_join(hub.thread, NULL);
    hub_archive_stop();
    hub.running = 0;
}
