/* frame: per-transport framing and the escaping that keeps event data inside it. */
#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "xalloc.h"

/* Both SSE kinds frame everything but envelopes alike. */
static int is_sse(enum frame_kind k)
{
    return k == FRAME_SSE || k == FRAME_SSE_UNTYPED;
}

const char *frame_kind_name(enum frame_kind k)
{
    return k == FRAME_POLL ? "poll" : k == FRAME_LINES ? "stream" : k == FRAME_IFRAME ? "iframe" : "sse";
}

const char *frame_content_type(enum frame_kind k, const char *cb)
{
    switch (k) {
    case FRAME_POLL: return cb ? "application/javascript; charset=utf-8" : "application/json";
    case FRAME_SSE:
    case FRAME_SSE_UNTYPED: return "text/event-stream";
    case FRAME_LINES: return "text/plain; charset=utf-8";
    default: return "text/html; charset=utf-8";
    }
}

int frame_callback_valid(const char *cb)
{
    int parts = 1;
    size_t i = 0, len = strlen(cb);

    if (len == 0 || len > 128)
        return 0;
    for (const char *p = cb; *p; p++, i++) {
        int c = (unsigned char)*p;
        if (c == '.') {
            if (i == 0 || ++parts > 4)
                return 0;
            i = (size_t)-1;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
                     (c >= '0' && c <= '9' && i > 0))) {
            return 0;
        }
    }
    return cb[len - 1] != '.';
}

void frame_script_json(struct buf *f, const char *json, size_t len)
{
    size_t start = 0;

    for (size_t i = 0; i < len; i++) {
        const char *esc = NULL;
        size_t skip = 1;
        if (json[i] == '<') {
            esc = "\\u003c";
        } else if ((unsigned char)json[i] == 0xe2 && i + 2 < len && (unsigned char)json[i + 1] == 0x80 &&
                   ((unsigned char)json[i + 2] == 0xa8 || (unsigned char)json[i + 2] == 0xa9)) {
            esc = (unsigned char)json[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (esc) {
            buf_append(f, json + start, i - start);
            buf_puts(f, esc);
            i += skip - 1;
            start = i + 1;
        }
    }
    buf_append(f, json + start, len - start);
}

void frame_prelude(struct buf *f, enum frame_kind k, int retry_ms)
{
    char buf[2100];

    if (is_sse(k)) {
        snprintf(buf, sizeof buf, "retry: %d\n\n", retry_ms);
    } else if (k == FRAME_LINES) {
        memset(buf, ' ', 2048);
        strcpy(buf + 2048, "\n");
    } else {
        int n = snprintf(buf, sizeof buf, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><!--");
        memset(buf + n, ' ', 1024);
        strcpy(buf + n + 1024, "-->\n");
    }
    buf_puts(f, buf);
}

/* Appends one JSON frame in the transport's wrapping. */
static void frame_json(struct buf *f, enum frame_kind k, const char *cb, const char *json, size_t len)
{
    if (k == FRAME_IFRAME) {
        buf_puts(f, "<script>parent.");
        buf_puts(f, cb);
        buf_puts(f, "(");
        frame_script_json(f, json, len);
        buf_puts(f, ");</script>\n");
    } else {
        buf_append(f, json, len);
        buf_puts(f, "\n");
    }
}

int frame_event(struct buf *f, enum frame_kind k, const char *cb, const char *env, size_t len)
{
    struct cursor id;
    const char *type;
    size_t tlen;
    char ids[CURSOR_MAX];

    if (envelope_head(env, len, &id, &type, &tlen) < 0 || memchr(env, '\n', len) || memchr(env, '\r', len))
        return -1;
    if (!is_sse(k)) {
        frame_json(f, k, cb, env, len);
        return 0;
    }
    cursor_format(id, ids);
    buf_puts(f, "id: ");
    buf_puts(f, ids);
    if (k == FRAME_SSE && !(tlen == 7 && memcmp(type, "message", 7) == 0)) {
        buf_puts(f, "\nevent: ");
        buf_append(f, type, tlen);
    }
    buf_puts(f, "\ndata: ");
    buf_append(f, env, len);
    buf_puts(f, "\n\n");
    return 0;
}

/* A server signal: the JSON frame, or in SSE the event comet-NAME (with an id: line
 * when id is not NULL). */
static void frame_signal(struct buf *f, enum frame_kind k, const char *cb, const char *id, const char *name,
                         const char *json)
{
    if (!is_sse(k)) {
        frame_json(f, k, cb, json, strlen(json));
        return;
    }
    if (id) {
        buf_puts(f, "id: ");
        buf_puts(f, id);
        buf_puts(f, "\n");
    }
    buf_puts(f, "event: comet-");
    buf_puts(f, name);
    buf_puts(f, "\ndata: ");
    buf_puts(f, json);
    buf_puts(f, "\n\n");
}

void frame_open(struct buf *f, enum frame_kind k, const char *cb, struct cursor c)
{
    char ids[CURSOR_MAX], json[CURSOR_MAX + 32];

    cursor_format(c, ids);
    snprintf(json, sizeof json, "{\"cursor\":\"%s\",\"open\":true}", ids);
    /* The id: line makes it EventSource's last event id, so a quiet stream resumes here. */
    frame_signal(f, k, cb, ids, "open", json);
}

void frame_truncated(struct buf *f, enum frame_kind k, const char *cb)
{
    frame_signal(f, k, cb, NULL, "truncated", "{\"truncated\":true}");
}

void frame_expired(struct buf *f, enum frame_kind k, const char *cb)
{
    frame_signal(f, k, cb, NULL, "expired", "{\"expired\":true}");
}

void frame_ping(struct buf *f, enum frame_kind k)
{
    if (k == FRAME_WS)
        return;
    buf_puts(f, is_sse(k) ? ": ping\n\n" : k == FRAME_LINES ? "\n" : "<!---->\n");
}

void frame_padding(struct buf *f, enum frame_kind k, size_t n)
{
    static const char spaces[256] = {[0 ... 255] = ' '};
    const char *open = is_sse(k) ? ":" : k == FRAME_LINES ? "" : "<!--";
    const char *close = is_sse(k) ? "\n\n" : k == FRAME_LINES ? "\n" : "-->\n";

    buf_puts(f, open);
    for (size_t done = 0; done < n; done += sizeof spaces)
        buf_append(f, spaces, n - done < sizeof spaces ? n - done : sizeof spaces);
    buf_puts(f, close);
}

void frame_poll_begin(struct buf *f)
{
    buf_puts(f, "{\"events\":[");
}

void frame_poll_add(struct buf *f, int n, const char *env, size_t len)
{
    if (n)
        buf_puts(f, ",");
    buf_append(f, env, len);
}

void frame_poll_end(struct buf *f, struct cursor c, int truncated)
{
    char ids[CURSOR_MAX];

    cursor_format(c, ids);
    buf_puts(f, "],\"cursor\":\"");
    buf_puts(f, ids);
    buf_puts(f, truncated ? "\",\"truncated\":true}" : "\"}");
}

void frame_jsonp(struct buf *f, const char *cb, const char *json, size_t len)
{
    buf_puts(f, "/**/");
    buf_puts(f, cb);
    buf_puts(f, "(");
    frame_script_json(f, json, len);
    buf_puts(f, ");\n");
}
