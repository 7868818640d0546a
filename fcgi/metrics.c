/* metrics: the per-process counters (atomics, shared by the accept threads and the
 * hub) and the rendering of the exposition, families in a fixed order, each with HELP
 * and TYPE. Reading the cluster-wide numbers is the store's (store_stats). */
#include "metrics.h"

#include <stdarg.h>
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

/* The cluster-wide families of one unlabelled sample each: a number of the /stats
 * object, at key inside its member object (NULL: at the top). */
static const struct metrics_single {
    const char *name, *type, *help, *object, *key;
} singles[] = {
    {"comet_publishes_accepted_total", "counter", "Publish requests queued, all nodes.", NULL, "accepted"},
    {"comet_events_accepted_total", "counter", "Events in the publishes queued, all nodes.", NULL, "accepted_events"},
    {"comet_events_published_total", "counter", "Events the worker stored and fanned out.", NULL, "published"},
    {"comet_deliveries_total", "counter",
     "Event deliveries to subscribed processes (one per process waiting on the channel, not per client).", NULL,
     "delivered"},
    {"comet_inbox_entries", "gauge", "Publishes queued for the worker.", NULL, "inbox"},
    {"comet_archive_backlog_events", "gauge", "Events queued for the SQL archive writer.", "archive", "backlog"},
    {"comet_archived_events_total", "counter", "Events written to the SQL archive.", "archive", "archived"},
    {"comet_archive_dropped_events_total", "counter", "Events the archive backlog's bound dropped.", "archive",
     "dropped"},
    {"comet_webhook_queued_events", "gauge", "Webhook events waiting to be sent.", "webhook", "queued"},
    {"comet_webhook_sent_events_total", "counter", "Webhook events the receiver accepted.", "webhook", "sent"},
    {"comet_webhook_failed_events_total", "counter", "Webhook events given up after every retry.", "webhook",
     "failed"},
    {"comet_webhook_dropped_events_total", "counter", "Webhook events dropped by the queue's bound.", "webhook",
     "dropped"},
};

/* Appends a sample line: the name with its labels, then the value, as fmt formats them. */
__attribute__((format(printf, 2, 3))) static void sample(struct buf *out, const char *fmt, ...)
{
    char line[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    buf_puts(out, line);
}

static void render_singles(struct buf *out, const json_t *st)
{
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) {
        const struct metrics_single *m = &singles[i];
        const json_t *o = m->object ? json_object_get(st, m->object) : st;
        family(out, m->name, m->type, m->help);
        sample(out, "%s %lld\n", m->name, (long long)json_integer_value(json_object_get(o, m->key)));
    }
}

static void render_refused(struct buf *out)
{
    int pid = (int)getpid();

    family(out, "comet_publishes_refused_total", "counter",
           "Publishes this process answered with an error status, by status.");
    for (int s = METRICS_STATUS_MIN; s <= METRICS_STATUS_MAX; s++) {
        long long n = atomic_load(&refused[s - METRICS_STATUS_MIN]);
        if (n)
            sample(out, "comet_publishes_refused_total{status=\"%d\",pid=\"%d\"} %lld\n", s, pid, n);
    }
}

static void render_waiting(struct buf *out, const json_t *st)
{
    const json_t *by = json_object_get(st, "waiting_by"), *w = json_object_get(st, "worker");
    const char *name;
    json_t *v;

    family(out, "comet_waiting_requests", "gauge", "Requests waiting now on all nodes, by transport.");
    json_object_foreach((json_t *)by, name, v)
        sample(out, "comet_waiting_requests{transport=\"%s\"} %lld\n", name, (long long)json_integer_value(v));
    family(out, "comet_worker_up", "gauge", "1 when a worker's heartbeat is within the lease.");
    sample(out, "comet_worker_up %d\n", json_is_true(json_object_get(w, "alive")));
    family(out, "comet_worker_lag_seconds", "gauge", "Age of the oldest queued publish (0: none queued).");
    sample(out, "comet_worker_lag_seconds %.3f\n", (double)json_integer_value(json_object_get(w, "lag_ms")) / 1000);
}

static void render_process(struct buf *out, long long rtt_ms)
{
    int pid = (int)getpid();

    family(out, "comet_build_info", "gauge", "The release of the comet.fcgi that answered.");
    sample(out, "comet_build_info{version=\"%s\"} 1\n", comet_version);
    family(out, "comet_redis_roundtrip_seconds", "gauge", "This process's round trip to Redis for this scrape.");
    sample(out, "comet_redis_roundtrip_seconds{pid=\"%d\"} %.6f\n", pid, (double)rtt_ms / 1000);
    family(out, "process_start_time_seconds", "gauge", "When this process started, in Unix seconds.");
    sample(out, "process_start_time_seconds{pid=\"%d\"} %.3f\n", pid, (double)started_ms / 1000);
}

void metrics_render(struct buf *out, const json_t *stats, long long rtt_ms)
{
    render_singles(out, stats);
    render_refused(out);
    render_waiting(out, stats);
    render_process(out, rtt_ms);
}
