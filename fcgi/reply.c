/* reply: CGI-style response heads and JSON bodies over libfcgi streams. The CORS
 * lines are per request, so per thread. */
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
    default: return "Error";
    }
}

static _Thread_local const char *cors = "";

void reply_cors(const char *lines)
{
    cors = lines ? lines : "";
}

int reply_format(char *buf, size_t len, int status, const char *type, int stream, const char *cors_lines,
                 const char *extra)
{
    int n = snprintf(buf, len, "Status: %d %s\r\nContent-Type: %s\r\nX-Content-Type-Options: nosniff\r\n%s%s%s\r\n",
                     status, reason(status), type,
                     stream ? "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n" : "Cache-Control: no-store\r\n",
                     cors_lines ? cors_lines : "", extra ? extra : "");

    return n < 0 || (size_t)n >= len ? (int)len - 1 : n;
}

void reply_head(FCGX_Stream *out, int status, const char *type, const char *extra)
{
    char buf[2048];

    FCGX_PutStr(buf, reply_format(buf, sizeof buf, status, type, 0, cors, extra), out);
}

void reply_stream_head(FCGX_Stream *out, const char *type)
{
    char buf[2048];

    FCGX_PutStr(buf, reply_format(buf, sizeof buf, 200, type, 1, cors, NULL), out);
}

void reply_json(FCGX_Stream *out, int status, json_t *body, const char *extra)
{
    /* body is NULL only when a message was not valid UTF-8: never echo such input. */
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    reply_head(out, status, "application/json", extra);
    FCGX_PutS(text ? text : "{\"error\":\"invalid request\"}", out);
    FCGX_PutS("\n", out);
    free(text);
    json_decref(body);
}

void reply_error(FCGX_Stream *out, int status, const char *extra, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_json(out, status, json_pack("{s:s}", "error", msg), extra);
}

void reply_waiting_full(FCGX_Stream *out, long long retry_ms)
{
    char retry[40];
    long long secs = (retry_ms + 999) / 1000;

    snprintf(retry, sizeof retry, "Retry-After: %lld\r\n", secs < 1 ? 1 : secs > 30 ? 30 : secs);
    reply_error(out, 429, retry, "too many waiting requests from your address; close one or retry later");
}

void reply_unavailable(FCGX_Stream *out)
{
    reply_error(out, 503, "Retry-After: 1\r\n", "the event store (Redis) is unreachable; retry shortly");
}
