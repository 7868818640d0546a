/* frame: per-transport framing and the escaping that keeps event data inside it. */
#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "xalloc.h"

void frame_reset(struct frame *f)
{
    f->len = 0;
}

void frame_free(struct frame *f)
{
    free(f->s);
    memset(f, 0, sizeof *f);
}

void frame_append(struct frame *f, const char *s, size_t len)
{
    if (f->len + len + 1 > f->cap) {
        f->cap = (f->len + len + 1) * 2;
        f->s = xrealloc(f->s, f->cap);
    }
    memcpy(f->s + f->len, s, len);
    f->len += len;
    f->s[f->len] = 0;
}

static void frame_puts(struct frame *f, const char *s)
{
    frame_append(f, s, strlen(s));
}

const char *frame_content_type(enum frame_kind k)
{
    switch (k) {
    case FRAME_SSE: return "text/event-stream";
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

void frame_script_json(struct frame *f, const char *json, size_t len)
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
            frame_append(f, json + start, i - start);
            frame_puts(f, esc);
            i += skip - 1;
            start = i + 1;
        }
    }
    frame_append(f, json + start, len - start);
}

void frame_prelude(struct frame *f, enum frame_kind k, int retry_ms)
{
    char buf[2100];

    if (k == FRAME_SSE) {
        snprintf(buf, sizeof buf, "retry: %d\n\n", retry_ms);
    } else if (k == FRAME_LINES) {
        memset(buf, ' ', 2048);
        strcpy(buf + 2048, "\n");
    } else {
        int n = snprintf(buf, sizeof buf, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><!--");
        memset(buf + n, ' ', 1024);
        strcpy(buf + n + 1024, "-->\n");
    }
    frame_puts(f, buf);
}

/* Appends one JSON frame in the transport's wrapping. */
static void frame_json(struct frame *f, enum frame_kind k, const char *cb, const char *json, size_t len)
{
    if (k == FRAME_IFRAME) {
        frame_puts(f, "<script>parent.");
        frame_puts(f, cb);
        frame_puts(f, "(");
        frame_script_json(f, json, len);
        frame_puts(f, ");</script>\n");
    } else {
        frame_append(f, json, len);
        frame_puts(f, "\n");
    }
}

int frame_event(struct frame *f, enum frame_kind k, const char *cb, const char *env, size_t len)
{
    struct cursor id;
    const char *type;
    size_t tlen;
    char ids[CURSOR_MAX];

    if (envelope_head(env, len, &id, &type, &tlen) < 0 || memchr(env, '\n', len) || memchr(env, '\r', len))
        return -1;
    if (k != FRAME_SSE) {
        frame_json(f, k, cb, env, len);
        return 0;
    }
    cursor_format(id, ids);
    frame_puts(f, "id: ");
    frame_puts(f, ids);
    if (!(tlen == 7 && memcmp(type, "message", 7) == 0)) {
        frame_puts(f, "\nevent: ");
        frame_append(f, type, tlen);
    }
    frame_puts(f, "\ndata: ");
    frame_append(f, env, len);
    frame_puts(f, "\n\n");
    return 0;
}

/* A server signal: the JSON frame, or in SSE the event comet-NAME (with an id: line
 * when id is not NULL). */
static void frame_signal(struct frame *f, enum frame_kind k, const char *cb, const char *id, const char *name,
                         const char *json)
{
    if (k != FRAME_SSE) {
        frame_json(f, k, cb, json, strlen(json));
        return;
    }
    if (id) {
        frame_puts(f, "id: ");
        frame_puts(f, id);
        frame_puts(f, "\n");
    }
    frame_puts(f, "event: comet-");
    frame_puts(f, name);
    frame_puts(f, "\ndata: ");
    frame_puts(f, json);
    frame_puts(f, "\n\n");
}

void frame_open(struct frame *f, enum frame_kind k, const char *cb, struct cursor c)
{
    char ids[CURSOR_MAX], json[CURSOR_MAX + 32];

    cursor_format(c, ids);
    snprintf(json, sizeof json, "{\"cursor\":\"%s\",\"open\":true}", ids);
    /* The id: line makes it EventSource's last event id, so a quiet stream resumes here. */
    frame_signal(f, k, cb, ids, "open", json);
}

void frame_truncated(struct frame *f, enum frame_kind k, const char *cb)
{
    frame_signal(f, k, cb, NULL, "truncated", "{\"truncated\":true}");
}

void frame_expired(struct frame *f, enum frame_kind k, const char *cb)
{
    frame_signal(f, k, cb, NULL, "expired", "{\"expired\":true}");
}

void frame_ping(struct frame *f, enum frame_kind k)
{
    frame_puts(f, k == FRAME_SSE ? ": ping\n\n" : k == FRAME_LINES ? "\n" : "<!---->\n");
}

void frame_padding(struct frame *f, enum frame_kind k, size_t n)
{
    static const char spaces[256] = {[0 ... 255] = ' '};
    const char *open = k == FRAME_SSE ? ":" : k == FRAME_LINES ? "" : "<!--";
    const char *close = k == FRAME_SSE ? "\n\n" : k == FRAME_LINES ? "\n" : "-->\n";

    frame_puts(f, open);
    for (size_t done = 0; done < n; done += sizeof spaces)
        frame_append(f, spaces, n - done < sizeof spaces ? n - done : sizeof spaces);
    frame_puts(f, close);
}

void frame_poll_begin(struct frame *f)
{
    frame_puts(f, "{\"events\":[");
}

void frame_poll_add(struct frame *f, int n, const char *env, size_t len)
{
    if (n)
        frame_puts(f, ",");
    frame_append(f, env, len);
}

void frame_poll_end(struct frame *f, struct cursor c, int truncated)
{
    char ids[CURSOR_MAX];

    cursor_format(c, ids);
    frame_puts(f, "],\"cursor\":\"");
    frame_puts(f, ids);
    frame_puts(f, truncated ? "\",\"truncated\":true}" : "\"}");
}

void frame_jsonp(struct frame *f, const char *cb, const char *json, size_t len)
{
    frame_puts(f, "/**/");
    frame_puts(f, cb);
    frame_puts(f, "(");
    frame_script_json(f, json, len);
    frame_puts(f, ");\n");
}
