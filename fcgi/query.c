/* query: percent-decoding and validation of subscribe parameters. */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "xalloc.h"

#define CHARS_ID "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

static int hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes s[0..len) into dst ('+' is a space); returns the new length, or
 * -1 on a broken escape or a NUL byte. */
static long decode(const char *s, size_t len, char *dst)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0)
                return -1;
            c = hex(s[i + 1]) * 16 + hex(s[i + 2]);
            i += 2;
        }
        if (c == 0)
            return -1;
        dst[o++] = (char)c;
    }
    dst[o] = 0;
    return (long)o;
}

static int add_channel(struct query *q, char *name, size_t len, const struct config *cfg, char *err,
                       size_t errlen)
{
    size_t max = (size_t)cfg->max_channels;

    if (!envelope_channel_valid(name, len) || len > (size_t)cfg->channel_max) {
        snprintf(err, errlen, "channel: a name is 1 to %d bytes of A-Z a-z 0-9 _ - . : / @", cfg->channel_max);
        return -1;
    }
    for (size_t i = 0; i < q->nchannels; i++)
        if (strcmp(q->channels[i], name) == 0)
            return 0;
    if (q->nchannels == max) {
        snprintf(err, errlen, "channel: at most %zu channels in one request", max);
        return -1;
    }
    q->channels[q->nchannels++] = name;
    return 0;
}

static int set_cursor(const char *name, const char *v, size_t len, struct cursor *c, int *has,
                      char *err, size_t errlen)
{
    if (cursor_parse(v, len, c) < 0) {
        snprintf(err, errlen, "%s: not a cursor (use the cursor or id the server sent, or 0)", name);
        return -1;
    }
    *has = 1;
    return 0;
}

/* A whole number from 0 to max, or -1. */
static long whole(const char *v, size_t len, long max)
{
    char *end;
    long n = strtol(v, &end, 10);

    return !len || *end || v[0] == '-' || v[0] == '+' || v[0] == ' ' || n < 0 || n > max ? -1 : n;
}

/* Applies one of /history's parameters (name is limit, before or after). */
static int apply_page(struct query *q, const char *name, char *v, size_t len, char *err, size_t errlen)
{
    long n;

    if (strcmp(name, "before") == 0)
        return set_cursor("before", v, len, &q->before, &q->has_before, err, errlen);
    if (strcmp(name, "after") == 0)
        return set_cursor("after", v, len, &q->after, &q->has_after, err, errlen);
    if ((n = whole(v, len, QUERY_LIMIT_MAX)) < 1) {
        snprintf(err, errlen, "limit: a whole number of events from 1 to %d", QUERY_LIMIT_MAX);
        return -1;
    }
    q->limit = (int)n;
    return 0;
}

/* Applies one decoded name=value pair. */
static int apply(struct query *q, const char *name, char *v, size_t len, const struct config *cfg,
                 char *err, size_t errlen)
{
    if (strcmp(name, "channel") == 0)
        return add_channel(q, v, len, cfg, err, errlen);
    if (strcmp(name, "since") == 0)
        return set_cursor("since", v, len, &q->since, &q->has_since, err, errlen);
    if (strcmp(name, "lastEventId") == 0)
        return len ? set_cursor("lastEventId", v, len, &q->last_event_id, &q->has_last_event_id,
                                err, errlen) : 0;
    if (strcmp(name, "limit") == 0 || strcmp(name, "before") == 0 || strcmp(name, "after") == 0)
        return apply_page(q, name, v, len, err, errlen);
    if (strcmp(name, "timeout") == 0) {
        long t = whole(v, len, 86400);
        if (t < 0) {
            snprintf(err, errlen, "timeout: expected whole seconds");
            return -1;
        }
        q->timeout = (int)t;
    } else if (strcmp(name, "wait") == 0) {
        q->wait = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
    } else if (strcmp(name, "typed") == 0) {
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
            snprintf(err, errlen, "typed: expected 0 or 1");
            return -1;
        }
        q->untyped = v[0] == '0';
    } else if (strcmp(name, "callback") == 0) {
        q->callback = v;
    } else if (strcmp(name, "token") == 0) {
        q->token = v;
    } else if (strcmp(name, "expires") == 0) {
        q->expires = v;
    } else if (strcmp(name, "sig") == 0) {
        q->sig = v;
    } else if (strcmp(name, "prefix") == 0) {
        q->prefix = v;
    } else if (strcmp(name, "cursor") == 0) {
        if (strspn(v, "0123456789") != len || len < 1 || len > 20) {
            snprintf(err, errlen, "cursor: expected the cursor of the previous page");
            return -1;
        }
        q->cursor = v;
    } else if (strcmp(name, "pid") == 0) {
        if (len < 1 || len > QUERY_PID_MAX || strspn(v, CHARS_ID) != len) {
            snprintf(err, errlen, "pid: expected 1 to %d letters, digits, _ or -", QUERY_PID_MAX);
            return -1;
        }
        q->pid = v;
    }
    return 0;
}

int query_parse(const char *qs, const struct config *cfg, struct query *q, char *err, size_t errlen)
{
    size_t len = qs ? strlen(qs) : 0;
    char *p;

    memset(q, 0, sizeof *q);
    q->timeout = -1;
    q->limit = -1;
    if (len > (size_t)cfg->max_query) {
        snprintf(err, errlen, "the query string is longer than %d bytes", cfg->max_query);
        return -1;
    }
    /* Each pair decodes to at most its own length plus two NULs. */
    q->storage = p = xmalloc(3 * len + 3);
    q->channels = xcalloc((size_t)cfg->max_channels, sizeof *q->channels);
    for (const char *s = qs; s && *s;) {
        const char *amp = strchr(s, '&'), *end = amp ? amp : s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(end - s));
        const char *vstart = eq ? eq + 1 : end;
        char *name = p, *value;
        long nlen = decode(s, (size_t)((eq ? eq : end) - s), name), vlen;

        if (nlen < 0 || (vlen = decode(vstart, (size_t)(end - vstart), value = name + nlen + 1)) < 0) {
            snprintf(err, errlen, "the query string has a broken %%-escape");
            return -1;
        }
        p = value + vlen + 1;
        if (apply(q, name, value, (size_t)vlen, cfg, err, errlen) < 0)
            return -1;
        s = amp ? amp + 1 : end;
    }
    return 0;
}

void query_free(struct query *q)
{
    free(q->storage);
    free(q->channels);
    memset(q, 0, sizeof *q);
}
