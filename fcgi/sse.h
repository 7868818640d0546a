/* sse: GET /sse, a text/event-stream of envelopes with heartbeats, ending itself
 * after the configured lifetime so that EventSource reconnects and resumes. */
#ifndef COMET_SSE_H
#define COMET_SSE_H

#include <fcgiapp.h>
#include <stddef.h>

#include "config.h"

void sse_handle(FCGX_Request *req, const struct config *cfg);

/* Frames one envelope as an SSE event ("id:", "event:" unless the type is message,
 * "data:", blank line) into buf (size cap). Returns the length, or -1 when env is
 * not an envelope or does not fit. Envelopes are one line of JSON, so one data:
 * line carries it whole. */
int sse_frame(const char *env, size_t len, char *buf, size_t cap);

#endif
