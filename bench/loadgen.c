/* loadgen: the benchmark's load generator. One process, one epoll loop, non-blocking
 * sockets to 127.0.0.1 only: N subscribers (SSE streams, long-poll loops or WebSockets, in
 * comet's or Nchan's protocol) on C channels, and P publisher connections that POST events carrying a
 * sequence number and a send time, at a rate or flat out. It counts deliveries, loss and
 * duplicates per subscriber and publish->deliver latency, and prints one JSON line on
 * stdout. HTTP parsing is resp.c's; starting servers and reading their memory is run.sh's. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "log.h"
#include "resp.h"
#include "seqset.h"
#include "wsframe.h"
#include "xalloc.h"

enum flavor { FL_COMET, FL_NCHAN };
enum mode { MODE_SSE, MODE_POLL, MODE_WS, MODE_PUBLISH };
enum phase { PH_CONNECT, PH_SETTLE, PH_WARMUP, PH_PUBLISH, PH_DRAIN, PH_DONE };
enum cstate { CS_CLOSED, CS_CONNECTING, CS_OPEN };

#define POLL_WAIT 30          /* comet long-poll timeout once live, seconds */
#define MAX_BODY (8u << 20)   /* a long-poll answer larger than this is an error */
#define RETRY_DELAY 1.0       /* seconds before a failed subscriber tries again */
#define WARMUP_MAX 10.0       /* seconds the warm-up publishes may take */
#define WARMUP_K (-1)         /* pub_k of a warm-up publish: counted nowhere */

struct opts {
    enum flavor flavor;
    enum mode mode;
    int subs, channels, pubconns, conc, port;
    double rate; /* publishes per second; 0: none (idle run); < 0: flat out */
    double duration, grace, connect_timeout, settle;
    long max_pub;
    const char *key, *prefix, *sse_path, *poll_path, *ws_path, *pub_path, *cdf_file, *ready_file, *label;
    const char *trace_file;
};

struct conn {
    int fd, state, is_pub, idx, chan;
    int ready;       /* subscriber: has been live at least once */
    int upgraded;    /* WebSocket subscriber: the 101 came; what follows is frames */
    int busy;        /* a request is outstanding */
    int answered;    /* responses completed on this connection */
    int resends;     /* publisher: times the current publish was re-sent */
    size_t got;      /* bytes of the current response so far */
    double retry_at; /* closed subscriber: when to reconnect (0: not scheduled) */
    size_t olen, ooff, ilen, icap;
    char *in;        /* SSE: the unfinished line; long-poll: the body so far */
    long pub_k;      /* publisher: index of the publish in flight */
    uint64_t sent_us;
    struct resp r;
    struct seqset seen;
    char lastid[64], cursor[64], lm[64], etag[64];
    char out[1024];
};

static struct {
    struct opts o;
    int ep;
    enum phase phase;
    double t0, now, ready_at, settle_end, warmup_end, pub_start, pub_end, drain_end, last_delivery;
    struct conn *subs, *pubs;
    struct seqset *pubok; /* per channel: sequence numbers the server accepted */
    long sent, pub_ok, pub_err;
    int started, nready;
    uint64_t errors, reconnects, deliveries, unique, dups, bad;
    struct hist lat, publat;
    FILE *trace; /* -t: one line per delivery */
} L;

static volatile sig_atomic_t stop_requested;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t real_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ---- connections ------------------------------------------------------------------ */

static void set_events(struct conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};

    epoll_ctl(L.ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Closes c's socket; abortive (RST) leaves no TIME_WAIT behind at the end of a run. */
static void conn_close(struct conn *c, int abortive)
{
    struct linger lg = {1, 0};

    if (c->fd >= 0) {
        if (abortive)
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(c->fd);
    }
    c->fd = -1;
    c->state = CS_CLOSED;
    c->answered = 0;
    c->ilen = 0;
    c->upgraded = 0;
}

/* Starts a non-blocking connect to 127.0.0.1:port. Returns 0, or -1 with errno. */
static int conn_open(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)L.o.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
        goto fail;
    if (epoll_ctl(L.ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
        goto fail;
    c->state = CS_CONNECTING;
    return 0;
fail:
    conn_close(c, 0);
    return -1;
}

static void sub_failed(struct conn *c, const char *why, int err);
static void pub_failed(struct conn *c, const char *why, int err);

static void conn_failed(struct conn *c, const char *why, int err)
{
    if (c->is_pub)
        pub_failed(c, why, err);
    else
        sub_failed(c, why, err);
}

static void sub_live(struct conn *c);

/* Writes what is left of c->out; waits for EPOLLOUT when the socket is full. */
static void conn_flush(struct conn *c)
{
    ssize_t n;

    while (c->ooff < c->olen) {
        n = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            set_events(c, EPOLLIN | EPOLLOUT);
            return;
        }
        if (n < 0) {
            conn_failed(c, "send", errno);
            return;
        }
        c->ooff += (size_t)n;
    }
    set_events(c, EPOLLIN);
    /* Nchan's long-poll says nothing until an event: once asked, it is waiting. */
    if (!c->is_pub && L.o.mode == MODE_POLL && L.o.flavor == FL_NCHAN)
        sub_live(c);
}

/* Sends the request in c->out, connecting first when c has no connection. */
static void conn_request(struct conn *c)
{
    c->ooff = 0;
    c->got = 0;
    c->busy = 1;
    c->ilen = 0;
    resp_reset(&c->r);
    if (c->state == CS_OPEN) {
        conn_flush(c);
        return;
    }
    if (c->state == CS_CLOSED && conn_open(c) < 0)
        conn_failed(c, "connect", errno);
}

/* Formats into c->out; a request that does not fit is a usage error (paths too long). */
static void out_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct conn *c, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(c->out, sizeof c->out, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof c->out) {
        log_error("request longer than %zu bytes: shorten the paths or the prefix", sizeof c->out);
        exit(2);
    }
    c->olen = (size_t)n;
}

/* The name of channel chan: PREFIX + number, or PREFIX + "warmup" for chan < 0. */
static void chan_name(char *dst, size_t n, int chan)
{
    if (chan < 0)
        snprintf(dst, n, "%swarmup", L.o.prefix);
    else
        snprintf(dst, n, "%s%d", L.o.prefix, chan);
}

/* Expands a path template: every "{ch}" becomes the channel's name. */
static void path_for(char *dst, size_t n, const char *tmpl, int chan)
{
    char name[160];
    size_t len = 0;
    const char *p;

    chan_name(name, sizeof name, chan);
    for (p = tmpl; *p && len + 1 < n; p++) {
        if (strncmp(p, "{ch}", 4) == 0) {
            len += (size_t)snprintf(dst + len, n - len, "%s", name);
            if (len >= n)
                len = n - 1;
            p += 3;
        } else
            dst[len++] = *p;
    }
    dst[len] = '\0';
}

/* ---- subscribers ------------------------------------------------------------------ */

static void sub_live(struct conn *c)
{
    if (c->ready)
        return;
    c->ready = 1;
    L.nready++;
}

/* The next request of subscriber c: an SSE stream (resuming from the last id seen) or
 * the next long-poll (from the last cursor). */
static void sub_request(struct conn *c)
{
    char path[512], extra[256] = "";
    const char *sep;

    c->retry_at = 0;
    if (L.phase == PH_DONE)
        return;
    if (L.o.mode == MODE_WS) {
        path_for(path, sizeof path, L.o.ws_path, c->chan);
        if (L.o.flavor == FL_COMET) /* from the start, or resume where the socket stopped */
            snprintf(extra, sizeof extra, "%ssince=%s", strchr(path, '?') ? "&" : "?", c->lastid[0] ? c->lastid : "0");
        out_printf(c, "GET %s%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                   path, extra, L.o.port);
    } else if (L.o.mode == MODE_SSE) {
        path_for(path, sizeof path, L.o.sse_path, c->chan);
        if (c->lastid[0])
            snprintf(extra, sizeof extra, "Last-Event-ID: %s\r\n", c->lastid);
        out_printf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n%s\r\n",
                   path, L.o.port, extra);
    } else if (L.o.flavor == FL_COMET) {
        /* The first poll (since=0, a fresh channel) answers after 1 s with a cursor: from
         * then on the subscriber is live and misses nothing, whenever its polls arrive. */
        path_for(path, sizeof path, L.o.poll_path, c->chan);
        sep = strchr(path, '?') ? "&" : "?";
        out_printf(c, "GET %s%ssince=%s&timeout=%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Accept: application/json\r\n\r\n",
                   path, sep, c->cursor[0] ? c->cursor : "0", c->ready ? POLL_WAIT : 1, L.o.port);
    } else {
        path_for(path, sizeof path, L.o.poll_path, c->chan);
        if (c->lm[0])
            snprintf(extra, sizeof extra, "If-Modified-Since: %s\r\nIf-None-Match: %s\r\n", c->lm,
                     c->etag);
        out_printf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n", path, L.o.port, extra);
    }
    conn_request(c);
}

static void sub_failed(struct conn *c, const char *why, int err)
{
    /* A kept-alive connection that the server closed before answering: ask again. */
    if (c->answered && !c->got && c->busy) {
        conn_close(c, 0);
        sub_request(c);
        return;
    }
    if (++L.errors <= 5)
        log_warn("subscriber %d: %s%s%s", c->idx, why, err ? ": " : "", err ? strerror(err) : "");
    conn_close(c, 0);
    c->busy = 0;
    c->retry_at = L.now + RETRY_DELAY;
}

/* Parses an unsigned decimal at *p (< end); advances *p. */
static uint64_t parse_u64(const char **p, const char *end)
{
    uint64_t v = 0;

    while (*p < end && **p == ' ')
        (*p)++;
    while (*p < end && **p >= '0' && **p <= '9')
        v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v;
}

/* One delivery of (seq, t) to subscriber c. */
static void delivered(struct conn *c, uint64_t seq, uint64_t t)
{
    uint64_t now = real_us();

    if (seq < 1 || seq > (uint64_t)L.o.max_pub) {
        L.bad++;
        return;
    }
    L.deliveries++;
    L.last_delivery = L.now;
    hist_add(&L.lat, now > t ? now - t : 0);
    if (L.trace)
        fprintf(L.trace, "%llu %llu\n", (unsigned long long)t, (unsigned long long)(now > t ? now - t : 0));
    if (seqset_add(&c->seen, (uint32_t)seq))
        L.unique++;
    else
        L.dups++;
}

/* Finds every {"seq":S,"t":T} in s[0..n): an SSE data line or a long-poll answer. */
static void scan_events(struct conn *c, const char *s, size_t n)
{
    const char *p = s, *end = s + n, *q;
    uint64_t seq;

    while ((p = memmem(p, (size_t)(end - p), "\"seq\":", 6))) {
        p += 6;
        seq = parse_u64(&p, end);
        q = memmem(p, (size_t)(end - p), "\"t\":", 4);
        if (!q)
            break;
        p = q + 4;
        delivered(c, seq, parse_u64(&p, end));
    }
}

/* Copies the SSE field value (after "name:" and one optional space) into dst. */
static void sse_value(char *dst, size_t n, const char *v, size_t len)
{
    if (len && *v == ' ') {
        v++;
        len--;
    }
    if (len >= n)
        len = n - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* Handles the complete lines of c->in and keeps the unfinished one. */
static void sse_lines(struct conn *c)
{
    char *p = c->in, *end = c->in + c->ilen, *lf;
    size_t len;

    while ((lf = memchr(p, '\n', (size_t)(end - p)))) {
        len = (size_t)(lf - p);
        if (len && p[len - 1] == '\r')
            len--;
        if (len >= 5 && memcmp(p, "data:", 5) == 0)
            scan_events(c, p + 5, len - 5);
        else if (len >= 3 && memcmp(p, "id:", 3) == 0)
            sse_value(c->lastid, sizeof c->lastid, p + 3, len - 3);
        else if (len == 17 && memcmp(p, "event: comet-open", 17) == 0)
            sub_live(c);
        p = lf + 1;
    }
    c->ilen = (size_t)(end - p);
    memmove(c->in, p, c->ilen);
}

/* Appends body bytes to c->in (grown as needed); -1 when that passes MAX_BODY. */
static int sub_append(struct conn *c, const char *b, size_t n)
{
    if (c->ilen + n > MAX_BODY)
        return -1;
    if (c->ilen + n > c->icap) {
        c->icap = c->icap ? c->icap * 2 : 1024;
        while (c->icap < c->ilen + n)
            c->icap *= 2;
        c->in = xrealloc(c->in, c->icap);
    }
    memcpy(c->in + c->ilen, b, n);
    c->ilen += n;
    return 0;
}

/* A long-poll answer is complete: take its events and cursor, poll again. */
static void poll_answered(struct conn *c)
{
    const char *cur, *endq, *end = c->in + c->ilen;
    int status = c->r.status;

    if (status == 200) {
        scan_events(c, c->in, c->ilen);
        if (L.o.flavor == FL_COMET) {
            cur = memmem(c->in, c->ilen, "\"cursor\":\"", 10);
            endq = cur ? memchr(cur + 10, '"', (size_t)(end - cur - 10)) : NULL;
            if (!endq || (size_t)(endq - cur - 10) >= sizeof c->cursor) {
                sub_failed(c, "long-poll answer without a cursor", 0);
                return;
            }
            memcpy(c->cursor, cur + 10, (size_t)(endq - cur - 10));
            c->cursor[endq - cur - 10] = '\0';
            sub_live(c);
        } else {
            snprintf(c->lm, sizeof c->lm, "%s", c->r.last_modified);
            snprintf(c->etag, sizeof c->etag, "%s", c->r.etag);
        }
    } else if (!(L.o.flavor == FL_NCHAN && (status == 304 || status == 408))) {
        char why[48];

        snprintf(why, sizeof why, "long-poll status %d", status);
        sub_failed(c, why, 0);
        return;
    }
    c->busy = 0;
    if (!c->r.keep_alive)
        conn_close(c, 0);
    if (L.phase != PH_DONE)
        sub_request(c);
}

/* Response events of subscriber c. Returns -1 when c's connection is gone. */
static int sub_event(struct conn *c, enum resp_event ev, const char *body, size_t blen)
{
    char why[48];

    switch (ev) {
    case RESP_HEAD:
        if (c->r.status == 200 && L.o.mode == MODE_SSE && L.o.flavor == FL_NCHAN)
            sub_live(c);
        if (c->r.status != 200 && L.o.mode == MODE_SSE) {
            snprintf(why, sizeof why, "stream status %d", c->r.status);
            sub_failed(c, why, 0);
            return -1;
        }
        return 0;
    case RESP_DATA:
        if (sub_append(c, body, blen) < 0) {
            sub_failed(c, "answer too large", 0);
            return -1;
        }
        if (L.o.mode == MODE_SSE)
            sse_lines(c);
        return 0;
    case RESP_END:
        c->answered++;
        if (L.o.mode == MODE_SSE) { /* the server ended the stream: resume where it stopped */
            L.reconnects++;
            conn_close(c, 0);
            sub_request(c);
            return -1;
        }
        poll_answered(c);
        return c->state == CS_OPEN && c->fd >= 0 ? 0 : -1;
    default:
        sub_failed(c, "malformed response", 0);
        return -1;
    }
}

/* One text message on a WebSocket: comet's frames of /stream (an envelope, whose id is
 * the resume point, or the open frame), or Nchan's message as published. */
static void ws_text(struct conn *c, const char *t, size_t n)
{
    const char *id = n > 8 && !memcmp(t, "{\"id\":\"", 7) ? t + 7 : NULL;
    const char *q = id ? memchr(id, '"', n - 7) : NULL;

    if (L.o.flavor == FL_COMET && memmem(t, n, "\"open\":true", 11) && !memmem(t, n, "\"seq\":", 6)) {
        sub_live(c);
        return;
    }
    if (q && (size_t)(q - id) < sizeof c->lastid) {
        memcpy(c->lastid, id, (size_t)(q - id));
        c->lastid[q - id] = '\0';
    }
    scan_events(c, t, n);
}

/* The frames in c->in after the 101: events, pings answered, a close ends the socket
 * (the subscriber reconnects, from its last id). Returns -1 when c's connection is gone. */
static int ws_frames(struct conn *c)
{
    const char *payload, *p = c->in;
    char pong[131];
    size_t plen, left = c->ilen;
    long len;
    int op;

    while ((len = wsframe_read(p, left, &op, &payload, &plen)) > 0) {
        if (op == WS_TEXT)
            ws_text(c, payload, plen);
        else if (op == WS_PING && plen <= 125)
            send(c->fd, pong, wsframe_control(pong, WS_PONG, payload, plen), MSG_NOSIGNAL);
        else if (op == WS_CLOSE) {
            L.reconnects++;
            conn_close(c, 0);
            sub_request(c);
            return -1;
        }
        p += len;
        left -= (size_t)len;
    }
    if (len < 0) {
        sub_failed(c, "malformed frame", 0);
        return -1;
    }
    memmove(c->in, p, left);
    c->ilen = left;
    return 0;
}

/* Bytes on a WebSocket subscriber: the upgrade's answer, then frames. */
static void ws_input(struct conn *c, const char *b, size_t n)
{
    const char *end;

    if (sub_append(c, b, n) < 0) {
        sub_failed(c, "frame too large", 0);
        return;
    }
    if (!c->upgraded) {
        if (!(end = memmem(c->in, c->ilen, "\r\n\r\n", 4)))
            return;
        if (c->ilen < 12 || memcmp(c->in + 9, "101", 3) != 0) {
            sub_failed(c, "upgrade refused", 0);
            return;
        }
        c->upgraded = 1;
        c->busy = 0;
        if (L.o.flavor == FL_NCHAN) /* Nchan says nothing until an event: upgraded is live */
            sub_live(c);
        c->ilen -= (size_t)(end + 4 - c->in);
        memmove(c->in, end + 4, c->ilen);
    }
    ws_frames(c);
}

/* ---- publishers ------------------------------------------------------------------- */

/* Sends publish number k (channel k % C, sequence k / C + 1) on c; WARMUP_K is a
 * publish to the warm-up channel that no subscriber listens to. */
static void pub_send(struct conn *c, long k)
{
    char path[512], body[512], name[160];
    int chan = k < 0 ? -1 : (int)(k % L.o.channels), blen;
    long seq = k < 0 ? 0 : k / L.o.channels + 1;

    c->pub_k = k;
    c->sent_us = real_us();
    path_for(path, sizeof path, L.o.pub_path, chan);
    if (L.o.flavor == FL_COMET) {
        chan_name(name, sizeof name, chan);
        blen = snprintf(body, sizeof body, "{\"channel\":\"%s\",\"data\":{\"seq\":%ld,\"t\":%llu}}",
                        name, seq, (unsigned long long)c->sent_us);
        out_printf(c, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                   path, L.o.port, L.o.key, blen, body);
    } else {
        blen = snprintf(body, sizeof body, "{\"seq\":%ld,\"t\":%llu}", seq,
                        (unsigned long long)c->sent_us);
        out_printf(c, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                   path, L.o.port, blen, body);
    }
    conn_request(c);
}

static void pub_failed(struct conn *c, const char *why, int err)
{
    int reused = c->answered;

    conn_close(c, 0);
    /* A kept-alive connection that the server closed before reading: send it again. */
    if (c->busy && !c->got && reused && c->resends < 3) {
        c->resends++;
        pub_send(c, c->pub_k);
        return;
    }
    if (c->pub_k == WARMUP_K)
        log_warn("warm-up publish: %s%s%s", why, err ? ": " : "", err ? strerror(err) : "");
    else if (++L.pub_err <= 5)
        log_warn("publish %ld: %s%s%s", c->pub_k, why, err ? ": " : "", err ? strerror(err) : "");
    c->busy = 0;
}

static int pub_event(struct conn *c, enum resp_event ev)
{
    int chan = (int)(c->pub_k % L.o.channels);

    if (ev == RESP_HEAD || ev == RESP_DATA)
        return 0;
    if (ev == RESP_BAD) {
        pub_failed(c, "malformed response", 0);
        return -1;
    }
    c->answered++;
    c->busy = 0;
    c->resends = 0;
    if (c->pub_k == WARMUP_K) {
        if (c->r.status < 200 || c->r.status >= 300)
            log_warn("warm-up publish: status %d", c->r.status);
    } else if (c->r.status >= 200 && c->r.status < 300) {
        seqset_add(&L.pubok[chan], (uint32_t)(c->pub_k / L.o.channels + 1));
        L.pub_ok++;
        hist_add(&L.publat, real_us() - c->sent_us);
    } else if (++L.pub_err <= 5) {
        log_warn("publish %ld: status %d", c->pub_k, c->r.status);
    }
    if (!c->r.keep_alive) {
        conn_close(c, 0);
        return -1;
    }
    return 0;
}

/* ---- the loop --------------------------------------------------------------------- */

static void on_input(struct conn *c)
{
    static char buf[256 * 1024];
    const char *body;
    size_t off = 0, used, blen;
    enum resp_event ev;
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        int err = n < 0 ? errno : 0;

        if (!c->is_pub && ((L.o.mode == MODE_SSE && c->got && resp_eof(&c->r)) ||
                           (L.o.mode == MODE_WS && c->upgraded))) {
            L.reconnects++;
            conn_close(c, 0);
            sub_request(c);
        } else
            conn_failed(c, n < 0 ? "recv" : "connection closed", err);
        return;
    }
    c->got += (size_t)n;
    if (!c->is_pub && L.o.mode == MODE_WS) {
        ws_input(c, buf, (size_t)n);
        return;
    }
    do {
        ev = resp_feed(&c->r, buf + off, (size_t)n - off, &used, &body, &blen);
        off += used;
        if (ev == RESP_NEED)
            return;
        if ((c->is_pub ? pub_event(c, ev) : sub_event(c, ev, body, blen)) < 0)
            return;
        if (ev == RESP_END && off < (size_t)n)
            resp_reset(&c->r); /* bytes past a response nobody asked for: read as the next */
    } while (off < (size_t)n || ev == RESP_HEAD || ev == RESP_DATA);
}

static void on_event(struct conn *c, uint32_t ev)
{
    int err = 0;
    socklen_t len = sizeof err;

    if (c->state == CS_CONNECTING) {
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            conn_failed(c, "connect", err);
            return;
        }
        c->state = CS_OPEN;
        conn_flush(c);
        return;
    }
    if ((ev & EPOLLOUT) && c->ooff < c->olen) {
        conn_flush(c);
        if (c->fd < 0)
            return;
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_input(c);
}

static struct conn *idle_publisher(void)
{
    for (int i = 0; i < L.o.pubconns; i++)
        if (!L.pubs[i].busy)
            return &L.pubs[i];
    return NULL;
}

/* Sends every publish that is due (all it can when flat out) on idle connections. */
static void publish_due(void)
{
    struct conn *c;
    long due = L.o.rate < 0 ? L.o.max_pub : (long)((L.now - L.pub_start) * L.o.rate) + 1;

    if (due > L.o.max_pub)
        due = L.o.max_pub;
    while (L.sent < due && (c = idle_publisher()))
        pub_send(c, L.sent++);
}

static uint64_t expected(void)
{
    uint64_t n = 0;

    for (int i = 0; i < L.o.subs; i++)
        if (L.subs[i].ready)
            n += L.pubok[L.subs[i].chan].count;
    return n;
}

static void write_ready_file(void)
{
    char tmp[4096];
    FILE *f;

    if (!L.o.ready_file)
        return;
    snprintf(tmp, sizeof tmp, "%s.tmp", L.o.ready_file);
    if (!(f = fopen(tmp, "w")) || fprintf(f, "%d %d\n", L.nready, L.o.subs) < 0 || fclose(f) != 0 ||
        rename(tmp, L.o.ready_file) < 0)
        log_error("%s: %s", L.o.ready_file, strerror(errno));
}

/* Phase changes, subscriber (re)starts and publishing; called after every epoll wait. */
static void tick(void)
{
    static double next_sweep;
    struct conn *c;
    int busy = 0;

    while (L.phase != PH_DONE && L.started < L.o.subs && L.started - L.nready < L.o.conc)
        sub_request(&L.subs[L.started++]);
    if (L.now >= next_sweep && L.phase != PH_DONE) {
        next_sweep = L.now + 0.05;
        for (int i = 0; i < L.started; i++) {
            c = &L.subs[i];
            if (c->state == CS_CLOSED && c->retry_at && c->retry_at <= L.now)
                sub_request(c);
        }
    }
    switch (L.phase) {
    case PH_CONNECT:
        if (L.nready < L.o.subs && L.now < L.t0 + L.o.connect_timeout)
            break;
        L.ready_at = L.now;
        log_info("%d of %d subscribers live after %.2f s", L.nready, L.o.subs, L.now - L.t0);
        write_ready_file();
        L.settle_end = L.now + L.o.settle;
        L.phase = PH_SETTLE;
        break;
    case PH_SETTLE:
        if (L.now < L.settle_end)
            break;
        /* One publish per connection first, all at once, so that no server measures the
         * start of its publish path (mod_fcgid spawning a process, say) as latency. */
        for (int i = 0; i < L.o.pubconns && L.o.rate != 0; i++)
            pub_send(&L.pubs[i], WARMUP_K);
        L.warmup_end = L.now + WARMUP_MAX;
        L.phase = PH_WARMUP;
        break;
    case PH_WARMUP:
        for (int i = 0; i < L.o.pubconns; i++)
            busy |= L.pubs[i].busy;
        if (busy && L.now < L.warmup_end)
            break;
        L.pub_start = L.now;
        L.pub_end = L.now + L.o.duration;
        L.phase = PH_PUBLISH;
        break;
    case PH_PUBLISH:
        for (int i = 0; i < L.o.pubconns; i++)
            busy |= L.pubs[i].busy;
        if (L.now < L.pub_end && (L.sent < L.o.max_pub || busy)) {
            if (L.o.rate != 0)
                publish_due();
            break;
        }
        L.pub_end = L.now;
        L.drain_end = L.now + L.o.grace;
        L.phase = L.o.rate != 0 ? PH_DRAIN : PH_DONE;
        break;
    case PH_DRAIN:
        for (int i = 0; i < L.o.pubconns; i++)
            busy |= L.pubs[i].busy;
        if (L.now >= L.drain_end || (!busy && L.unique >= expected()))
            L.phase = PH_DONE;
        break;
    case PH_DONE:
        break;
    }
    if (stop_requested)
        L.phase = PH_DONE;
}

static void report(void)
{
    uint64_t lost = 0, lossy = 0, miss, unanswered = 0;
    double span = L.last_delivery > L.pub_start ? L.last_delivery - L.pub_start : 0;
    double pspan = L.pub_end > L.pub_start ? L.pub_end - L.pub_start : 0;
    FILE *f;

    for (int i = 0; i < L.o.pubconns; i++)
        unanswered += L.pubs[i].busy && L.pubs[i].pub_k != WARMUP_K;
    for (int i = 0; i < L.o.subs; i++) {
        struct conn *c = &L.subs[i];

        if (!c->ready)
            continue;
        miss = L.pubok[c->chan].count - seqset_common(&c->seen, &L.pubok[c->chan]);
        lost += miss;
        lossy += miss > 0;
    }
    printf("{\"label\":\"%s\",\"flavor\":\"%s\",\"mode\":\"%s\",\"subscribers\":%d,\"channels\":%d,"
           "\"connected\":%d,\"connect_s\":%.2f,\"errors\":%llu,\"reconnects\":%llu,"
           "\"published\":%ld,\"publish_errors\":%ld,\"publish_unanswered\":%llu,\"publish_per_s\":%.1f,"
           "\"publish_p50_ms\":%.2f,\"publish_p99_ms\":%.2f,"
           "\"deliveries\":%llu,\"deliveries_per_s\":%.1f,\"expected\":%llu,\"lost\":%llu,"
           "\"subscribers_with_loss\":%llu,\"duplicated\":%llu,\"malformed\":%llu,"
           "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"mean_ms\":%.2f}\n",
           L.o.label, L.o.flavor == FL_COMET ? "comet" : "nchan",
           L.o.mode == MODE_SSE ? "sse" : L.o.mode == MODE_POLL ? "poll" : L.o.mode == MODE_WS ? "ws" : "publish",
           L.o.subs,
           L.o.channels, L.nready, (L.ready_at ? L.ready_at : L.now) - L.t0,
           (unsigned long long)L.errors, (unsigned long long)L.reconnects, L.pub_ok, L.pub_err,
           (unsigned long long)unanswered,
           pspan > 0 ? (double)L.pub_ok / pspan : 0, hist_quantile(&L.publat, 0.5) / 1000.0,
           hist_quantile(&L.publat, 0.99) / 1000.0, (unsigned long long)L.deliveries,
           span > 0 ? (double)L.deliveries / span : 0, (unsigned long long)expected(),
           (unsigned long long)lost, (unsigned long long)lossy, (unsigned long long)L.dups,
           (unsigned long long)L.bad, hist_quantile(&L.lat, 0.5) / 1000.0,
           hist_quantile(&L.lat, 0.99) / 1000.0, L.lat.max / 1000.0,
           L.lat.n ? (double)L.lat.sum / (double)L.lat.n / 1000.0 : 0);
    fflush(stdout);
    if (L.o.cdf_file) {
        if (!(f = fopen(L.o.cdf_file, "w")) || hist_write_cdf(&L.lat, f) < 0 || fclose(f) != 0)
            log_error("%s: %s", L.o.cdf_file, strerror(errno));
    }
}

/* ---- options ---------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen -p PORT [-f comet|nchan] [-m sse|poll|ws|publish] [-n SUBSCRIBERS]\n"
            "         [-C CHANNELS] [-r RATE|max] [-P PUBLISHER_CONNS] [-d SECONDS] [-g GRACE]\n"
            "         [-T CONNECT_TIMEOUT] [-s SETTLE] [-c CONNECTING_AT_ONCE] [-M MAX_PUBLISHES]\n"
            "         [-k KEY] [-x CHANNEL_PREFIX] [-S SSE_PATH] [-L POLL_PATH] [-W WS_PATH]\n"
            "         [-U PUBLISH_PATH]\n"
            "         [-o CDF_FILE] [-t TRACE_FILE] [-R READY_FILE] [-l LABEL]\n"
            "Paths are templates where {ch} stands for the channel's name. Subscriber i listens on\n"
            "channel i %% C; publish k goes to channel k %% C. Phases: connect (at most T s), write\n"
            "READY_FILE, settle s s, one warm-up publish per connection (at most 10 s), publish for\n"
            "d s or until MAX_PUBLISHES are sent and answered (RATE 0: hold idle), wait up to g s for\n"
            "the last deliveries, print one JSON line.\n"
            "TRACE_FILE gets a line per delivery: its send time and latency, in microseconds.\n");
    exit(2);
}

static double num_arg(const char *s, double lo, double hi, char opt)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end || v < lo || v > hi) {
        log_error("-%c %s: expected a number from %g to %g", opt, s, lo, hi);
        exit(2);
    }
    return v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    int ch;

    *o = (struct opts){.flavor = FL_COMET, .mode = MODE_SSE, .subs = 100, .channels = 1,
                       .pubconns = 4, .conc = 500, .rate = 10, .duration = 10, .grace = 3,
                       .connect_timeout = 30, .settle = 1, .max_pub = 200000, .key = "",
                       .prefix = "bench", .label = "run"};
    while ((ch = getopt(argc, argv, "f:m:n:C:r:P:d:g:T:s:c:M:p:k:x:S:L:W:U:o:t:R:l:h")) != -1) {
        switch (ch) {
        case 'f':
            if (strcmp(optarg, "comet") && strcmp(optarg, "nchan"))
                usage();
            o->flavor = strcmp(optarg, "comet") ? FL_NCHAN : FL_COMET;
            break;
        case 'm':
            if (!strcmp(optarg, "sse"))
                o->mode = MODE_SSE;
            else if (!strcmp(optarg, "poll"))
                o->mode = MODE_POLL;
            else if (!strcmp(optarg, "ws"))
                o->mode = MODE_WS;
            else if (!strcmp(optarg, "publish"))
                o->mode = MODE_PUBLISH;
            else
                usage();
            break;
        case 'n': o->subs = (int)num_arg(optarg, 0, 1000000, 'n'); break;
        case 'C': o->channels = (int)num_arg(optarg, 1, 1000000, 'C'); break;
        case 'r': o->rate = strcmp(optarg, "max") ? num_arg(optarg, 0, 1e7, 'r') : -1; break;
        case 'P': o->pubconns = (int)num_arg(optarg, 1, 256, 'P'); break;
        case 'd': o->duration = num_arg(optarg, 0, 3600, 'd'); break;
        case 'g': o->grace = num_arg(optarg, 0, 600, 'g'); break;
        case 'T': o->connect_timeout = num_arg(optarg, 0, 600, 'T'); break;
        case 's': o->settle = num_arg(optarg, 0, 600, 's'); break;
        case 'c': o->conc = (int)num_arg(optarg, 1, 1000000, 'c'); break;
        case 'M': o->max_pub = (long)num_arg(optarg, 1, 100000000, 'M'); break;
        case 'p': o->port = (int)num_arg(optarg, 1, 65535, 'p'); break;
        case 'k': o->key = optarg; break;
        case 'x': o->prefix = optarg; break;
        case 'S': o->sse_path = optarg; break;
        case 'L': o->poll_path = optarg; break;
        case 'W': o->ws_path = optarg; break;
        case 'U': o->pub_path = optarg; break;
        case 'o': o->cdf_file = optarg; break;
        case 't': o->trace_file = optarg; break;
        case 'R': o->ready_file = optarg; break;
        case 'l': o->label = optarg; break;
        default: usage();
        }
    }
    if (optind != argc || !o->port || strlen(o->prefix) > 64 || strpbrk(o->label, "\"\\"))
        usage();
    if (o->mode == MODE_PUBLISH)
        o->subs = 0;
    if (!o->sse_path)
        o->sse_path = o->flavor == FL_COMET ? "/comet/sse?channel={ch}&since=0" : "/sub/{ch}";
    if (!o->poll_path)
        o->poll_path = o->flavor == FL_COMET ? "/comet/poll?channel={ch}" : "/sub/{ch}";
    if (!o->ws_path)
        o->ws_path = o->flavor == FL_COMET ? "/comet/ws?channel={ch}" : "/sub/{ch}";
    if (!o->pub_path)
        o->pub_path = o->flavor == FL_COMET ? "/comet/publish" : "/pub/{ch}";
}

/* Raises the open-file limit to the hard limit; fails when N connections cannot fit. */
static int raise_nofile(int need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need) {
        errno = EMFILE;
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct epoll_event evs[1024];
    struct sigaction sa = {.sa_handler = on_signal};
    int n;

    static char name[96];

    log_init("loadgen", LOG_LEVEL_INFO, 0);
    parse_opts(argc, argv, &L.o);
    snprintf(name, sizeof name, "loadgen %s", L.o.label);
    log_init(name, LOG_LEVEL_INFO, 0);
    if (raise_nofile(L.o.subs + L.o.pubconns + 32) < 0) {
        log_error("open-file limit too low for %d connections: %s", L.o.subs + L.o.pubconns,
                  strerror(errno));
        return 1;
    }
    if (L.o.trace_file && !(L.trace = fopen(L.o.trace_file, "w"))) {
        log_error("%s: %s", L.o.trace_file, strerror(errno));
        return 1;
    }
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if ((L.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        log_error("epoll_create1: %s", strerror(errno));
        return 1;
    }
    L.subs = xcalloc((size_t)L.o.subs + 1, sizeof *L.subs);
    L.pubs = xcalloc((size_t)L.o.pubconns, sizeof *L.pubs);
    L.pubok = xcalloc((size_t)L.o.channels, sizeof *L.pubok);
    for (int i = 0; i < L.o.subs; i++)
        L.subs[i] = (struct conn){.fd = -1, .idx = i, .chan = i % L.o.channels};
    for (int i = 0; i < L.o.pubconns; i++)
        L.pubs[i] = (struct conn){.fd = -1, .idx = i, .is_pub = 1};
    L.t0 = L.now = now_s();
    while (L.phase != PH_DONE) {
        n = epoll_wait(L.ep, evs, 1024, L.phase == PH_PUBLISH ? 1 : 20);
        L.now = now_s();
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events);
        tick();
    }
    report();
    if (L.trace && fclose(L.trace) != 0)
        log_error("%s: %s", L.o.trace_file, strerror(errno));
    for (int i = 0; i < L.o.subs; i++)
        conn_close(&L.subs[i], 1);
    for (int i = 0; i < L.o.pubconns; i++)
        conn_close(&L.pubs[i], 1);
    return 0;
}
