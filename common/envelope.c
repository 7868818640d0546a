/* envelope: validation of names, building of the envelope tail, and reading back the
 * fixed head of envelopes. Pure; no I/O. Because channel names and types come from
 * charsets that need no JSON escaping, the head has one fixed layout. */
#include "envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static int in_charset(const char *s, size_t len, size_t max, const char *extra)
{
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              (ch && strchr(extra, ch))))
            return 0;
    }
    return 1;
}

int envelope_channel_valid(const char *s, size_t len)
{
    return in_charset(s, len, ENVELOPE_CHANNEL_MAX, "_-.:/@");
}

int envelope_type_valid(const char *s, size_t len)
{
    return in_charset(s, len, ENVELOPE_TYPE_MAX, "_-.:") && !(len >= 6 && memcmp(s, "comet-", 6) == 0);
}

char *envelope_tail(const char *channel, const char *type, const json_t *data)
{
    char *json = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    char *tail;
    size_t len;

    if (!json)
        return NULL;
    len = strlen(channel) + strlen(type) + strlen(json) + 40;
    tail = xmalloc(len);
    snprintf(tail, len, "\"channel\":\"%s\",\"event\":\"%s\",\"data\":%s}", channel, type, json);
    free(json);
    return tail;
}

/* Returns a pointer past `prefix` then a string up to the next quote, or NULL. */
static const char *field(const char *p, const char *end, const char *prefix, const char **val,
                         size_t *vlen)
{
    size_t plen = strlen(prefix);
    const char *q;

    if ((size_t)(end - p) < plen || memcmp(p, prefix, plen) != 0)
        return NULL;
    p += plen;
    q = memchr(p, '"', (size_t)(end - p));
    if (!q)
        return NULL;
    *val = p;
    *vlen = (size_t)(q - p);
    return q + 1;
}

int envelope_head(const char *env, size_t len, struct cursor *id, const char **type, size_t *typelen)
{
    const char *end = env + len, *p, *v;
    size_t vlen;

    if (!(p = field(env, end, "{\"id\":\"", &v, &vlen)) || cursor_parse(v, vlen, id) < 0)
        return -1;
    if (!(p = field(p, end, ",\"channel\":\"", &v, &vlen)))
        return -1;
    if (!field(p, end, ",\"event\":\"", type, typelen))
        return -1;
    return 0;
}
