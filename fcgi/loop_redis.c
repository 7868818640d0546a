/* loop_redis: hiredis' event hooks mapped onto one watch per connection. */
#include "loop_redis.h"

#include <sys/epoll.h>

static void loop_redis_arm(struct loop_redis *lr, uint32_t events)
{
    if (events == lr->events || !lr->ac)
        return;
    if (!lr->events)
        loop_add(lr->loop, &lr->watch, events);
    else if (!events)
        loop_del(lr->loop, &lr->watch);
    else
        loop_mod(lr->loop, &lr->watch, events);
    lr->events = events;
}

/* hiredis' four hooks: one event on or off. */
static void loop_redis_set(void *p, uint32_t event, int on)
{
    struct loop_redis *lr = p;

    loop_redis_arm(lr, on ? lr->events | event : lr->events & ~event);
}

static void add_read(void *p) { loop_redis_set(p, EPOLLIN, 1); }
static void del_read(void *p) { loop_redis_set(p, EPOLLIN, 0); }
static void add_write(void *p) { loop_redis_set(p, EPOLLOUT, 1); }
static void del_write(void *p) { loop_redis_set(p, EPOLLOUT, 0); }

static void cleanup(void *p)
{
    struct loop_redis *lr = p;

    loop_redis_arm(lr, 0);
    lr->ac = NULL;
    if (lr->gone)
        lr->gone(lr);
}

/* A hang-up or an error is read, so that hiredis sees it and gives up the connection. */
static void loop_redis_handle(struct loop_watch *w, uint32_t events)
{
    struct loop_redis *lr = (struct loop_redis *)w;

    if (lr->ac && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        redisAsyncHandleRead(lr->ac);
    if (lr->ac && (events & EPOLLOUT))
        redisAsyncHandleWrite(lr->ac);
}

int loop_redis_attach(struct loop_redis *lr, struct loop *l, redisAsyncContext *ac)
{
    if (ac->ev.data)
        return -1;
    lr->watch.fd = ac->c.fd;
    lr->watch.handle = loop_redis_handle;
    lr->loop = l;
    lr->ac = ac;
    lr->events = 0;
    ac->ev.data = lr;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
