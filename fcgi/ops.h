/* ops: the endpoints for operators and the backend, each one Redis command (ask.h):
 * GET /stats and /metrics, behind COMET_STATS_KEY / COMET_STATS_ALLOW when either is
 * set (public otherwise, as /stats always was); GET /channel, GET /channels and DELETE
 * /channel with a publish key. */
#ifndef COMET_OPS_H
#define COMET_OPS_H

#include <fcgiapp.h>

#include "config.h"

/* Each answers req (405, 401, 403, 400, then the command's answer or 503). Returns 1
 * when the hub took req (external): the caller must not finish it. */
int ops_stats(FCGX_Request *req, const struct config *cfg, const char *cors, int external);
int ops_metrics(FCGX_Request *req, const struct config *cfg, const char *cors, int external);
int ops_channel(FCGX_Request *req, const struct config *cfg, const char *cors, int external);
int ops_channels(FCGX_Request *req, const struct config *cfg, const char *cors, int external);

/* The status page's and the status channel's guard (ENVELOPE_STATUS): the stats key
 * (Authorization: Bearer, else key, from the caller's query; may be NULL) or an address
 * of COMET_STATS_ALLOW, and closed while neither setting is set. Returns 1, or 0 after
 * answering 401 or 403. */
int ops_status_guard(FCGX_Request *req, const struct config *cfg, const char *cors, const char *key);

#endif
