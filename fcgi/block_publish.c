/* block_publish: rate, queue, then wait for the worker, each bounded in time, on the
 * command connection (conn.c), which is dropped after any failure. */
#include "block_publish.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "outcome.h"
#include "reply.h"
#include "store.h"

/* A keyless publish within its rate? Returns 1, or 0 after answering 429 or 503. */
static int block_rate(redisContext *c, const struct config *cfg, const char *cors, const struct publish_job *job,
                      struct buf *out)
{
    long long n = job->rate_who ? store_rate(c, cfg, job->rate_who) : 0;

    if (n < 0) {
        conn_drop();
        reply_unavailable_to(out, cors);
    } else if (n > cfg->public_rate) {
        outcome_rate_limited(out, cors, cfg->public_rate, clock_wall_ms());
    }
    return n >= 0 && n <= cfg->public_rate;
}

/* Answers a retry of an earlier publish as the first was answered: 202, or with
 * ?wait=1 its ids once the worker stored it (waiting for them as the first would have). */
static void block_replay(redisContext *c, const struct config *cfg, const char *cors, const struct publish_job *job,
                         struct store_queued *q, struct buf *out)
{
    long long until = clock_ms() + cfg->publish_wait * 1000LL;

    while (job->wait && !q->ids && clock_ms() < until) {
        poll(NULL, 0, 100);
        if (store_once_ids(c, cfg, job->idem, &q->ids) < 0) {
            conn_drop();
            reply_unavailable_to(out, cors);
            return;
        }
    }
    if (job->wait && q->ids)
        outcome_stored(out, cors, q->ids, 1);
    else if (job->wait)
        outcome_unconfirmed(out, cors, q->n, 1, q->worker_absent);
    else
        outcome_queued(out, cors, q->n, 1, q->worker_absent);
}

/* ?wait=1 after queueing: the worker's ids, or unconfirmed after COMET_PUBLISH_WAIT. */
static void block_wait(redisContext *c, const struct config *cfg, const char *cors, const char *reply_key,
                       const struct store_queued *q, struct buf *out)
{
    char *ids = NULL;
    int rc = store_await_ids(c, reply_key, cfg->publish_wait, &ids);

    if (rc > 0)
        outcome_stored(out, cors, ids, 0);
    else if (rc == 0)
        outcome_unconfirmed(out, cors, q->n, 0, q->worker_absent);
    else
        outcome_unknown(out, cors, q->n, 1);
    if (rc < 0)
        conn_drop();
    free(ids);
}

/* A queued publish's 202, once COMET_REDIS_WAIT_REPLICAS replicas have it (else 504). */
static void block_replicated(redisContext *c, const struct config *cfg, const char *cors,
                             const struct store_queued *q, struct buf *out)
{
    long long acks = cfg->redis_wait_replicas ? store_replicated(c, cfg->redis_wait_replicas,
                                                                 cfg->redis_wait_timeout) : 0;

    if (acks < 0)
        conn_drop();
    if (acks < cfg->redis_wait_replicas)
        outcome_unreplicated(out, cors, q->n, acks);
    else
        outcome_queued(out, cors, q->n, 0, q->worker_absent);
}

/* Queues job on c and answers what queueing did. */
static void block_queue(redisContext *c, const struct config *cfg, const char *cors, const struct publish_job *job,
                        struct buf *out)
{
    char reply_key[STORE_KEY_MAX], token[33];
    struct store_publish p;
    struct store_queued q;

    for (int i = 0; i < 16; i++)
        snprintf(token + 2 * i, 3, "%02x", (unsigned)rand() & 0xff);
    store_reply_key(cfg, "b", token, reply_key);
    publish_store(job, reply_key, &p);
    store_queue(c, cfg, &p, &q);
    if (q.status == STORE_REFUSED || q.status == STORE_UNKNOWN)
        conn_drop();
    if (q.status == STORE_QUEUED)
        log_debug("publish: %zu events by %s", job->batch.n, job->who);
    publish_note_worker(q.worker_absent);
    if (q.status == STORE_QUEUED && job->wait)
        block_wait(c, cfg, cors, reply_key, &q, out); /* the worker confirms once replicated */
    else if (q.status == STORE_QUEUED)
        block_replicated(c, cfg, cors, &q, out);
    else if (q.status == STORE_REPLAY)
        block_replay(c, cfg, cors, job, &q, out);
    else if (q.status == STORE_CONFLICT)
        outcome_conflict(out, cors);
    else if (q.status == STORE_UNKNOWN)
        outcome_unknown(out, cors, q.n, 0);
    else
        reply_unavailable_to(out, cors);
    free(q.ids);
}

void block_publish(FCGX_Request *req, const struct config *cfg, const char *cors, const struct publish_job *job)
{
    struct buf out = {0};
    redisContext *c = conn_get(cfg);

    if (!c)
        reply_unavailable_to(&out, cors);
    else if (block_rate(c, cfg, cors, job, &out))
        block_queue(c, cfg, cors, job, &out);
    metrics_publish_answered(reply_last_status());
    FCGX_PutStr(out.s, (int)out.len, req->out);
    buf_free(&out);
}
