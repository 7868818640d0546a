/* reply: the status line and headers of every answer, and JSON bodies. Handlers
 * decide what to say; this file decides how it is framed for the web server. */
#ifndef COMET_REPLY_H
#define COMET_REPLY_H

#include <fcgiapp.h>
#include <jansson.h>

/* Sets the CORS header lines every answer to the current request carries (NULL for
 * none); set once per request, before anything is written, by the thread answering it. */
void reply_cors(const char *lines);

/* Formats a CGI head into buf (size len): status, type, caching (stream: no-cache and
 * X-Accel-Buffering: no; else no-store), cors lines and extra lines (either NULL).
 * Returns the length. For requests answered outside libfcgi. */
int reply_format(char *buf, size_t len, int status, const char *type, int stream, const char *cors,
                 const char *extra);

/* Writes the CGI status and headers, with extra header lines (each ending "\r\n")
 * when extra is not NULL, and the blank line. */
void reply_head(FCGX_Stream *out, int status, const char *type, const char *extra);

/* Like reply_head for a 200 response that stays open: no caching, and no buffering
 * by an nginx in front (X-Accel-Buffering). */
void reply_stream_head(FCGX_Stream *out, const char *type);

/* Writes a whole JSON answer. Steals body (decrefs it). */
void reply_json(FCGX_Stream *out, int status, json_t *body, const char *extra);

/* Writes {"error": message} with status; message is JSON-escaped, so input echoed
 * in it cannot break out. */
void reply_error(FCGX_Stream *out, int status, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The 429 a waiting request gets when its client address holds its most: Retry-After
 * is retry_ms in whole seconds, from 1 to 30 (a slot may free sooner). */
void reply_waiting_full(FCGX_Stream *out, long long retry_ms);

/* The 503 every endpoint gives while Redis is unreachable. */
void reply_unavailable(FCGX_Stream *out);

#endif
