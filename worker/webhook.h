/* webhook: the worker's webhook sender (COMET_WEBHOOK_URL): a thread of its own, with
 * its own Redis connection, that sweeps occupied channels for vacated ones and POSTs
 * the queued events, signed, retrying with backoff. Every worker runs one, active or
 * standby: each event is taken from the queue by one sender only. Never the request
 * path's business. */
#ifndef COMET_WEBHOOK_H
#define COMET_WEBHOOK_H

#include <signal.h>
#include <stddef.h>

#include "config.h"

/* The tries of one batch and the waits between them: 0 s, then 1, 2, 4, 8 s. */
#define WEBHOOK_TRIES 5
/* Events in one POST, at most. */
#define WEBHOOK_BATCH 50
/* How often the sweep looks for vacated channels. */
#define WEBHOOK_SWEEP_MS 1000

/* Starts the sender when cfg has a webhook URL; it stops once *stop is set. Returns 0
 * (also when off), or -1 after logging why it could not start. */
int webhook_start(const struct config *cfg, volatile sig_atomic_t *stop);

/* Waits for the sender to finish (it puts a batch not yet sent back in the queue). */
void webhook_join(void);

/* The signature header's value for body sent at unix second ts: "sha256=" and the hex
 * HMAC-SHA256, keyed with secret, of "TS.BODY". out holds at least WEBHOOK_SIG_MAX. Pure.
 * Not in the static build (webhook_none.c). */
#define WEBHOOK_SIG_MAX 72
void webhook_sign(const char *secret, long long ts, const char *body, size_t len, char *out);

#endif
