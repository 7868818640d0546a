/* reply: the status line and headers of every answer, and JSON bodies. Handlers
 * decide what to say; this file decides how it is framed for the web server. Every
 * answer carries the CORS lines of its request (NULL for none), given by the caller. */
#ifndef COMET_REPLY_H
#define COMET_REPLY_H

#include <fcgiapp.h>
#include <jansson.h>

#include "buf.h"

/* Appends a CGI head to out: status, type, caching (stream: no-cache and
 * X-Accel-Buffering: no, for a response that stays open; else no-store), nosniff, the
 * cors lines and extra lines (either NULL; each line ends "\r\n"), the blank line. */
void reply_head(struct buf *out, int status, const char *type, int stream, const char *cors,
                const char *extra);

/* The status of the last head this thread appended (0 before any): what a handler
 * answered, for counting it (metrics.c) without every answer returning it. */
int reply_last_status(void);

/* Appends a whole JSON answer. Steals body; NULL only when a message was not valid
 * UTF-8, which is never echoed: {"error":"invalid request"} instead. */
void reply_json_to(struct buf *out, int status, const char *cors, json_t *body, const char *extra);

/* Appends a whole answer {"error": msg} with status; msg is JSON-escaped, so input
 * echoed in it cannot break out. */
void reply_error_to(struct buf *out, int status, const char *cors, const char *extra, const char *msg);

/* Appends the 503 every endpoint gives while Redis is unreachable, with Retry-After. */
void reply_unavailable_to(struct buf *out, const char *cors);

/* Writes a whole JSON answer to a request's output. Steals body (decrefs it). */
void reply_json(FCGX_Stream *out, const char *cors, int status, json_t *body, const char *extra);

/* reply_error_to, written to a request's output; msg is formatted from fmt. */
void reply_error(FCGX_Stream *out, const char *cors, int status, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The 429 a waiting request gets when its client address holds its most: Retry-After
 * is retry_ms in whole seconds, from 1 to 30 (a slot may free sooner). */
void reply_waiting_full_to(struct buf *out, const char *cors, long long retry_ms);
void reply_waiting_full(FCGX_Stream *out, const char *cors, long long retry_ms);

/* reply_unavailable_to, written to a request's output. */
void reply_unavailable(FCGX_Stream *out, const char *cors);

#endif
