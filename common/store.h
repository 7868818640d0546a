/* store: the Redis data model, the one place that knows key names, scripts and
 * commands (store.c: publishing and stats; store_worker.c: the worker; store_wait.c:
 * waiting requests, blocking and asynchronous; store_archive.c: the archive writer's queue).
 * Under the configured prefix P:
 *   P inbox        stream of queued publishes, consumer group "workers"
 *   P last         the last event id assigned
 *   P h:CHANNEL    stream of a channel's retained events, entry id = event id (read
 *                  by store_read.lua after a cursor, by store_history.lua before one)
 *   P c:CHANNEL    pub/sub channel carrying each new envelope
 *   P reply:TOKEN  list where the worker confirms a ?wait=1 publish
 *   P idem:KEY     hash of an Idempotency-Key: body fingerprint, event count, ids
 *   P wa:ADDR      zset of one client address's waiting requests by deadline
 *   P lease        the active worker's token; P worker: its heartbeat hash
 *   P epoch        when this data set began (ms): cursors older than it may have missed
 *                  events that Redis lost
 *   P archive      stream of stored events not yet in the SQL archive (fields i: id,
 *                  c: channel, e: envelope), at most COMET_ARCHIVE_BACKLOG entries
 *   P stats        counters (published, archived, archive_dropped, accepted, accepted_events,
 *                  delivered, webhook_sent, webhook_failed, webhook_dropped)
 *   P waiting      zset of waiting requests by deadline; P wt:TRANSPORT the same per
 *                  transport; P w:CHANNEL the same per channel (subscribers now)
 *   P occupied     zset of the channels webhooks know as occupied, each scored by when
 *                  the sweep looks at it again
 *   P hooks        list of webhook events to send (JSON), at most COMET_WEBHOOK_QUEUE
 *   P p:CHANNEL    on a presence channel, zset of the identities there, each scored by when
 *                  the presence sweep looks at it again; P pa:CHANNEL the same for anonymous
 *                  ones; P pc:CHANNEL their waiting requests (identity \n member, lex);
 *                  P pi:CHANNEL hash identity -> comet.info; P presence zset of the presence
 *                  channels by their next look (store_waiting.lua, store_presence.lua) */
#ifndef COMET_STORE_H
#define COMET_STORE_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stddef.h>

#include "args.h"
#include "config.h"
#include "cursor.h"

#define STORE_KEY_MAX 256

/* Writes P + kind + name into out; the prefix and name lengths are bounded by config
 * and envelope, so it always fits. */
void store_key(const struct config *cfg, const char *kind, const char *name, char *out);

/* How long a blocking caller waits for an answer before the outcome is unknown. */
#define STORE_TIMEOUT_MS 2000

/* ---- publishing (store.c) ----
 * Each command comes as a builder of its arguments (X_args, for args_send in the event
 * loop), a reader of its reply (X_result: NULL means no answer), and a blocking form
 * doing both on a redisContext within STORE_TIMEOUT_MS. */

/* One publish, queued as one inbox entry. */
struct store_publish {
    size_t n; /* events: a channel and an envelope tail each */
    char *const *channels;
    char *const *tails;
    const char *reply_key;    /* ?wait=1: where the worker confirms (store_reply_key), or NULL */
    const char *idem, *print; /* the Idempotency-Key (validated) and what identifies the request,
                               * or NULL */
};

/* What queueing did. */
enum store_status {
    STORE_QUEUED,   /* the entry is in the inbox */
    STORE_REPLAY,   /* the Idempotency-Key came with this request before: nothing queued */
    STORE_CONFLICT, /* the Idempotency-Key came with another request: nothing queued */
    STORE_REFUSED,  /* Redis refused it, or it never went out: nothing queued */
    STORE_UNKNOWN   /* it went out and no answer came: it may be queued or not */
};
struct store_queued {
    enum store_status status;
    long long n; /* events of the publish (on a replay: of the first) */
    char *ids;   /* on a replay, the first's ids as a JSON array once stored; else NULL. Caller frees */
    int worker_absent; /* no worker held the lease when it was queued: nothing will store it yet */
};

/* The key where the worker confirms a ?wait=1 publish of process scope with token. */
void store_reply_key(const struct config *cfg, const char *scope, const char *token, char *out);

/* Queues p: one script that appends it to the inbox (with an Idempotency-Key, at most
 * once per key, remembering the request's fingerprint), counts it in the stats hash
 * (accepted, accepted_events) and reads whether a worker holds the lease. */
void store_queue_args(const struct config *cfg, const struct store_publish *p, struct args *a);
void store_queue_result(const redisReply *r, const struct store_publish *p, struct store_queued *out);
void store_queue(redisContext *c, const struct config *cfg, const struct store_publish *p, struct store_queued *out);

/* The ids the worker recorded for an Idempotency-Key: store_ids_result is a new string
 * (caller frees) or NULL when not stored yet. The blocking form returns 0, or -1 on a
 * Redis error. */
void store_once_ids_args(const struct config *cfg, const char *idem, struct args *a);
char *store_ids_result(const redisReply *r);
int store_once_ids(redisContext *c, const struct config *cfg, const char *idem, char **ids);

/* Waits up to seconds for the worker to confirm a ?wait=1 publish at reply_key (BLPOP).
 * Returns 1 with *ids a new JSON array string (caller frees), 0 when none came in time,
 * -1 on a Redis error (c is then dead). */
int store_await_ids(redisContext *c, const char *reply_key, int seconds, char **ids);

/* The event loop's ways to learn a confirmation: PSUBSCRIBE to every reply key of
 * scope (the worker also PUBLISHes the ids to the reply key, as a channel), and LPOP of
 * one reply key (store_ids_result reads it). */
void store_replies_args(const struct config *cfg, const char *scope, struct args *a);
void store_reply_pop_args(const char *reply_key, struct args *a);

/* Counts one keyless publish from who in the current minute: the count so far
 * (including this one), or -1. */
void store_rate_args(const struct config *cfg, const char *who, struct args *a);
long long store_rate_result(const redisReply *r);
long long store_rate(redisContext *c, const struct config *cfg, const char *who);

/* The transports the waiting sets count separately (P wt:NAME). */
#define STORE_TRANSPORTS 4
extern const char *const store_transports[STORE_TRANSPORTS];

/* /stats in one call: a new JSON object (with the release, "version"), or NULL. Beyond
 * the first release's fields: waiting_by (per transport), accepted, accepted_events,
 * delivered, worker.lag_ms (age of the oldest inbox entry), webhook {queued, sent,
 * failed, dropped}. /metrics renders the same object. */
void store_stats_args(const struct config *cfg, struct args *a);
json_t *store_stats_result(const redisReply *r, const struct config *cfg);
json_t *store_stats(redisContext *c, const struct config *cfg);

/* One counter of the stats hash (0 when never counted), or -1 on an error. */
long long store_stats_counter(redisContext *c, const struct config *cfg, const char *name);

/* ---- waiting requests (store_wait.c) ---- */

/* A page of retained history, as the read script answers it. */
struct store_event {
    struct cursor id;
    const char *env; /* the envelope, borrowed from the reply */
    size_t len;
};
/* Why Redis may lack events after the cursor a page was read from. */
enum store_gap {
    STORE_WHOLE = 0,   /* Redis holds every event after it */
    STORE_TRIMMED = 1, /* some were trimmed or expired: an archive may hold them all */
    STORE_LOST = 2     /* Redis lost its data set: what it had not archived is unknown */
};
struct store_page {
    struct cursor last;     /* the newest id assigned when the page was read */
    enum store_gap gap;     /* events after the cursor read from that Redis may lack */
    struct cursor cut;      /* when gap: every event Redis may lack is before this id */
    size_t n;               /* events after that cursor, in id order, at most the cap read with */
    struct store_event *events;
};

/* Reads retained events of channels after since ("" for none: only the last id; "0-0"
 * from the oldest), at most cap. Returns the reply (caller frees), for
 * store_page_parse; NULL on error (c may be dead). */
redisReply *store_read(redisContext *c, const struct config *cfg, char *const *channels,
                       size_t n, const char *since, int cap);

/* Reads the newest retained events of channels before `before` ("" for none), at most
 * cap, for /history: a reply for store_page_parse whose events are oldest first, whose
 * gap is STORE_TRIMMED when Redis may lack events older than cut (those from cut on are
 * all there are). Returns the reply (caller frees), or NULL on error (c may be dead). */
redisReply *store_history(redisContext *c, const struct config *cfg, char *const *channels, size_t n,
                          const char *before, int cap);

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

/* A waiting request as the waiting sets count it; everything borrowed. */
struct store_waiter {
    const char *member;     /* its unique name (proc_name) */
    const char *transport;  /* poll, sse, stream or iframe */
    char *const *channels;
    size_t n;
    const char *presence;   /* "1" or "0" per channel: a presence channel (COMET_PRESENCE_CHANNELS)
                             * or not; "" when none is one */
    const char *who;        /* on presence channels: "u:" + its identity or "a:" + an anonymous
                             * one; "" when none is one */
    const char *info;       /* the identity's comet.info as JSON, or "" */
};

/* Counts w in the waiting sets (all, its transport's, each of its channels') until
 * deadline_ms (wall clock), or out of them when deadline_ms is 0; with webhooks on, a
 * channel's first waiting request queues channel_occupied (store_waiting.lua). Returns
 * 0 or -1. The _async form queues it, fn (with no data) getting the answer. */
/* Loads the event loop's scripts (the read of store_read_async, the waiting one) on a new
 * command connection, queued ahead of anything else on it: the _async forms then run them by
 * their SHA-1 (EVALSHA) instead of sending them whole with every call. Only a SCRIPT FLUSH
 * can then make Redis answer NOSCRIPT; the caller must drop the connection then
 * (link_refused), and the next one loads them again; so does a load that could not be
 * queued (out of memory). */
void store_scripts_async(redisAsyncContext *ac);
int store_waiting(redisContext *c, const struct config *cfg, const struct store_waiter *w, long long deadline_ms);
int store_waiting_async(redisAsyncContext *ac, const struct config *cfg, const struct store_waiter *w,
                        long long deadline_ms, redisCallbackFn *fn);

/* Admits one more waiting request (member, counted until deadline_ms, wall clock)
 * from client address addr, unless addr already has COMET_MAX_WAITING_PER_ADDR whose
 * deadline has not passed, across all nodes. Returns 0 when admitted, else the
 * milliseconds until the earliest of them ends at the latest; -1 on a Redis error.
 * store_leave takes an admitted member out again (0 or -1); the _async form queues it
 * (fn, with no data, gets the answer). */
void store_admit_args(const struct config *cfg, const char *addr, const char *member, long long deadline_ms,
                      struct args *a);
long long store_admit_result(const redisReply *r);
long long store_admit(redisContext *c, const struct config *cfg, const char *addr, const char *member,
                      long long deadline_ms);
int store_leave(redisContext *c, const struct config *cfg, const char *addr, const char *member);
int store_leave_async(redisAsyncContext *ac, const struct config *cfg, const char *addr, const char *member,
                      redisCallbackFn *fn);

/* ---- presence (store_presence.c) ---- */

/* Lets the members whose last waiting request ended the grace ago (or whose process died
 * and whose deadline passed) leave: comet-leave events queued in the inbox, and
 * member_removed webhooks. The active worker runs it about once a second. 0 or -1. */
int store_presence_sweep(redisContext *c, const struct config *cfg);

/* Who is on channel: {"channel", "count" (every present identity, anonymous ones too),
 * "members": [{"id", "info"?}, ...] (at most `most`, in no set order), "more": bool}.
 * The result is a new object, or NULL for a reply that is not one. */
void store_presence_args(const struct config *cfg, const char *channel, int most, struct args *a);
json_t *store_presence_result(const redisReply *r, const char *channel);

/* ---- channel information (store_channel.c) ---- */

/* A page of /channels: the channels found among at most STORE_CHANNELS_SCAN keys
 * looked at, stopping once STORE_CHANNELS_PAGE are found (SCAN answers in batches of up
 * to 100 keys, so a page holds at most STORE_CHANNELS_PAGE + 99 channels). */
#define STORE_CHANNELS_PAGE 100
#define STORE_CHANNELS_SCAN 10000

/* One channel: {"channel", "subscribers" (waiting requests on it now, all nodes),
 * "retained", "last_id", "last_time" (ms; both null without history)}. The result is
 * a new object, or NULL for a reply that is not one. */
void store_channel_args(const struct config *cfg, const char *channel, struct args *a);
json_t *store_channel_result(const redisReply *r, const char *channel);

/* A page of channels whose names start with prefix, from SCAN cursor ("" or "0": the
 * start): {"channels":[one channel's object, ...], "more": bool, "cursor": "…"}; keep
 * (NULL: all) says which names the asker may see. New object, or NULL. */
void store_channels_args(const struct config *cfg, const char *prefix, const char *cursor, struct args *a);
json_t *store_channels_result(const redisReply *r, int (*keep)(const char *name, void *priv), void *priv);

/* Deletes a channel's history; the reply is the number of events removed. */
void store_channel_delete_args(const struct config *cfg, const char *channel, struct args *a);

/* ---- the worker (store_worker.c) ---- */

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
 * failed script load, nothing queued); expect is the newest id this worker stored ("":
 * none yet), which the script finds gone when Redis lost acknowledged events; confirm 0
 * leaves a ?wait=1 publish's confirmation to the caller (store_confirm, once replicas
 * have it). Each store_write_reply then reads one answer, in order: 1 when stored (last,
 * CURSOR_MAX bytes, gets its newest id; *ids, when ids is not NULL, its ids as a new
 * JSON array), 0 when stored before, -1 on error, with *lost set when the lease was
 * lost. After an error, c must be dropped: answers may be unread. */
int store_write_append(redisContext *c, const struct config *cfg, const char *token, const redisReply *entry,
                       const char *expect, int confirm);
int store_write_reply(redisContext *c, int *lost, char *last, char **ids);

/* The reply key of an inbox entry ("" for none). */
const char *store_entry_reply_key(const redisReply *entry);

/* Calls fn with each channel an inbox entry publishes to, in order (the marks left out). */
void store_entry_channels(const redisReply *entry, void (*fn)(const char *channel, void *priv), void *priv);

/* Confirms a ?wait=1 publish: its ids (a JSON array) on reply_key. Returns 0 or -1. */
int store_confirm(redisContext *c, const char *reply_key, const char *ids);

/* WAIT: how many of replicas have every write made so far on c, waiting up to
 * timeout_ms; -1 on an error. */
long long store_replicated(redisContext *c, int replicas, int timeout_ms);

/* The worker lease: takes it when free, keeps it when this token holds it, or takes it
 * from a holder whose connection is gone (dead: its client id, from store_lease_gone;
 * 0 for none), and beats the heartbeat, noting client, this worker's connection (its
 * CLIENT ID). Returns 1 when held, 0 when another worker holds it, -1 on error.
 * store_lease_release gives it up if still held. */
int store_lease_hold(redisContext *c, const struct config *cfg, const char *token, long long client, long long dead);

/* The client id of the lease holder's connection when Redis no longer has it (the
 * worker died: its kernel closed the socket), 0 while it is connected or not known, -1
 * on an I/O error. */
long long store_lease_gone(redisContext *c, const struct config *cfg);

/* This connection's CLIENT ID, 0 when Redis does not say (an ACL user without CLIENT),
 * -1 on an I/O error. */
long long store_client_id(redisContext *c);
void store_lease_release(redisContext *c, const struct config *cfg, const char *token);

/* The worker's status samples (worker/status.c). store_watched: how many waiting
 * requests read channel now (P w:CHANNEL members whose deadline is ahead), -1 on an
 * error. store_inject: queues one event, channel and its envelope tail, as an inbox
 * entry like a publish's (not counted accepted), for the worker to store as any other:
 * it gets an id, a history and its PUBLISH. 0 or -1; after -1 drop c. */
long long store_watched(redisContext *c, const struct config *cfg, const char *channel);
int store_inject(redisContext *c, const struct config *cfg, const char *channel, const char *tail);

/* ---- webhooks (store_webhook.c) ---- */

/* Vacates the occupied channels due a look whose waiting requests are all gone,
 * queueing channel_vacated for each (store_webhook.lua). 0 or -1 (c is then dead). */
int store_webhook_sweep(redisContext *c, const struct config *cfg);

/* Takes up to most queued webhook events (each a JSON object) from the queue's head:
 * the reply (caller frees; an array, or nil when none is queued), or NULL on an error. */
redisReply *store_webhook_take(redisContext *c, const struct config *cfg, int most);

/* Puts taken events (a take reply's array) back at the queue's head, in their order,
 * for another sender. 0 or -1. */
int store_webhook_putback(redisContext *c, const struct config *cfg, const redisReply *events);

/* Adds n to the stats counter what (webhook_sent, webhook_failed). 0 or -1. */
int store_webhook_count(redisContext *c, const struct config *cfg, const char *what, long long n);

/* ---- the archive writer (store_archive.c) ---- */

/* One event queued for the archive; the strings are borrowed from the reply read. */
struct store_archived {
    const char *qid;     /* its entry in P archive */
    const char *id;      /* the event id */
    const char *channel;
    const char *env;     /* the envelope */
    size_t len;          /* of env */
};

/* Reads the oldest queued events, at most count, waiting up to block_ms while none is
 * queued. Returns the reply (caller frees; no entries after a quiet wait), or NULL after
 * an error: drop c then. */
redisReply *store_archive_take(redisContext *c, const struct config *cfg, int count, int block_ms);

/* Fills out (room for max) with the entries of a take reply, in order; returns how many.
 * An entry that is not an event has id "" (to be removed, never archived). */
size_t store_archive_entries(const redisReply *r, struct store_archived *out, size_t max);

/* After the archive committed them: removes n queued events and counts those it removed
 * as archived. Returns 0, or -1 (c is then dead, and they are archived again: harmless). */
int store_archive_ack(redisContext *c, const struct config *cfg, const struct store_archived *e, size_t n);

/* How many queued events the backlog's bound dropped so far; -1 on an error. */
long long store_archive_dropped(redisContext *c, const struct config *cfg);

#endif
