/* loop_redis: hiredis' asynchronous API on the event loop, the adapter hiredis
 * leaves to each event library (as it ships for ae, libev and libevent). */
#ifndef COMET_LOOP_REDIS_H
#define COMET_LOOP_REDIS_H

#include <hiredis/async.h>

#include "loop.h"

/* Embedded in its owner, which outlives the connection it carries. */
struct loop_redis {
    struct loop_watch watch;
    struct loop *loop;
    redisAsyncContext *ac; /* NULL once hiredis let go of it */
    uint32_t events;       /* what the loop watches it for */
    void (*gone)(struct loop_redis *lr); /* called once ac is being freed, whatever the cause */
};

/* Lets ac be driven by l through lr: hiredis arms reading and writing through it,
 * and when ac is freed (an error, redisAsyncFree, a failed connect) lr->ac becomes
 * NULL and lr->gone, when set, is called, after every pending callback got its NULL
 * reply. Returns 0, or -1 (ac untouched: the caller frees it). */
int loop_redis_attach(struct loop_redis *lr, struct loop *l, redisAsyncContext *ac);

#endif
