/* loop: epoll and the batch of events being dispatched. What a handler does is its
 * owner's; this file only guarantees that a removed watch is not called again. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

#define LOOP_BATCH 256

struct loop {
    int ep;
    struct epoll_event batch[LOOP_BATCH];
    int n, at; /* events in the batch, and the one being dispatched */
};

struct loop *loop_new(void)
{
    struct loop *l = xcalloc(1, sizeof *l);

    if ((l->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        log_error("epoll: %s", strerror(errno));
        free(l);
        return NULL;
    }
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    close(l->ep);
    free(l);
}

static int loop_ctl(struct loop *l, int op, struct loop_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};

    if (epoll_ctl(l->ep, op, w->fd, &ev) == 0)
        return 0;
    log_warn("epoll_ctl: %s", strerror(errno));
    return -1;
}

int loop_add(struct loop *l, struct loop_watch *w, uint32_t events)
{
    return loop_ctl(l, EPOLL_CTL_ADD, w, events);
}

int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events)
{
    return loop_ctl(l, EPOLL_CTL_MOD, w, events);
}

void loop_del(struct loop *l, struct loop_watch *w)
{
    epoll_ctl(l->ep, EPOLL_CTL_DEL, w->fd, NULL);
    for (int i = l->at + 1; i < l->n; i++)
        if (l->batch[i].data.ptr == w)
            l->batch[i].data.ptr = NULL;
}

int loop_once(struct loop *l, int timeout_ms)
{
    int n = epoll_wait(l->ep, l->batch, LOOP_BATCH, timeout_ms);

    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (l->n = n, l->at = 0; l->at < n; l->at++) {
        struct loop_watch *w = l->batch[l->at].data.ptr;
        if (w)
            w->handle(w, l->batch[l->at].events);
    }
    l->n = l->at = 0;
    return n;
}
