/* store: the Redis data model, the one place that knows key names, scripts and
 * commands (store.c: publishing and stats; store_worker.c: the worker; store_wait.c:
 * waiting requests, blocking and asynchronous).
 * Under the configured prefix P:
 *   P inbox        stream of queued publishes, consumer group "workers"
 *   P last         the last event id assigned
 *   P h:CHANNEL    stream of a channel's retained events, entry id = event id
 *   P c:CHANNEL    pub/sub channel carrying each new envelope
 *   P reply:TOKEN  list where the worker confirms a ?wait=1 publish
 *   P idem:KEY     hash of an Idempotency-Key: body fingerprint, event count, ids
 *   P wa:ADDR      zset of one client address's waiting requests by deadline
 *   P lease        the active worker's token; P worker: its heartbeat hash
 *   P stats        counters; P waiting: zset of waiting requests by deadline */
#ifndef COMET_STORE_H
#define COMET_STORE_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "cursor.h"

#define STORE_KEY_MAX 256

/* Writes P + kind + name into out; the prefix and name lengths are bounded by config
 * and envelope, so it always fits. */
void store_key(const struct config *cfg, const char *kind, const char *name, char *out);

/* Queues n events (channel and envelope tail each) as one inbox entry; reply_key,
 * when not NULL, is where the worker will push the ids. Returns 0, or -1 on a Redis
 * error (c may be dead). */
int store_enqueue(redisContext *c, const struct config *cfg, size_t n, char *const *channels,
                  char *const *tails, const char *reply_key);

enum store_once_status { STORE_ONCE_NEW, STORE_ONCE_REPLAY, STORE_ONCE_CONFLICT };

struct store_once {
    enum store_once_status status;
    long long n; /* events of the publish the key first came with */
    char *ids;   /* its ids as a JSON array once the worker stored it, else NULL; caller frees */
};

/* store_enqueue under an Idempotency-Key (idem, already validated): in one atomic
 * script, queues the entry and remembers the key for COMET_IDEMPOTENCY_TTL with the
 * SHA-1 of print (what identifies the request), unless the key is known: then queues
 * nothing and reports a replay (same print) or a conflict. Fills out; returns 0, or -1
 * on a Redis error (c may be dead). */
int store_enqueue_once(redisContext *c, const struct config *cfg, const char *idem, const char *print,
                       size_t n, char *const *channels, char *const *tails, const char *reply_key,
                       struct store_once *out);

/* The ids the worker recorded for an Idempotency-Key: *ids is a new string (caller
 * frees) or NULL when not stored yet. Returns 0, or -1 on a Redis error. */
int store_once_ids(redisContext *c, const struct config *cfg, const char *idem, char **ids);

/* A page of retained history, as the read script answers it. */
struct store_event {
    struct cursor id;
    const char *env; /* the envelope, borrowed from the reply */
    size_t len;
};
struct store_page {
    struct cursor last; /* the newest id assigned when the page was read */
    int truncated;      /* events after the cursor read from may have been trimmed away */
    size_t n;           /* events after that cursor, in id order, at most the cap read with */
    struct store_event *events;
};

/* Waits up to seconds for the worker to push the ids of a ?wait=1 publish to
 * reply_key. Returns 1 with *ids a new JSON array string (caller frees), 0 when none
 * came in time, -1 on a Redis error (c is then dead). */
int store_await_ids(redisContext *c, const char *reply_key, int seconds, char **ids);

/* Reads retained events of channels after since ("" for none: only the last id; "0-0"
 * from the oldest), at most cap. Returns the reply (caller frees), for
 * store_page_parse; NULL on error (c may be dead). */
redisReply *store_read(redisContext *c, const struct config *cfg, char *const *channels,
                       size_t n, const char *since, int cap);

/* store_read for the event loop: fn gets the reply (NULL when the connection failed). */
int store_read_async(redisAsyncContext *ac, const struct config *cfg, char *const *channels, size_t n,
                     const char *since, int cap, redisCallbackFn *fn, void *priv);

/* Reads a read reply r into p: p->events is new (store_page_free), its strings are
 * r's. Returns 0, or -1 (logged) when r is NULL or not such a reply. */
int store_page_parse(const redisReply *r, struct store_page *p);
void store_page_free(struct store_page *p);

/* SUBSCRIBEs c to the pub/sub channels of n channels and reads the confirmations.
 * Returns 0 or -1 (c is then dead). */
int store_subscribe(redisContext *c, const struct config *cfg, char *const *channels, size_t n);

/* The event loop's shared subscription: SUBSCRIBE to one channel's pub/sub channel,
 * fn getting its confirmation, its messages and its UNSUBSCRIBE's confirmation (as
 * hiredis routes them), and NULL when the connection is gone; UNSUBSCRIBE. Both return
 * 0, or -1 when ac takes no more commands. */
int store_subscribe_async(redisAsyncContext *ac, const struct config *cfg, const char *channel,
                          redisCallbackFn *fn, void *priv);
int store_unsubscribe_async(redisAsyncContext *ac, const struct config *cfg, const char *channel);

/* Creates the inbox and its consumer group unless they exist. Returns 0 or -1. */
int store_group(redisContext *c, const struct config *cfg);

/* Worker: takes inbox entries. store_claim moves every pending entry (left by any
 * consumer) to consumer; store_take waits up to block_ms for new ones. Both return
 * the reply (caller frees) whose entries are [id, [field, value, ...]], or NULL. */
redisReply *store_claim(redisContext *c, const struct config *cfg, const char *consumer);
redisReply *store_take(redisContext *c, const struct config *cfg, const char *consumer,
                       int block_ms);
/* The entries array inside a store_claim or store_take reply (NULL when empty). */
const redisReply *store_entries(const redisReply *r);

/* Stores inbox entries through the atomic store script, pipelined: store_write_append
 * queues the script for one entry on c (returns 0, or -1 for a malformed entry or a
 * failed script load, nothing queued), and each store_write_reply then reads one
 * answer, in order: 1 when stored, 0 when stored before, -1 on error, with *lost set
 * when the lease was lost. After an error, c must be dropped: answers may be unread. */
int store_write_append(redisContext *c, const struct config *cfg, const char *token,
                       const redisReply *entry);
int store_write_reply(redisContext *c, int *lost);

/* The worker lease: takes it when free or keeps it when this token holds it, and
 * beats the heartbeat. Returns 1 when held, 0 when another worker holds it, -1 on
 * error. store_lease_release gives it up if still held. */
int store_lease_hold(redisContext *c, const struct config *cfg, const char *token);
void store_lease_release(redisContext *c, const struct config *cfg, const char *token);

/* Registers a waiting request until deadline_ms (wall clock), or removes it when
 * deadline_ms is 0. Returns 0 or -1. The _async form queues it, its answer ignored. */
int store_waiting(redisContext *c, const struct config *cfg, const char *member, long long deadline_ms);
int store_waiting_async(redisAsyncContext *ac, const struct config *cfg, const char *member,
                        long long deadline_ms);

/* Admits one more waiting request (member, counted until deadline_ms, wall clock)
 * from client address addr, unless addr already has COMET_MAX_WAITING_PER_ADDR whose
 * deadline has not passed, across all nodes. Returns 0 when admitted, else the
 * milliseconds until the earliest of them ends at the latest; -1 on a Redis error.
 * store_leave takes an admitted member out again (0 or -1); the _async form queues it. */
long long store_admit(redisContext *c, const struct config *cfg, const char *addr, const char *member,
                      long long deadline_ms);
int store_leave(redisContext *c, const struct config *cfg, const char *addr, const char *member);
int store_leave_async(redisAsyncContext *ac, const struct config *cfg, const char *addr, const char *member);

/* Counts one more request from who in the current minute. Returns the count so far
 * this minute (including this one), or -1 on error. */
long long store_rate(redisContext *c, const struct config *cfg, const char *who);

/* Returns a new JSON object for /stats, or NULL on error. */
json_t *store_stats(redisContext *c, const struct config *cfg);

#endif
