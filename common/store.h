/* store: the Redis data model, the one place that knows key names and scripts.
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

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stddef.h>

#include "config.h"

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

/* Reads retained events of channels after since ("" for none, "0-0" from the oldest).
 * Returns the reply (caller frees): element 0 the last id, 1 truncated (0/1), then
 * id and envelope pairs in order, at most cap. NULL on error. */
redisReply *store_read(redisContext *c, const struct config *cfg, char *const *channels,
                       size_t n, const char *since, int cap);

/* store_read for a non-blocking, pipelined c: appends the call to c's output buffer
 * (the caller writes it and reads the reply). Returns 0 or -1. */
int store_read_append(redisContext *c, const struct config *cfg, char *const *channels, size_t n,
                      const char *since, int cap);

/* 1 when r has the shape of a read script reply (see store_read). */
int store_read_valid(const redisReply *r);

/* SUBSCRIBEs c to the pub/sub channels of n channels and reads the confirmations.
 * Returns 0 or -1 (c is then dead). */
int store_subscribe(redisContext *c, const struct config *cfg, char *const *channels, size_t n);

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

/* Registers a waiting request until deadline_ms, or removes it when deadline_ms is 0. */
int store_waiting(redisContext *c, const struct config *cfg, const char *member,
                  long long deadline_ms);

/* The key of client address addr's waiting set (for pipelined callers). */
void store_addr_key(const struct config *cfg, const char *addr, char *out);

/* Admits one more waiting request (member, counted until deadline_ms, wall clock)
 * from client address addr, unless addr already has COMET_MAX_WAITING_PER_ADDR whose
 * deadline has not passed, across all nodes. Returns 0 when admitted, else the
 * milliseconds until the earliest of them ends at the latest; -1 on a Redis error.
 * store_leave takes an admitted member out again (0 or -1). */
long long store_admit(redisContext *c, const struct config *cfg, const char *addr, const char *member,
                      long long deadline_ms);
int store_leave(redisContext *c, const struct config *cfg, const char *addr, const char *member);

/* Counts one more request from who in the current minute. Returns the count so far
 * this minute (including this one), or -1 on error. */
long long store_rate(redisContext *c, const struct config *cfg, const char *who);

/* Returns a new JSON object for /stats, or NULL on error. */
json_t *store_stats(redisContext *c, const struct config *cfg);

/* Wall-clock milliseconds. */
long long store_now_ms(void);

#endif
