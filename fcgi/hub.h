/* hub: external mode's event loop. Accept threads hand it waiting requests (long-poll
 * and the streams) detached from libfcgi; one thread holds them all with epoll over ONE
 * Redis subscriber connection that multiplexes their channels, and wakes only the
 * waiters of the channel an event came on. Per waiting request it keeps a few hundred
 * bytes and no thread, no stack and no Redis connection. */
#ifndef COMET_HUB_H
#define COMET_HUB_H

#include <fcgiapp.h>

#include "config.h"

/* Starts the hub thread. Returns 0, or -1 after logging why. */
int hub_start(const struct config *cfg);

/* Takes a waiting request of kind (REQUEST_POLL or a frame kind) from an accept
 * thread: answers 400/405/503 itself and returns 0 when it did; returns 1 when the
 * request now belongs to the hub (the caller must not finish it: its connection was
 * detached and req is ready for the next FCGX_Accept_r). */
int hub_take(FCGX_Request *req, const struct config *cfg, int kind, const char *cors);

/* Asks the hub to end every waiting request cleanly (polls answer with their cursor,
 * streams end) and waits for it to finish. Safe to call once, from the main thread. */
void hub_stop(void);

/* Wakes the hub from a signal handler so that it notices the stop flag. */
void hub_wake(void);

#endif
