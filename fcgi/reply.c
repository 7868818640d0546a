/* reply: CGI-style response heads and JSON bodies, built in a buf; the FCGX_* forms
 * write that buf to a request's output. */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

static _Thread_local int reply_status;

int reply_last_status(void)
{
    return reply_status;
}

void reply_head(struct buf *out, int status, const char *type, int stream, const char *cors, const char *extra)
{
    char line[160];

    reply_status = status;
    snprintf(line, sizeof line, "Status: %d %s\r\nContent-Type: %s\r\n", status, reason(status), type);
    buf_puts(out, line);
    buf_puts(out, "X-Content-Type-Options: nosniff\r\n");
    buf_puts(out, stream ? "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n" : "Cache-Control: no-store\r\n");
    buf_puts(out, cors ? cors : "");
    buf_puts(out, extra ? extra : "");
    buf_puts(out, "\r\n");
}

void reply_json_to(struct buf *out, int status, const char *cors, json_t *body, const char *extra)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    reply_head(out, status, "application/json", 0, cors, extra);
    buf_puts(out, text ? text : "{\"error\":\"invalid request\"}");
    buf_puts(out, "\n");
    free(text);
    json_decref(body);
}

void reply_error_to(struct buf *out, int status, const char *cors, const char *extra, const char *msg)
{
    reply_json_to(out, status, cors, json_pack("{s:s}", "error", msg), extra);
}

void reply_unavailable_to(struct buf *out, const char *cors)
{
    reply_error_to(out, 503, cors, "Retry-After: 1\r\n", "the event store (Redis) is unreachable; retry shortly");
}

/* Writes b to out and frees it. */
static void reply_send(FCGX_Stream *out, struct buf *b)
{
    FCGX_PutStr(b->s, (int)b->len, out);
    buf_free(b);
}

void reply_json(FCGX_Stream *out, const char *cors, int status, json_t *body, const char *extra)
{
    struct buf b = {0};

    reply_json_to(&b, status, cors, body, extra);
    reply_send(out, &b);
}

void reply_error(FCGX_Stream *out, const char *cors, int status, const char *extra, const char *fmt, ...)
{
    struct buf b = {0};
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_error_to(&b, status, cors, extra, msg);
    reply_send(out, &b);
}

void reply_waiting_full_to(struct buf *out, const char *cors, long long retry_ms)
{
    char retry[40];
    long long secs = (retry_ms + 999) / 1000;

    snprintf(retry, sizeof retry, "Retry-After: %lld\r\n", secs < 1 ? 1 : secs > 30 ? 30 : secs);
    reply_error_to(out, 429, cors, retry, "too many waiting requests from your address; close one or retry later");
}

void reply_waiting_full(FCGX_Stream *out, const char *cors, long long retry_ms)
{
    struct buf b = {0};

    reply_waiting_full_to(&b, cors, retry_ms);
    reply_send(out, &b);
}

void reply_unavailable(FCGX_Stream *out, const char *cors)
{
    struct buf b = {0};

    reply_unavailable_to(&b, cors);
    reply_send(out, &b);
}
