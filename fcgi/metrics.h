/* metrics: GET /metrics in the Prometheus text exposition format (0.0.4). What comes
 * from Redis (the /stats object) is cluster-wide; what one process counts (publishes
 * it refused, by status; its Redis round trip; its start) carries a pid label, since
 * any process of any node may answer a scrape. */
#ifndef COMET_METRICS_H
#define COMET_METRICS_H

#include <jansson.h>

#include "buf.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Notes the process's start (wall clock); once, at start. */
void metrics_init(void);

/* Counts a publish this process answered with status when it is a refusal (4xx, 5xx).
 * Thread-safe. */
void metrics_publish_answered(int status);

/* Appends the exposition to out: stats is store_stats_result's object (borrowed),
 * rtt_ms this process's round trip to Redis for it. */
void metrics_render(struct buf *out, const json_t *stats, long long rtt_ms);

#endif
