/* outcome: what a publish answers, as bytes, the same in both process models. Every
 * answer says what happened to the publish: queued (202), stored (200 with its ids),
 * queued but not confirmed in time (202 with "confirmed":false), nothing happened (503:
 * Redis refused it or could not be reached; 422, 429), or not known (504 with
 * "outcome":"unknown": Redis took the publish and stopped answering). replayed marks
 * the answer to a retry with a known Idempotency-Key. */
#ifndef COMET_OUTCOME_H
#define COMET_OUTCOME_H

#include "buf.h"

/* absent: no worker held the lease when it was queued: the answer says so
 * (Comet-Worker: absent, "worker":"absent"), since nothing stores it until one runs. */
void outcome_queued(struct buf *out, const char *cors, long long n, int replayed, int absent);
void outcome_stored(struct buf *out, const char *cors, const char *ids, int replayed); /* ids: a JSON array */
void outcome_unconfirmed(struct buf *out, const char *cors, long long n, int replayed, int absent);

/* 504: the publish went to Redis and no answer came, so it may or may not be queued;
 * or (queued 1) it was queued and Redis stopped answering before the worker confirmed
 * it, so whether it is stored is unknown. n: its events. */
void outcome_unknown(struct buf *out, const char *cors, long long n, int queued);

/* 504: queued on the master, but fewer replicas than COMET_REDIS_WAIT_REPLICAS have it
 * (replicas did); a failover now could lose it. */
void outcome_unreplicated(struct buf *out, const char *cors, long long n, long long replicas);

void outcome_conflict(struct buf *out, const char *cors);
void outcome_rate_limited(struct buf *out, const char *cors, int per_minute, long long now_ms);

#endif
