/* metrics: the per-process counters (atomics, shared by the accept threads and the
 * hub) and the rendering of the exposition, families in a fixed order, each with HELP
 * and TYPE. Reading the cluster-wide numbers is the store's (store_stats). */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "clock.h"
#include "version.h"

#define METRICS_STATUS_MIN 400
#define METRICS_STATUS_MAX 599

static _Atomic long long refused[METRICS_STATUS_MAX - METRICS_STATUS_MIN + 1];
static long long started_ms;

void metrics_init(void)
{
    started_ms = clock_wall_ms();
}

void metrics_publish_answered(int status)
{
    if (status >= METRICS_STATUS_MIN && status <= METRICS_STATUS_MAX)
        atomic_fetch_add(&refused[status - METRICS_STATUS_MIN], 1);
}

/* One family's HELP and TYPE lines. */
static void family(struct buf *out, const char *name, const char *type, const char *help)
{
    char line[512];

    snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    buf_puts(out, line);
}

/* A family of one unlabelled sample. */
static void single(struct buf *out, const char *name, const char *type, const char *help, long long v)
{
    char line[160];

    family(out, name, type, help);
    snprintf(line, sizeof line, "%s %lld\n", name, v);
    buf_puts(out, line);
}

/* The integer at key in o (0 when absent or not a number). */
static long long num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void render_publishing(struct buf *out, const json_t *st)
{
    char line[160];
    int pid = (int)getpid();

    single(out, "comet_publishes_accepted_total", "counter", "Publish requests queued, all nodes.",
           num(st, "accepted"));
    single(out, "comet_events_accepted_total", "counter", "Events in the publishes queued, all nodes.",
           num(st, "accepted_events"));
    single(out, "comet_events_published_total", "counter", "Events the worker stored and fanned out.",
           num(st, "published"));
    single(out, "comet_deliveries_total", "counter",
           "Event deliveries to subscribed processes (one per process waiting on the channel, not per client).",
           num(st, "delivered"));
    family(out, "comet_publishes_refused_total", "counter",
           "Publishes this process answered with an error status, by status.");
    for (int s = METRICS_STATUS_MIN; s <= METRICS_STATUS_MAX; s++) {
        long long n = atomic_load(&refused[s - METRICS_STATUS_MIN]);
        if (n == 0)
            continue;
        snprintf(line, sizeof line, "comet_publishes_refused_total{status=\"%d\",pid=\"%d\"} %lld\n", s, pid, n);
        buf_puts(out, line);
    }
}

static void render_waiting(struct buf *out, const json_t *st)
{
    const json_t *by = json_object_get(st, "waiting_by");
    const char *name;
    json_t *v;
    char line[160];

    family(out, "comet_waiting_requests", "gauge", "Requests waiting now on all nodes, by transport.");
    json_object_foreach((json_t *)by, name, v) {
        snprintf(line, sizeof line, "comet_waiting_requests{transport=\"%s\"} %lld\n", name,
                 (long long)json_integer_value(v));
        buf_puts(out, line);
    }
}

static void render_worker(struct buf *out, const json_t *st)
{
    const json_t *w = json_object_get(st, "worker"), *a = json_object_get(st, "archive"),
                 *h = json_object_get(st, "webhook");
    char line[160];

    single(out, "comet_worker_up", "gauge", "1 when a worker's heartbeat is within the lease.",
           json_is_true(json_object_get(w, "alive")));
    family(out, "comet_worker_lag_seconds", "gauge", "Age of the oldest queued publish (0: none queued).");
    snprintf(line, sizeof line, "comet_worker_lag_seconds %.3f\n", (double)num(w, "lag_ms") / 1000);
    buf_puts(out, line);
    single(out, "comet_inbox_entries", "gauge", "Publishes queued for the worker.", num(st, "inbox"));
    single(out, "comet_archive_backlog_events", "gauge", "Events queued for the SQL archive writer.",
           num(a, "backlog"));
    single(out, "comet_archived_events_total", "counter", "Events written to the SQL archive.", num(a, "archived"));
    single(out, "comet_archive_dropped_events_total", "counter", "Events the archive backlog's bound dropped.",
           num(a, "dropped"));
    single(out, "comet_webhook_queued_events", "gauge", "Webhook events waiting to be sent.", num(h, "queued"));
    single(out, "comet_webhook_sent_events_total", "counter", "Webhook events the receiver accepted.",
           num(h, "sent"));
    single(out, "comet_webhook_failed_events_total", "counter", "Webhook events given up after every retry.",
           num(h, "failed"));
    single(out, "comet_webhook_dropped_events_total", "counter", "Webhook events dropped by the queue's bound.",
           num(h, "dropped"));
}

static void render_process(struct buf *out, long long rtt_ms)
{
    char line[256];
    int pid = (int)getpid();

    family(out, "comet_build_info", "gauge", "The release of the comet.fcgi that answered.");
    snprintf(line, sizeof line, "comet_build_info{version=\"%s\"} 1\n", comet_version);
    buf_puts(out, line);
    family(out, "comet_redis_roundtrip_seconds", "gauge", "This process's round trip to Redis for this scrape.");
    snprintf(line, sizeof line, "comet_redis_roundtrip_seconds{pid=\"%d\"} %.6f\n", pid, (double)rtt_ms / 1000);
    buf_puts(out, line);
    family(out, "process_start_time_seconds", "gauge", "When this process started, in Unix seconds.");
    snprintf(line, sizeof line, "process_start_time_seconds{pid=\"%d\"} %.3f\n", pid, (double)started_ms / 1000);
    buf_puts(out, line);
}

void metrics_render(struct buf *out, const json_t *stats, long long rtt_ms)
{
    render_publishing(out, stats);
    render_waiting(out, stats);
    render_worker(out, stats);
    render_process(out, rtt_ms);
}
