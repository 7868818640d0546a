/* loop: external mode's event loop, epoll over watched descriptors. Each watch carries
 * its own handler (redis' ae.h style), so the loop knows nothing of what it watches. */
#ifndef COMET_LOOP_H
#define COMET_LOOP_H

#include <stdint.h>

struct loop;

/* A descriptor and what to call when it is ready, embedded in its owner's struct. */
struct loop_watch {
    int fd;
    void (*handle)(struct loop_watch *w, uint32_t events); /* events: EPOLLIN, EPOLLOUT, … */
};

/* Returns a new loop, or NULL after logging why. */
struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watches w->fd for events (EPOLLIN, EPOLLOUT, EPOLLRDHUP), or changes what it is
 * watched for. Returns 0 or -1. */
int loop_add(struct loop *l, struct loop_watch *w, uint32_t events);
int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events);

/* Stops watching w. Its events still pending in the batch being dispatched are
 * dropped, so its owner may free it at once, even from inside a handler. */
void loop_del(struct loop *l, struct loop_watch *w);

/* Waits up to timeout_ms for events and calls their handlers. Returns how many events
 * came, or -1 when waiting failed for another reason than a signal. */
int loop_once(struct loop *l, int timeout_ms);

#endif
