/* status: the worker's status samples for the live status page. About once a second the
 * active worker asks whether anyone waits on the status channel (ENVELOPE_STATUS); only
 * then does it count each stored event's channel in memory and queue one sample (the
 * /stats numbers, the busiest channels of the last second) as an inbox entry, which it
 * stores like any publish. Nobody watching costs one ZCOUNT a second and no counting.
 * What /stats holds is the store's (store_stats); the page is www/status.html. */
#include "status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "envelope.h"
#include "log.h"
#include "xalloc.h"

#define STATUS_PERIOD_MS 1000
#define STATUS_BUSIEST 10
/* Distinct channels counted in one second, at most; events of others are only summed
 * (untracked), so a burst over many channels cannot grow the worker without bound. */
#define STATUS_TRACKED 8192

struct status_slot {
    char *name; /* NULL: free */
    long long events;
};

struct status {
    long long next_ms;  /* clock_ms of the next look */
    long long since_ms; /* wall ms the counts started from; 0 while nobody watches */
    struct status_slot *slots;
    size_t cap, used;   /* cap: a power of two */
    long long untracked;
};

struct status *status_new(void)
{
    struct status *s = xcalloc(1, sizeof *s);

    s->cap = 64;
    s->slots = xcalloc(s->cap, sizeof *s->slots);
    return s;
}

/* Forgets the counts (keeps the table's size). */
static void status_reset(struct status *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        free(s->slots[i].name);
        s->slots[i] = (struct status_slot){0};
    }
    s->used = 0;
    s->untracked = 0;
}

void status_free(struct status *s)
{
    if (!s)
        return;
    status_reset(s);
    free(s->slots);
    free(s);
}

/* FNV-1a: channel names are short and the table only needs spread, not secrecy. */
static size_t status_hash(const char *name)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211ULL;
    return (size_t)h;
}

/* The slot of name: its own, or the free one where it goes (linear probing). */
static struct status_slot *status_slot(struct status_slot *slots, size_t cap, const char *name)
{
    size_t i = status_hash(name) & (cap - 1);

    while (slots[i].name && strcmp(slots[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

/* Doubles the table, keeping it at most half full. */
static void status_grow(struct status *s)
{
    size_t cap = s->cap * 2;
    struct status_slot *slots = xcalloc(cap, sizeof *slots);

    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].name)
            *status_slot(slots, cap, s->slots[i].name) = s->slots[i];
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
}

static void status_add(struct status *s, const char *channel)
{
    struct status_slot *slot = status_slot(s->slots, s->cap, channel);

    if (!slot->name) {
        if (s->used >= STATUS_TRACKED) {
            s->untracked++;
            return;
        }
        if (2 * (s->used + 1) > s->cap) {
            status_grow(s);
            slot = status_slot(s->slots, s->cap, channel);
        }
        slot->name = xstrdup(channel);
        s->used++;
    }
    slot->events++;
}

/* Counts one event of channel, unless it is one of the samples themselves. */
static void status_event(const char *channel, void *priv)
{
    if (strcmp(channel, ENVELOPE_STATUS) != 0)
        status_add(priv, channel);
}

void status_count(struct status *s, const redisReply *entry)
{
    if (s->since_ms)
        store_entry_channels(entry, status_event, s);
}

/* The STATUS_BUSIEST channels with the most events, busiest first:
 * [{"channel", "events"}, ...]. New array. */
static json_t *status_busiest(const struct status *s)
{
    const struct status_slot *top[STATUS_BUSIEST];
    size_t n = 0;
    json_t *a = json_array();

    for (size_t i = 0; i < s->cap; i++) {
        const struct status_slot *slot = &s->slots[i];
        size_t k;
        if (!slot->name)
            continue;
        k = n < STATUS_BUSIEST ? n++ : STATUS_BUSIEST;
        /* Insertion into the sorted few; a slot that ranks below them all falls off. */
        while (k > 0 && top[k - 1]->events < slot->events) {
            if (k < STATUS_BUSIEST)
                top[k] = top[k - 1];
            k--;
        }
        if (k < STATUS_BUSIEST)
            top[k] = slot;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:I}", "channel", top[i]->name, "events", (json_int_t)top[i]->events));
    return a;
}

/* Queues one sample. Returns 0, or -1 on a Redis error. */
static int status_sample(struct status *s, redisContext *c, const struct config *cfg, long long now)
{
    json_t *stats = store_stats(c, cfg), *data;
    char *tail;
    int rc;

    if (!stats)
        return -1;
    data = json_pack("{s:I, s:I, s:o, s:o, s:I}", "time", (json_int_t)now, "interval_ms",
                     (json_int_t)(s->since_ms ? now - s->since_ms : 0), "stats", stats, "busiest",
                     status_busiest(s), "untracked", (json_int_t)s->untracked);
    tail = envelope_tail(ENVELOPE_STATUS, ENVELOPE_STATUS, data);
    json_decref(data);
    rc = tail ? store_inject(c, cfg, ENVELOPE_STATUS, tail) : -1;
    free(tail);
    return rc;
}

int status_tick(struct status *s, redisContext *c, const struct config *cfg)
{
    long long now = clock_ms(), watched, wall;
    int rc = 0;

    if (now < s->next_ms)
        return 0;
    s->next_ms = now + STATUS_PERIOD_MS;
    if ((watched = store_watched(c, cfg, ENVELOPE_STATUS)) < 0)
        return -1;
    wall = clock_wall_ms();
    if (watched > 0 && (rc = status_sample(s, c, cfg, wall)) < 0)
        log_warn("a status sample was not queued");
    status_reset(s);
    s->since_ms = watched > 0 ? wall : 0;
    return rc;
}
