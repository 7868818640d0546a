/* hub: external mode's event loop. Accept threads read and check requests and hand
 * those that need Redis to it, detached from libfcgi: waiting requests (each driving a
 * session, joined to the channels of one shared subscription), publishes and one-command requests
 * (/stats, /metrics, channel information).
 * One thread holds them all and talks to Redis asynchronously, so no accept thread
 * ever waits on Redis. A waiting request costs a few hundred bytes: no thread, no
 * stack, no Redis connection. */
#ifndef COMET_HUB_H
#define COMET_HUB_H

#include <fcgiapp.h>

#include "config.h"
#include "publish.h"
#include "request.h"

/* Starts the hub thread, serving WebSocket upgrades on the listening socket ws_fd too
 * (-1: none; hub_ws.h). Returns 0, or -1 after logging why. */
int hub_start(const struct config *cfg, int ws_fd);

/* Asks the hub to end every request cleanly (polls answer with their cursor, streams
 * end, publishes answer what became of them) and waits for it to finish. Safe to call
 * once, from the main thread. */
void hub_stop(void);

/* What accept threads hand over. Each detaches req's connection (req is ready for the
 * next FCGX_Accept_r; the caller must not finish it); what they are given stays the
 * caller's. cors: the CORS lines of every answer, or NULL. */

/* 1 when the hub can take one more waiting request; otherwise answers 503 with
 * Retry-After (COMET_MAX_WAITING) and returns 0. */
int hub_room(FCGX_Request *req, const struct config *cfg, const char *cors);

/* A waiting request, read and checked (its stdin drained): admitted per address when
 * COMET_MAX_WAITING_PER_ADDR is set, then served by its session. */
void hub_wait(FCGX_Request *req, const struct config *cfg, const struct request_wait *w, const char *cors);

/* A publish, read and checked: rate, queue, ?wait=1, answered as block_publish does.
 * Takes job's contents (job is left empty). */
void hub_publish(FCGX_Request *req, const struct config *cfg, struct publish_job *job, const char *cors);

/* A one-command request (/stats, /metrics, /channel, /channels): takes k. */
struct ask;
void hub_ask(FCGX_Request *req, const struct config *cfg, const char *cors, struct ask *k);

#endif
