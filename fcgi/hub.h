/* hub: the event-loop driver of sessions (external mode). Accept threads hand it
 * admitted waiting requests detached from libfcgi; one thread holds them all on the
 * loop, joined to the channels of one shared Redis subscription, each request's
 * session fed what happens and its bytes written as FastCGI records. Per waiting
 * request it keeps a few hundred bytes and no thread, no stack, no Redis connection. */
#ifndef COMET_HUB_H
#define COMET_HUB_H

#include <fcgiapp.h>

#include "config.h"
#include "request.h"

/* Starts the hub thread. Returns 0, or -1 after logging why. */
int hub_start(const struct config *cfg);

/* 1 when the hub can take one more waiting request; otherwise answers 503 with
 * Retry-After (COMET_MAX_WAITING) and returns 0. Any thread. */
int hub_room(FCGX_Request *req, const struct config *cfg, const char *cors);

/* Takes the admitted waiting request w (its stdin drained) from an accept thread: its
 * connection is detached from req, which is ready for the next FCGX_Accept_r (the
 * caller must not finish it). w stays the caller's. */
void hub_take(FCGX_Request *req, const struct config *cfg, const struct request_wait *w, const char *cors);

/* Asks the hub to end every waiting request cleanly (polls answer with their cursor,
 * streams end) and waits for it to finish. Safe to call once, from the main thread. */
void hub_stop(void);

#endif
