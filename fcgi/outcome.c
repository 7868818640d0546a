/* outcome: the publish answers' JSON, through reply.c's heads. */
#include "outcome.h"

#include <jansson.h>
#include <stdio.h>

#include "reply.h"

#define REPLAYED "Idempotent-Replayed: true\r\n"
#define ABSENT "Comet-Worker: absent\r\n"

/* A 202's extra header lines and its "worker" field, when no worker holds the lease. */
static void queued_reply(struct buf *out, const char *cors, json_t *body, int replayed, int absent)
{
    static const char *const extra[2][2] = {{NULL, REPLAYED}, {ABSENT, ABSENT REPLAYED}};

    if (absent)
        json_object_set_new(body, "worker", json_string("absent"));
    reply_json_to(out, 202, cors, body, extra[!!absent][!!replayed]);
}

void outcome_queued(struct buf *out, const char *cors, long long n, int replayed, int absent)
{
    queued_reply(out, cors, json_pack("{s:I}", "accepted", (json_int_t)n), replayed, absent);
}

void outcome_stored(struct buf *out, const char *cors, const char *ids, int replayed)
{
    json_t *v = json_loads(ids, 0, NULL);

    reply_json_to(out, 200, cors, json_pack("{s:o}", "ids", v ? v : json_array()), replayed ? REPLAYED : NULL);
}

void outcome_unconfirmed(struct buf *out, const char *cors, long long n, int replayed, int absent)
{
    queued_reply(out, cors, json_pack("{s:I, s:b}", "accepted", (json_int_t)n, "confirmed", 0), replayed, absent);
}

void outcome_unknown(struct buf *out, const char *cors, long long n, int queued)
{
    json_t *body = queued ? json_pack("{s:s, s:s, s:I, s:b}", "error",
                                      "queued, but Redis stopped answering before the worker confirmed it; "
                                      "retry with the same Idempotency-Key to learn its ids",
                                      "outcome", "unknown", "accepted", (json_int_t)n, "confirmed", 0)
                          : json_pack("{s:s, s:s}", "error",
                                      "Redis took the publish but did not answer: it may or may not be "
                                      "queued; retry with the same Idempotency-Key",
                                      "outcome", "unknown");

    reply_json_to(out, 504, cors, body, NULL);
}

void outcome_unreplicated(struct buf *out, const char *cors, long long n, long long replicas)
{
    json_t *body = json_pack("{s:s, s:s, s:I}", "error",
                             "queued on the Redis master, but not on enough replicas in time "
                             "(COMET_REDIS_WAIT_REPLICAS): a failover now could lose it",
                             "outcome", "unknown", "accepted", (json_int_t)n);

    json_object_set_new(body, "replicas", json_integer(replicas < 0 ? 0 : replicas));
    reply_json_to(out, 504, cors, body, NULL);
}

void outcome_conflict(struct buf *out, const char *cors)
{
    reply_error_to(out, 422, cors, NULL, "Idempotency-Key: already used for a different request");
}

void outcome_rate_limited(struct buf *out, const char *cors, int per_minute, long long now_ms)
{
    char retry[40], msg[80];

    snprintf(retry, sizeof retry, "Retry-After: %lld\r\n", 60 - now_ms / 1000 % 60);
    snprintf(msg, sizeof msg, "at most %d publishes a minute without a key", per_minute);
    reply_error_to(out, 429, cors, retry, msg);
}
