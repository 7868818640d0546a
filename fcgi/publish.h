/* publish: reading POST /publish, from the key check to a job ready to queue. */
#ifndef COMET_PUBLISH_H
#define COMET_PUBLISH_H

#include <fcgiapp.h>
#include <stddef.h>

#include "config.h"
#include "store.h"

/* An Idempotency-Key: 1 to 128 bytes of this charset (UUIDs, base64, ULIDs). */
#define PUBLISH_IDEM_MAX 128
#define PUBLISH_IDEM_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:+/="

/* The events of one valid publish body, one per channel per item, in order. */
struct publish_batch {
    size_t n;
    char **channels; /* owned */
    char **tails;    /* owned envelope tails, see envelope_tail */
};

/* 1 when no array or object in body[0..len) nests deeper than max, the outermost
 * counting as 1. Counted before parsing, on the raw bytes (brackets inside strings
 * skipped), so a deep body costs neither the parser's recursion nor its allocations. */
int publish_depth_ok(const char *body, size_t len, int max);

/* Validates body[0..len) against the contract and the limits in cfg. Returns 0 and
 * fills out, or -1 with a message for a 400 in err (out is then empty). Either way
 * the batch must be freed with publish_batch_free. */
int publish_parse(const char *body, size_t len, const struct config *cfg,
                  struct publish_batch *out, char *err, size_t errlen);
void publish_batch_free(struct publish_batch *b);

/* A publish, read and checked, to be queued. */
struct publish_job {
    struct publish_batch batch;
    int wait;          /* ?wait=1: answer once the worker stored it */
    char *idem;        /* the Idempotency-Key, or NULL */
    char *print;       /* with idem: what identifies the request (publisher and body) */
    char *rate_who;    /* keyless: the client address counted against COMET_PUBLIC_RATE; else NULL */
    const char *who;   /* for the log: the key's name, "a token" or "a public client" (static) */
};

/* Reads POST /publish into job: method, credentials, Idempotency-Key, body, its
 * validation and the publisher's channels. Returns 0, or -1 after answering 400, 401,
 * 403, 405, 411, 413 or 415 (every answer carries the CORS lines cors, NULL for none).
 * job must be freed with publish_job_free either way. */
int publish_read(FCGX_Request *req, const struct config *cfg, const char *cors, struct publish_job *job);
void publish_job_free(struct publish_job *job);

/* The store's view of job (pointers into job), confirmed at reply_key with ?wait=1. */
void publish_store(const struct publish_job *job, const char *reply_key, struct store_publish *p);

/* Notes a publish queued while no worker held the lease (absent 1): logs one warning
 * per minute per process at most, never one per request. Thread-safe. */
void publish_note_worker(int absent);

#endif
