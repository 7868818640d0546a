/* channel: the registry of the channels that the event loop's waiting requests wait
 * on, and their shared subscription: each channel is SUBSCRIBEd once on the link's
 * subscription connection however many wait on it, and UNSUBSCRIBEd once nobody has
 * waited on it for a while. Routes its messages and confirmations to the hub through
 * hooks; knows nothing of sessions. */
#ifndef COMET_CHANNEL_H
#define COMET_CHANNEL_H

#include <stddef.h>

#include "config.h"
#include "cursor.h"

struct channel;
struct hub_waiter;

/* One waiting request's place on one channel, embedded in the request. */
struct channel_member {
    struct channel *channel; /* NULL when not joined (or the registry was reset) */
    size_t slot;             /* its index among the channel's members */
    int pending;             /* joined before the channel's SUBSCRIBE was confirmed */
    struct hub_waiter *owner;
};

struct channel_hooks {
    /* m's channel is now subscribed (m->pending was set, and is now cleared). */
    void (*ready)(struct channel_member *m);
    /* A message came on channel c; channel_members lists who waits on it. */
    void (*message)(struct channel *c, const char *env, size_t len);
};

/* Sets the configuration and hooks, borrowed for the process's life. */
void channel_init(const struct config *cfg, const struct channel_hooks *hooks);

/* Adds m (owner set by the caller) to the channel name, subscribing it when nobody
 * waited on it. Returns 1 when the channel is subscribed already, 0 when m is pending
 * (hooks->ready follows), -1 when the SUBSCRIBE could not be sent (m not joined). */
int channel_join(struct channel_member *m, const char *name);

/* Takes m off its channel (nothing when not joined). */
void channel_leave(struct channel_member *m);

/* The members of c, *n of them; the array is valid until the next join or leave. */
struct channel_member **channel_members(struct channel *c, size_t *n);

/* Notes that c's subscription delivered event id (ids come in increasing order). */
void channel_saw(struct channel *c, struct cursor id);

/* The newest event c's subscription delivered since it was last SUBSCRIBEd: every event
 * after it comes on the subscription too. Returns 0, or -1 when none came yet. */
int channel_seen(const struct channel *c, struct cursor *id);

/* UNSUBSCRIBEs the channels nobody waited on for CHANNEL_IDLE_MS (now: clock_ms). */
void channel_tick(long long now);

/* Forgets every channel and membership, after the link went down. */
void channel_reset(void);

#define CHANNEL_IDLE_MS 10000

#endif
