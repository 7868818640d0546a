/* hub_publish: publishes in the event loop: the rate of a keyless publish, queueing,
 * and ?wait=1's wait for the worker, all on the link's connections with callbacks, so
 * that neither a slow worker nor a frozen Redis holds an accept thread. The worker
 * confirms on the reply key, which this process's hub watches as a pub/sub pattern
 * (and reads once more at the deadline). What the answers say is outcome.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "clock.h"
#include "hub.h"
#include "hub_req.h"
#include "link.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "outcome.h"
#include "store.h"
#include "xalloc.h"

enum pub_phase {
    PUB_RATE,     /* counting a keyless publish */
    PUB_QUEUE,    /* queueing (or waiting for the replies' pattern to be subscribed first) */
    PUB_REPLICATE, /* queued: waiting for replicas to have it (WAIT) */
    PUB_CONFIRM,  /* queued: waiting for the worker's ids */
    PUB_REPLAY    /* a retry: polling the first publish's ids */
};

struct hub_pub {
    struct hub_req req;
    struct publish_job job;
    enum pub_phase phase;
    char reply_key[STORE_KEY_MAX];
    long long n, deadline;
    int polling; /* an LPOP or HGET of the ids is in flight */
    int absent;  /* no worker held the lease when it was queued */
    int listed;  /* on pubs.waiting (to queue once the pattern is subscribed) or pubs.confirming */
    LIST_ENTRY(hub_pub) link;
};

LIST_HEAD(pub_list, hub_pub);

static struct {
    const struct config *cfg;
    char scope[64];       /* this process's part of its reply keys */
    int replies;          /* 0 off, 1 PSUBSCRIBE sent, 2 confirmed */
    struct pub_list waiting, confirming;
} pubs;

static void pub_queue(struct hub_pub *p);

static void pub_list(struct pub_list *l, struct hub_pub *p)
{
    LIST_INSERT_HEAD(l, p, link);
    p->listed = 1;
}

static void pub_unlist(struct hub_pub *p)
{
    if (p->listed)
        LIST_REMOVE(p, link);
    p->listed = 0;
}

static void pub_answer_unavailable(struct hub_pub *p)
{
    metrics_publish_answered(503);
    hub_req_unavailable(&p->req);
}

/* Answers p with what call appends to p->req.out, whole. */
#define PUB_ANSWER(p, call)                        \
    do {                                           \
        size_t at_ = hub_req_open(&(p)->req);      \
        call;                                      \
        metrics_publish_answered(reply_last_status()); \
        hub_req_emit(&(p)->req, at_, 1);           \
    } while (0)

/* ---- the worker's confirmations ---- */

/* The pattern subscription says something: its confirmation, or a confirmation of a
 * publish of this process ("pmessage", pattern, reply key, ids). */
static void pub_replies(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *r = reply;
    struct hub_pub *p;

    (void)ac, (void)priv;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(r->element[0]->str, "psubscribe") == 0) {
        pubs.replies = 2;
        while ((p = LIST_FIRST(&pubs.waiting))) {
            pub_unlist(p);
            pub_queue(p);
        }
        return;
    }
    if (strcmp(r->element[0]->str, "pmessage") != 0 || r->elements != 4)
        return;
    LIST_FOREACH(p, &pubs.confirming, link)
        if (strcmp(p->reply_key, r->element[2]->str) == 0) {
            pub_unlist(p);
            PUB_ANSWER(p, outcome_stored(&p->req.out, p->req.cors, r->element[3]->str, 0));
            return;
        }
}

/* Subscribes the pattern of this process's reply keys. Returns 0 or -1. */
static int pub_subscribe_replies(void)
{
    redisAsyncContext *sub = link_sub();
    struct args a = {0};
    int rc;

    if (!sub)
        return -1;
    store_replies_args(pubs.cfg, pubs.scope, &a);
    rc = args_send(sub, &a, pub_replies, NULL);
    args_free(&a);
    if (rc == 0)
        pubs.replies = 1;
    return rc;
}

/* ---- queueing ---- */

/* WAIT's answer after a plain publish: how many replicas have it. */
static void pub_replicated(redisAsyncContext *ac, void *reply, void *priv)
{
    struct hub_pub *p = priv;
    redisReply *r = reply;
    long long acks = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

    (void)ac;
    if (hub_req_release(&p->req) || p->req.ending)
        return;
    link_refused(r);
    if (acks >= pubs.cfg->redis_wait_replicas)
        PUB_ANSWER(p, outcome_queued(&p->req.out, p->req.cors, p->n, 0, p->absent));
    else
        PUB_ANSWER(p, outcome_unreplicated(&p->req.out, p->req.cors, p->n, acks));
}

/* Queued without ?wait=1: 202 once COMET_REDIS_WAIT_REPLICAS replicas have it. WAIT
 * counts this connection's writes so far, so it goes on the command connection. */
static void pub_replicate(struct hub_pub *p)
{
    redisAsyncContext *cmd = link_cmd();

    p->phase = PUB_REPLICATE;
    if (!pubs.cfg->redis_wait_replicas) {
        PUB_ANSWER(p, outcome_queued(&p->req.out, p->req.cors, p->n, 0, p->absent));
    } else if (!cmd || redisAsyncCommand(cmd, pub_replicated, p, "WAIT %d %d", pubs.cfg->redis_wait_replicas,
                                         pubs.cfg->redis_wait_timeout) != REDIS_OK) {
        link_fail();
    } else {
        hub_req_hold(&p->req);
    }
}

/* What queueing did (reply NULL: no answer came, the outcome is unknown). */
static void pub_queued(redisAsyncContext *ac, void *reply, void *priv)
{
    struct hub_pub *p = priv;
    struct store_publish sp;
    struct store_queued q;

    (void)ac;
    if (hub_req_release(&p->req) || p->req.ending)
        return;
    link_refused(reply);
    publish_store(&p->job, p->reply_key, &sp);
    store_queue_result(reply, &sp, &q);
    p->n = q.n;
    p->absent = q.worker_absent;
    publish_note_worker(q.worker_absent);
    p->deadline = clock_ms() + pubs.cfg->publish_wait * 1000LL;
    if (q.status == STORE_QUEUED)
        log_debug("publish: %zu events by %s", p->job.batch.n, p->job.who);
    if (q.status == STORE_QUEUED && p->job.wait) {
        p->phase = PUB_CONFIRM;
        pub_list(&pubs.confirming, p);
    } else if (q.status == STORE_REPLAY && p->job.wait && !q.ids) {
        p->phase = PUB_REPLAY;
        p->polling = 0;
    } else if (q.status == STORE_QUEUED) {
        pub_replicate(p);
    } else if (q.status == STORE_REPLAY) {
        if (q.ids && p->job.wait)
            PUB_ANSWER(p, outcome_stored(&p->req.out, p->req.cors, q.ids, 1));
        else
            PUB_ANSWER(p, outcome_queued(&p->req.out, p->req.cors, q.n, 1, q.worker_absent));
    } else if (q.status == STORE_CONFLICT) {
        PUB_ANSWER(p, outcome_conflict(&p->req.out, p->req.cors));
    } else if (q.status == STORE_UNKNOWN) {
        PUB_ANSWER(p, outcome_unknown(&p->req.out, p->req.cors, q.n, 0));
    } else {
        pub_answer_unavailable(p);
    }
    free(q.ids);
}

/* Queues the publish (with ?wait=1, once this process's reply keys are watched). */
static void pub_queue(struct hub_pub *p)
{
    redisAsyncContext *cmd = link_cmd();
    struct store_publish sp;
    struct args a = {0};

    p->phase = PUB_QUEUE;
    if (p->job.wait && pubs.replies != 2) {
        pub_list(&pubs.waiting, p);
        if (!pubs.replies && pub_subscribe_replies() < 0)
            link_fail();
        return;
    }
    publish_store(&p->job, p->reply_key, &sp);
    store_queue_args(pubs.cfg, &sp, &a);
    if (!cmd || args_send(cmd, &a, pub_queued, p) < 0)
        link_fail();
    else
        hub_req_hold(&p->req);
    args_free(&a);
}

/* A keyless publish counted: within the rate, or 429 (503 without an answer). */
static void pub_rated(redisAsyncContext *ac, void *reply, void *priv)
{
    struct hub_pub *p = priv;
    long long n = store_rate_result(reply);

    (void)ac;
    if (hub_req_release(&p->req) || p->req.ending)
        return;
    if (n < 0)
        pub_answer_unavailable(p);
    else if (n > pubs.cfg->public_rate)
        PUB_ANSWER(p, outcome_rate_limited(&p->req.out, p->req.cors, pubs.cfg->public_rate, clock_wall_ms()));
    else
        pub_queue(p);
}

static void pub_start(struct hub_req *r)
{
    struct hub_pub *p = (struct hub_pub *)r;
    redisAsyncContext *cmd = link_cmd();
    struct args a = {0};

    if (!p->job.rate_who) {
        pub_queue(p);
        return;
    }
    p->phase = PUB_RATE;
    store_rate_args(pubs.cfg, p->job.rate_who, &a);
    if (!cmd || args_send(cmd, &a, pub_rated, p) < 0)
        link_fail();
    else
        hub_req_hold(r);
    args_free(&a);
}

/* ---- waiting for the ids ---- */

/* The ids read at the deadline (LPOP) or while a replay polls (HGET). */
static void pub_polled(redisAsyncContext *ac, void *reply, void *priv)
{
    struct hub_pub *p = priv;
    char *ids;
    int replay;

    (void)ac;
    if (hub_req_release(&p->req) || p->req.ending || !reply)
        return;
    ids = store_ids_result(reply);
    replay = p->phase == PUB_REPLAY;
    p->polling = 0;
    if (ids || clock_ms() >= p->deadline) {
        pub_unlist(p);
        if (ids)
            PUB_ANSWER(p, outcome_stored(&p->req.out, p->req.cors, ids, replay));
        else
            PUB_ANSWER(p, outcome_unconfirmed(&p->req.out, p->req.cors, p->n, replay, p->absent));
    }
    free(ids);
}

static void pub_tick(struct hub_req *r, long long now)
{
    struct hub_pub *p = (struct hub_pub *)r;
    redisAsyncContext *cmd = link_cmd();
    struct args a = {0};

    if (p->polling || (p->phase == PUB_CONFIRM && now < p->deadline) ||
        (p->phase != PUB_CONFIRM && p->phase != PUB_REPLAY))
        return;
    if (p->phase == PUB_CONFIRM)
        store_reply_pop_args(p->reply_key, &a);
    else
        store_once_ids_args(pubs.cfg, p->job.idem, &a);
    if (!cmd || args_send(cmd, &a, pub_polled, p) < 0) {
        link_fail();
    } else {
        hub_req_hold(r);
        p->polling = 1;
    }
    args_free(&a);
}

/* ---- ends ---- */

/* Redis failed: a queued publish's fate is unknown; before that nothing was queued
 * (a queueing in flight was answered by its callback). */
static void pub_down(struct hub_req *r)
{
    struct hub_pub *p = (struct hub_pub *)r;

    pub_unlist(p);
    if (p->phase == PUB_CONFIRM || p->phase == PUB_REPLAY || p->phase == PUB_REPLICATE)
        PUB_ANSWER(p, outcome_unknown(&p->req.out, p->req.cors, p->n, 1));
    else
        pub_answer_unavailable(p);
}

/* The process stops: what was queued is answered as not confirmed yet, a queueing in
 * flight as unknown, anything earlier as not queued. */
static void pub_stop(struct hub_req *r)
{
    struct hub_pub *p = (struct hub_pub *)r;
    int sent = p->phase == PUB_QUEUE && !p->listed;

    pub_unlist(p);
    if (p->phase == PUB_CONFIRM || p->phase == PUB_REPLAY)
        PUB_ANSWER(p, outcome_unconfirmed(&p->req.out, p->req.cors, p->n, p->phase == PUB_REPLAY, p->absent));
    else if (p->phase == PUB_REPLICATE)
        PUB_ANSWER(p, outcome_unreplicated(&p->req.out, p->req.cors, p->n, -1));
    else if (sent)
        PUB_ANSWER(p, outcome_unknown(&p->req.out, p->req.cors, (long long)p->job.batch.n, 0));
    else
        pub_answer_unavailable(p);
}

static void pub_leave(struct hub_req *r)
{
    pub_unlist((struct hub_pub *)r);
}

static void pub_free(struct hub_req *r)
{
    struct hub_pub *p = (struct hub_pub *)r;

    publish_job_free(&p->job);
    free(p);
}

static const struct hub_kind pub_kind = {pub_start, pub_down, pub_tick, pub_stop, pub_leave, pub_free};

void hub_publish_down(void)
{
    pubs.replies = 0;
}

void hub_publish_init(const struct config *cfg)
{
    pubs.cfg = cfg;
    LIST_INIT(&pubs.waiting);
    LIST_INIT(&pubs.confirming);
    snprintf(pubs.scope, sizeof pubs.scope, "%d.%x", (int)getpid(), (unsigned)rand());
}

/* A new publish of job's contents (job is left empty), with its reply key. */
static struct hub_pub *pub_new(const struct config *cfg, struct publish_job *job)
{
    struct hub_pub *p = xcalloc(1, sizeof *p);
    char token[33];

    p->job = *job;
    memset(job, 0, sizeof *job);
    for (int i = 0; i < 16; i++)
        snprintf(token + 2 * i, 3, "%02x", (unsigned)rand() & 0xff);
    store_reply_key(cfg, pubs.scope, token, p->reply_key);
    return p;
}

void hub_publish(FCGX_Request *req, const struct config *cfg, struct publish_job *job, const char *cors)
{
    struct hub_pub *p = pub_new(cfg, job);

    hub_req_take(&p->req, &pub_kind, req, cfg, cors);
}

void hub_publish_sink(const struct config *cfg, struct publish_job *job, hub_sink *sink, void *owner)
{
    struct hub_pub *p = pub_new(cfg, job);

    hub_req_adopt(&p->req, &pub_kind, cfg, sink, owner);
}
