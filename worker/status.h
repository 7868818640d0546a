/* status: the worker's status samples on the status channel (ENVELOPE_STATUS), one a
 * second while a status page watches, none otherwise. */
#ifndef COMET_STATUS_H
#define COMET_STATUS_H

#include <hiredis/hiredis.h>

#include "config.h"
#include "store.h"

struct status;

/* A new sampler, watching nobody yet; status_free frees it (NULL is fine). */
struct status *status_new(void);
void status_free(struct status *s);

/* Counts a stored inbox entry's events by channel (borrowed, not kept), while the status
 * channel is watched; does nothing otherwise. */
void status_count(struct status *s, const redisReply *entry);

/* Called by the active worker's loop at least once a second: once STATUS_PERIOD_MS
 * has passed since the last look, learns whether the status channel is watched and, if
 * so, queues a sample {"time" (wall ms), "interval_ms" (what the counts cover), "stats"
 * (the /stats object), "busiest" [{"channel", "events"}, ...] (at most 10, the status
 * channel left out), "untracked" (events of channels beyond the tracked ones)} as an
 * inbox entry of event type ENVELOPE_STATUS. Returns 0, or -1 on a Redis error (drop c). */
int status_tick(struct status *s, redisContext *c, const struct config *cfg);

#endif
