/* hub_wait: waiting requests in the event loop, each the driver of one session:
 * admitted per address (when configured), joined to its channels (channel.c), its
 * history read on the command connection once all are subscribed (unless the
 * subscriptions already delivered its cursor's event, so nothing can follow it yet),
 * and from the SQL archive (on its reading thread, hub_archive.c) what Redis no longer
 * holds, then fed live messages, the time and a stop. What is sent when is session.c's. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "clock.h"
#include "hub.h"
#include "hub_archive.h"
#include "hub_req.h"
#include "link.h"
#include "reply.h"
#include "session.h"
#include "store.h"
#include "xalloc.h"

struct hub_waiter {
    struct hub_req req;
    struct session *s;
    char **names;             /* channel names, in one allocation */
    struct channel_member *m; /* its place on each channel, while joined */
    size_t n;
    int missing;              /* channels whose SUBSCRIBE is not confirmed yet */
    int read;                 /* a history read was sent: it counts among the waiting */
    const char *name;         /* member of the store's waiting sets (in names' allocation) */
    const char *presence, *who, *info; /* its presence (request_wait's), in names' allocation too */
    char *addr;               /* client address to admit (COMET_MAX_WAITING_PER_ADDR), or NULL */
    int admitted;             /* its address's set holds name */
    long long until;          /* wall-clock end of its place in those sets */
    struct hub_archive_job job; /* the SQL archive's read of its gap, while one is asked */
    const char *transport;    /* frame_kind_name: its label in the waiting sets */
};

/* w as the store's waiting sets count it. */
static struct store_waiter waiter_counted(const struct hub_waiter *w)
{
    return (struct store_waiter){w->name, w->transport, w->names, w->n, w->presence, w->who, w->info};
}

static struct {
    const struct config *cfg;
    struct session_event ev; /* the live message being handed out */
} wait;

static atomic_int wait_count; /* taken, for hub_room on the accept threads */

static void waiter_read(struct hub_waiter *w);
static void waiter_archive(struct hub_waiter *w);

/* Feeds the session's answer to next into the request's output. */
static void waiter_emit(struct hub_waiter *w, size_t at, enum session_next next)
{
    hub_req_emit(&w->req, at, next == SESSION_END);
}

static void waiter_fail(struct hub_req *r)
{
    struct hub_waiter *w = (struct hub_waiter *)r;
    size_t at = hub_req_open(r);

    waiter_emit(w, at, session_fail(w->s, &r->out));
}

/* Feeds w's session a page of history; reads the next one when it asks. */
static void waiter_feed(struct hub_waiter *w, const struct store_page *page)
{
    size_t at = hub_req_open(&w->req);
    enum session_next next = session_page(w->s, page, clock_ms(), &w->req.out);

    waiter_emit(w, at, next);
    if (next == SESSION_READ)
        waiter_read(w);
    else if (next == SESSION_ARCHIVE)
        waiter_archive(w);
}

/* The archive's answer for w's gap came (on the hub thread). */
static void waiter_filled(struct hub_archive_job *j)
{
    struct hub_waiter *w = (struct hub_waiter *)((char *)j - offsetof(struct hub_waiter, job));
    struct archive_page page = j->page;
    enum session_next next;
    size_t at;

    if (hub_req_release(&w->req) || w->req.ending) {
        archive_page_free(&page);
        return;
    }
    at = hub_req_open(&w->req);
    next = session_archive(w->s, &(struct session_fill){page.covered, page.n, page.events}, &w->req.out);
    archive_page_free(&page);
    waiter_emit(w, at, next);
    if (next == SESSION_READ)
        waiter_read(w);
}

/* Asks the archive's reading thread for w's gap; the request is held for the answer. */
static void waiter_archive(struct hub_waiter *w)
{
    w->job = (struct hub_archive_job){.q = {w->names, w->n, .limit = wait.cfg->poll_max_events},
                                      .done = waiter_filled};
    w->job.to_end = session_archive_range(w->s, &w->job.q.after, &w->job.q.before);
    hub_req_hold(&w->req);
    hub_archive_read(&w->job);
}

/* A history page came for w (NULL: the link failed, which hub_down answers). */
static void waiter_page(redisAsyncContext *ac, void *reply, void *priv)
{
    struct hub_waiter *w = priv;
    struct store_page page;

    (void)ac;
    if (hub_req_release(&w->req) || w->req.ending || !reply)
        return;
    if (link_refused(reply) || store_page_parse(reply, &page) < 0) {
        waiter_fail(&w->req);
        return;
    }
    waiter_feed(w, &page);
    store_page_free(&page);
}

/* Whether nothing can follow since in w's history yet: since is the newest event that
 * the subscriptions of w's channels delivered, each subscribed since before its own
 * newest (channel_seen), so every later event comes to w live. A poll resuming from the
 * event it was just answered with then waits without a read of history. */
static int waiter_caught_up(const struct hub_waiter *w, const char *since, struct cursor *at)
{
    struct cursor seen, newest = {0, 0};

    if (cursor_parse(since, strlen(since), at) < 0)
        return 0;
    for (size_t k = 0; k < w->n; k++) {
        if (channel_seen(w->m[k].channel, &seen) < 0 || cursor_cmp(seen, *at) > 0)
            return 0;
        if (cursor_cmp(seen, newest) > 0)
            newest = seen;
    }
    return cursor_cmp(newest, *at) == 0;
}

/* Sends the read of w's history after since; its page comes to waiter_page, which the
 * request is held for. Returns 0, or -1 when cmd takes no more commands. */
static int waiter_send_read(struct hub_waiter *w, redisAsyncContext *cmd, const char *since)
{
    if (store_read_async(cmd, wait.cfg, w->names, w->n, since, wait.cfg->poll_max_events, waiter_page, w) < 0)
        return -1;
    hub_req_hold(&w->req);
    return 0;
}

/* Reads w's next history page; the first read also counts it among the waiting, after
 * the read on the same connection, so it counts only once it is sure to see what is
 * published (see block_count). */
static void waiter_read(struct hub_waiter *w)
{
    redisAsyncContext *cmd = link_cmd();
    char since[CURSOR_MAX];
    struct store_page none = {0}; /* the page a caught-up waiter would read */
    struct store_waiter sw = waiter_counted(w);
    int caught_up;

    session_since(w->s, since);
    caught_up = waiter_caught_up(w, since, &none.last);
    if (!cmd || (!caught_up && waiter_send_read(w, cmd, since) < 0) ||
        (!w->read && store_waiting_async(cmd, wait.cfg, &sw, w->until, link_reply) < 0)) {
        link_fail();
        return;
    }
    w->read = 1;
    if (caught_up)
        waiter_feed(w, &none);
}

/* Joins w to its channels; its history is read once all are subscribed. */
static void waiter_join(struct hub_waiter *w)
{
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

/* The address's answer: admitted (0), full (ms until a place frees), or no answer. */
static void waiter_admitted(redisAsyncContext *ac, void *reply, void *priv)
{
    struct hub_waiter *w = priv;
    long long rc = store_admit_result(reply);
    size_t at;

    (void)ac;
    if (hub_req_release(&w->req) || w->req.ending || !reply)
        return;
    link_refused(reply);
    if (rc == 0) {
        w->admitted = 1;
        waiter_join(w);
        return;
    }
    at = hub_req_open(&w->req);
    if (rc > 0)
        reply_waiting_full_to(&w->req.out, w->req.cors, rc);
    else
        reply_unavailable_to(&w->req.out, w->req.cors);
    hub_req_emit(&w->req, at, 1);
}

static void waiter_start(struct hub_req *r)
{
    struct hub_waiter *w = (struct hub_waiter *)r;
    redisAsyncContext *cmd = link_cmd();
    struct args a = {0};

    if (!w->addr) {
        waiter_join(w);
        return;
    }
    store_admit_args(wait.cfg, w->addr, w->name, w->until, &a);
    if (!cmd || args_send(cmd, &a, waiter_admitted, w) < 0)
        link_fail();
    else
        hub_req_hold(r);
    args_free(&a);
}

static void waiter_tick(struct hub_req *r, long long now)
{
    struct hub_waiter *w = (struct hub_waiter *)r;
    size_t at;

    if (now < session_wake_ms(w->s))
        return;
    at = hub_req_open(r);
    waiter_emit(w, at, session_tick(w->s, now, &r->out));
}

static void waiter_stop(struct hub_req *r)
{
    struct hub_waiter *w = (struct hub_waiter *)r;
    size_t at = hub_req_open(r);

    waiter_emit(w, at, session_stop(w->s, &r->out));
}

/* It closes: off its channels and out of the store's waiting sets. */
static void waiter_leave(struct hub_req *r)
{
    struct hub_waiter *w = (struct hub_waiter *)r;
    redisAsyncContext *cmd = link_cmd();
    struct store_waiter sw = waiter_counted(w);

    for (size_t k = 0; k < w->n; k++)
        channel_leave(&w->m[k]);
    if (cmd && ((w->read && store_waiting_async(cmd, wait.cfg, &sw, 0, link_reply) < 0) ||
                (w->admitted && store_leave_async(cmd, wait.cfg, w->addr, w->name, link_reply) < 0)))
        link_fail();
    atomic_fetch_sub(&wait_count, 1);
}

static void waiter_free(struct hub_req *r)
{
    struct hub_waiter *w = (struct hub_waiter *)r;

    session_free(w->s);
    free(w->names);
    free(w->m);
    free(w->addr);
    free(w);
}

static const struct hub_kind waiter_kind = {waiter_start, waiter_fail, waiter_tick, waiter_stop, waiter_leave,
                                            waiter_free};

/* ---- the channels' news ---- */

static void wait_ready(struct channel_member *m)
{
    struct hub_waiter *w = m->owner;

    if (--w->missing == 0 && !w->req.ending)
        waiter_read(w);
}

/* A live message on channel c: each of its waiters' sessions gets it. */
static void wait_message(struct channel *c, const char *env, size_t len)
{
    long long now = clock_ms();
    struct channel_member **m;
    size_t n;

    if (session_event_set(&wait.ev, env, len) < 0)
        return;
    channel_saw(c, wait.ev.id);
    m = channel_members(c, &n);
    for (size_t i = 0; i < n; i++) {
        struct hub_waiter *w = m[i]->owner;
        size_t at;
        if (w->req.ending || m[i]->pending)
            continue;
        at = hub_req_open(&w->req);
        waiter_emit(w, at, session_message(w->s, &wait.ev, now, &w->req.out));
    }
}

void hub_wait_init(const struct config *cfg)
{
    static const struct channel_hooks hooks = {wait_ready, wait_message};

    wait.cfg = cfg;
    channel_init(cfg, &hooks);
}

/* ---- from the accept threads ---- */

int hub_room(FCGX_Request *req, const struct config *cfg, const char *cors)
{
    if (atomic_load(&wait_count) < cfg->max_waiting)
        return 1;
    reply_error(req->out, cors, 503, "Retry-After: 5\r\n", "this server holds its most waiting requests");
    return 0;
}

/* Copies the channel names of rw, then its member name and presence (flags, identity and
 * info, into w's), into one allocation. */
static char **waiter_names(const struct request_wait *rw, struct hub_waiter *w)
{
    const char *presence = rw->presence ? rw->presence : "";
    size_t size = strlen(rw->name) + strlen(presence) + strlen(rw->who) + strlen(rw->info) + 4;
    char **names, *p;

    for (size_t i = 0; i < rw->q.nchannels; i++)
        size += strlen(rw->q.channels[i]) + 1;
    names = xmalloc(rw->q.nchannels * sizeof *names + size);
    p = (char *)(names + rw->q.nchannels);
    for (size_t i = 0; i < rw->q.nchannels; i++) {
        names[i] = strcpy(p, rw->q.channels[i]);
        p += strlen(p) + 1;
    }
    w->name = strcpy(p, rw->name);
    w->presence = strcpy(p += strlen(p) + 1, presence);
    w->who = strcpy(p += strlen(p) + 1, rw->who);
    w->info = strcpy(p + strlen(p) + 1, rw->info);
    return names;
}

/* A new waiter for rw (its address admitted when addr is not NULL), counted. */
static struct hub_waiter *waiter_new(const struct config *cfg, const struct request_wait *rw, const char *cors,
                                     const char *addr)
{
    struct hub_waiter *w = xcalloc(1, sizeof *w);
    struct session_start st;

    request_session(rw, cors, &st);
    w->s = session_new(cfg, &st);
    w->n = rw->q.nchannels;
    w->names = waiter_names(rw, w);
    w->m = xcalloc(w->n, sizeof *w->m);
    for (size_t k = 0; k < w->n; k++)
        w->m[k].owner = w;
    w->addr = cfg->max_waiting_addr ? xstrdup(addr ? addr : "") : NULL;
    w->until = rw->until;
    w->transport = frame_kind_name(rw->kind);
    atomic_fetch_add(&wait_count, 1);
    return w;
}

void hub_wait(FCGX_Request *req, const struct config *cfg, const struct request_wait *rw, const char *cors)
{
    struct hub_waiter *w = waiter_new(cfg, rw, cors, FCGX_GetParam("REMOTE_ADDR", req->envp));

    hub_req_take(&w->req, &waiter_kind, req, cfg, cors);
}

struct hub_req *hub_wait_sink(const struct config *cfg, const struct request_wait *rw, const char *addr,
                              hub_sink *sink, void *owner)
{
    struct hub_waiter *w = waiter_new(cfg, rw, NULL, addr);

    hub_req_adopt(&w->req, &waiter_kind, cfg, sink, owner);
    return &w->req;
}

void hub_wait_since(const struct hub_req *r, char *buf)
{
    session_since(((const struct hub_waiter *)r)->s, buf);
}
