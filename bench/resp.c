/* resp: the HTTP/1.1 response state machine (status line, headers, Content-Length,
 * chunked and read-until-close bodies). Header values other than the handful the
 * benchmark reads are skipped; connections and buffering are loadgen.c's. */
#include "resp.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    RS_STATUS,     /* gathering the status line */
    RS_HEADER,     /* gathering header lines until the empty one */
    RS_LENGTH,     /* inside a Content-Length body */
    RS_CHUNK_SIZE, /* gathering a chunk-size line */
    RS_CHUNK_DATA, /* inside a chunk */
    RS_CHUNK_END,  /* the CRLF after a chunk's data */
    RS_TRAILER,    /* trailer lines after the last chunk */
    RS_UNTIL_EOF,  /* a body that the connection's close ends */
    RS_END,        /* complete: RESP_END is due */
    RS_DEAD
};

void resp_reset(struct resp *r)
{
    r->state = RS_STATUS;
    r->status = 0;
    r->keep_alive = 1;
    r->chunked = 0;
    r->left = -1;
    r->llen = 0;
    r->last_modified[0] = r->etag[0] = '\0';
}

/* Copies value into dst (size n), cut to fit. */
static void copy_value(char *dst, size_t n, const char *value)
{
    size_t len = strlen(value);

    if (len >= n)
        len = n - 1;
    memcpy(dst, value, len);
    dst[len] = '\0';
}

/* One "Name: value" line; names the benchmark does not need are ignored. */
static int header(struct resp *r, char *line)
{
    char *colon = strchr(line, ':'), *v, *end;

    if (!colon)
        return -1;
    *colon = '\0';
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
        ;
    for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
        ;
    *end = '\0';
    if (strcasecmp(line, "content-length") == 0) {
        r->left = strtoll(v, &end, 10);
        if (*end || r->left < 0)
            return -1;
    } else if (strcasecmp(line, "transfer-encoding") == 0) {
        r->chunked = strcasestr(v, "chunked") != NULL;
    } else if (strcasecmp(line, "connection") == 0) {
        if (strcasestr(v, "close"))
            r->keep_alive = 0;
        else if (strcasestr(v, "keep-alive"))
            r->keep_alive = 1;
    } else if (strcasecmp(line, "last-modified") == 0) {
        copy_value(r->last_modified, sizeof r->last_modified, v);
    } else if (strcasecmp(line, "etag") == 0) {
        copy_value(r->etag, sizeof r->etag, v);
    }
    return 0;
}

/* The empty line after the headers: picks how the body is delimited (RFC 9112 6.3). */
static enum resp_event head_done(struct resp *r)
{
    if (r->status >= 100 && r->status < 200) { /* an interim response: the real one follows */
        resp_reset(r);
        return RESP_NEED;
    }
    if (r->status == 204 || r->status == 304)
        r->state = RS_END;
    else if (r->chunked)
        r->state = RS_CHUNK_SIZE;
    else if (r->left >= 0)
        r->state = r->left ? RS_LENGTH : RS_END;
    else {
        r->state = RS_UNTIL_EOF;
        r->keep_alive = 0;
    }
    return RESP_HEAD;
}

/* A complete line in r->line (CR removed) for the line-gathering states. */
static enum resp_event line_done(struct resp *r)
{
    char *line = r->line, *end;
    int minor;
    unsigned long long size;

    switch (r->state) {
    case RS_STATUS:
        if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) || line[8] != ' ' ||
            !isdigit((unsigned char)line[9]))
            return RESP_BAD;
        minor = line[7] - '0';
        r->status = (int)strtol(line + 9, NULL, 10);
        r->keep_alive = minor >= 1;
        r->state = RS_HEADER;
        return RESP_NEED;
    case RS_HEADER:
        if (!*line)
            return head_done(r);
        return header(r, line) < 0 ? RESP_BAD : RESP_NEED;
    case RS_CHUNK_SIZE:
        size = strtoull(line, &end, 16);
        if (end == line || (*end && *end != ';' && *end != ' ') || size > (1ULL << 40))
            return RESP_BAD;
        r->left = (long long)size;
        r->state = size ? RS_CHUNK_DATA : RS_TRAILER;
        return RESP_NEED;
    case RS_CHUNK_END:
        if (*line)
            return RESP_BAD;
        r->state = RS_CHUNK_SIZE;
        return RESP_NEED;
    case RS_TRAILER:
        if (!*line)
            r->state = RS_END;
        return RESP_NEED;
    default:
        return RESP_BAD;
    }
}

/* Gathers bytes of the current line; returns the line's event once its LF is in. */
static enum resp_event take_line(struct resp *r, const char *in, size_t n, size_t *used)
{
    const char *lf = memchr(in, '\n', n);
    size_t take = lf ? (size_t)(lf - in) : n, room = sizeof r->line - 1 - r->llen;

    memcpy(r->line + r->llen, in, take < room ? take : room);
    r->llen += take < room ? take : room;
    *used = lf ? take + 1 : n;
    if (!lf)
        return RESP_NEED;
    if (r->llen && r->line[r->llen - 1] == '\r')
        r->llen--;
    r->line[r->llen] = '\0';
    r->llen = 0;
    return line_done(r);
}

enum resp_event resp_feed(struct resp *r, const char *in, size_t n, size_t *used,
                          const char **body, size_t *blen)
{
    size_t off = 0, step;
    enum resp_event ev;

    *body = NULL;
    *blen = 0;
    for (;;) {
        switch (r->state) {
        case RS_END:
            r->state = RS_DEAD;
            *used = off;
            return RESP_END;
        case RS_DEAD:
            *used = off;
            return RESP_BAD;
        case RS_LENGTH:
        case RS_CHUNK_DATA:
        case RS_UNTIL_EOF:
            if (off == n)
                break;
            step = n - off;
            if (r->state != RS_UNTIL_EOF && (long long)step > r->left)
                step = (size_t)r->left;
            *body = in + off;
            *blen = step;
            *used = off + step;
            if (r->state != RS_UNTIL_EOF && (r->left -= (long long)step) == 0)
                r->state = r->state == RS_LENGTH ? RS_END : RS_CHUNK_END;
            return RESP_DATA;
        default:
            if (off == n)
                break;
            ev = take_line(r, in + off, n - off, &step);
            off += step;
            if (ev == RESP_BAD)
                r->state = RS_DEAD;
            if (ev != RESP_NEED) {
                *used = off;
                return ev;
            }
            continue;
        }
        *used = off;
        return RESP_NEED;
    }
}

int resp_eof(const struct resp *r)
{
    return r->state == RS_UNTIL_EOF;
}
