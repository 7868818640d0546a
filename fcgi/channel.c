/* channel: a hash table of channels, each with its members and the state of its
 * subscription. A channel is never SUBSCRIBEd while its UNSUBSCRIBE is unconfirmed:
 * it waits for the confirmation and subscribes again if someone joined meanwhile. */
#include "channel.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "link.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#define CHANNEL_TABLE 4096

enum channel_state {
    CHANNEL_SUBSCRIBING,  /* SUBSCRIBE sent, not yet confirmed */
    CHANNEL_SUBSCRIBED,
    CHANNEL_UNSUBSCRIBING /* UNSUBSCRIBE sent, not yet confirmed */
};

struct channel {
    char *name;
    enum channel_state state;
    struct channel_member **m;
    size_t n, cap;
    long long idle_since; /* when its last member left */
    struct cursor seen;   /* the newest event delivered since the SUBSCRIBE, when has_seen */
    int has_seen;
    struct channel *next; /* hash chain */
};

static struct {
    const struct config *cfg;
    const struct channel_hooks *hooks;
    struct channel *table[CHANNEL_TABLE];
} reg;

void channel_init(const struct config *cfg, const struct channel_hooks *hooks)
{
    reg.cfg = cfg;
    reg.hooks = hooks;
}

static struct channel **channel_slot(const char *name)
{
    unsigned h = 2166136261u;
    struct channel **p;

    for (const char *s = name; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    for (p = &reg.table[h % CHANNEL_TABLE]; *p && strcmp((*p)->name, name); p = &(*p)->next)
        ;
    return p;
}

static void channel_free(struct channel *c)
{
    *channel_slot(c->name) = c->next;
    for (size_t i = 0; i < c->n; i++)
        c->m[i]->channel = NULL;
    free(c->name);
    free(c->m);
    free(c);
}

static void channel_reply(redisAsyncContext *ac, void *reply, void *priv);

static int channel_subscribe(struct channel *c)
{
    redisAsyncContext *sub = link_sub();

    c->state = CHANNEL_SUBSCRIBING;
    c->has_seen = 0; /* what came before an UNSUBSCRIBE says nothing of the gap after it */
    return sub ? store_subscribe_async(sub, reg.cfg, c->name, channel_reply, c) : -1;
}

/* The SUBSCRIBE of c is confirmed: its pending members are ready. */
static void channel_subscribed(struct channel *c)
{
    c->state = CHANNEL_SUBSCRIBED;
    for (size_t i = c->n; i-- > 0;)
        if (c->m[i]->pending) {
            c->m[i]->pending = 0;
            reg.hooks->ready(c->m[i]);
        }
}

/* The UNSUBSCRIBE of c is confirmed: forget it, or subscribe again for who joined since. */
static void channel_unsubscribed(struct channel *c)
{
    if (c->n == 0)
        channel_free(c);
    else if (channel_subscribe(c) < 0)
        link_fail();
}

/* What the subscription connection says about c, as hiredis routes it; NULL when the
 * connection is going (channel_reset follows). */
static void channel_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *r = reply;
    struct channel *c = priv;
    const char *kind;

    (void)ac;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    kind = r->element[0]->str;
    if (strcmp(kind, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING)
        reg.hooks->message(c, r->element[2]->str, r->element[2]->len);
    else if (strcmp(kind, "subscribe") == 0 && c->state == CHANNEL_SUBSCRIBING)
        channel_subscribed(c);
    else if (strcmp(kind, "unsubscribe") == 0 && c->state == CHANNEL_UNSUBSCRIBING)
        channel_unsubscribed(c);
}

int channel_join(struct channel_member *m, const char *name)
{
    struct channel **p = channel_slot(name), *c = *p;

    if (!c) {
        c = *p = xcalloc(1, sizeof *c);
        c->name = xstrdup(name);
        if (channel_subscribe(c) < 0) {
            channel_free(c);
            return -1;
        }
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4;
        c->m = xrealloc(c->m, c->cap * sizeof *c->m);
    }
    m->channel = c;
    m->slot = c->n;
    m->pending = c->state != CHANNEL_SUBSCRIBED;
    c->m[c->n++] = m;
    return !m->pending;
}

void channel_leave(struct channel_member *m)
{
    struct channel *c = m->channel;

    if (!c)
        return;
    c->m[m->slot] = c->m[--c->n];
    c->m[m->slot]->slot = m->slot;
    m->channel = NULL;
    if (c->n == 0)
        c->idle_since = clock_ms();
}

struct channel_member **channel_members(struct channel *c, size_t *n)
{
    *n = c->n;
    return c->m;
}

void channel_saw(struct channel *c, struct cursor id)
{
    c->seen = id;
    c->has_seen = 1;
}

int channel_seen(const struct channel *c, struct cursor *id)
{
    if (!c || !c->has_seen || c->state != CHANNEL_SUBSCRIBED)
        return -1;
    *id = c->seen;
    return 0;
}

void channel_tick(long long now)
{
    redisAsyncContext *sub = link_sub();

    for (size_t i = 0; i < CHANNEL_TABLE && sub; i++)
        for (struct channel *c = reg.table[i]; c; c = c->next)
            if (c->n == 0 && c->state == CHANNEL_SUBSCRIBED && now - c->idle_since > CHANNEL_IDLE_MS) {
                c->state = CHANNEL_UNSUBSCRIBING;
                if (store_unsubscribe_async(sub, reg.cfg, c->name) < 0) {
                    link_fail();
                    return;
                }
            }
}

void channel_reset(void)
{
    for (size_t i = 0; i < CHANNEL_TABLE; i++)
        while (reg.table[i])
            channel_free(reg.table[i]);
}
