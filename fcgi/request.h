/* request: what every handler reads from a FastCGI request: method, endpoint, and
 * the subscribe parameters shared by long-poll and SSE. */
#ifndef COMET_REQUEST_H
#define COMET_REQUEST_H

#include <fcgiapp.h>

#include "config.h"
#include "query.h"

/* The last segment of the request path ("poll" for /comet/poll?x), written into buf
 * (size len). Routes the same under mod_fcgid, mod_proxy_fcgi and lighttpd. */
void request_endpoint(FCGX_Request *req, char *buf, size_t len);

/* 1 when the method is `method`; otherwise answers 405 with Allow and returns 0. */
int request_method(FCGX_Request *req, const char *method);

/* Reads stdin to EOF, so the FastCGI connection becomes readable only on hang-up. */
void request_drain(FCGX_Request *req);

/* Parses the query of a subscribe request and requires at least one channel.
 * Returns 0, or -1 after answering 400 (q must be freed with query_free either way). */
int request_subscribe(FCGX_Request *req, const struct config *cfg, struct query *q);

#endif
