/* reply: CGI-style response heads and JSON bodies over libfcgi streams. */
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
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

static const char *cors = "";

void reply_cors(const char *lines)
{
    cors = lines ? lines : "";
}

static void reply_head_cache(FCGX_Stream *out, int status, const char *type, const char *cache,
                             const char *extra)
{
    FCGX_FPrintF(out, "Status: %d %s\r\nContent-Type: %s\r\nX-Content-Type-Options: nosniff\r\n%s%s%s\r\n",
                 status, reason(status), type, cache, cors, extra ? extra : "");
}

void reply_head(FCGX_Stream *out, int status, const char *type, const char *extra)
{
    reply_head_cache(out, status, type, "Cache-Control: no-store\r\n", extra);
}

void reply_stream_head(FCGX_Stream *out, const char *type)
{
    reply_head_cache(out, 200, type, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n", NULL);
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

void reply_unavailable(FCGX_Stream *out)
{
    reply_error(out, 503, "Retry-After: 1\r\n", "the event store (Redis) is unreachable; retry shortly");
}
