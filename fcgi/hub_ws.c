/* hub_ws: WebSocket connections in the event loop: accepting them, reading the upgrade's
 * head, the 101 or an HTTP refusal, wslay's framing over the nonblocking socket (it
 * answers pings and closes, and closes itself on unmasked frames 1002, a message over
 * COMET_MAX_BODY 1009, invalid UTF-8 1007), binary messages 1003, the message rate
 * 1008, pings every COMET_SSE_HEARTBEAT s, slow readers. What a socket's session and
 * ops send is hub_ws_ops.c's. */
#include "hub_ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "hub_ws_conn.h"
#include "log.h"
#include "xalloc.h"

#define WS_HEAD_MS 10000      /* to send the request head, and to take a refusal */
#define WS_QUEUED_MAX (1 << 20) /* unsent bytes a slow reader may pile up before it is dropped */

LIST_HEAD(ws_list, ws_conn);

static struct {
    const struct config *cfg;
    struct loop *loop;
    struct loop_watch listen;
    struct ws_list all;
} ws;

/* ---- life ---- */

static void ws_conn_free(struct ws_conn *c)
{
    ws_ops_leave(c);
    if (c->ctx)
        wslay_event_context_free(c->ctx);
    loop_del(ws.loop, &c->watch);
    close(c->watch.fd);
    LIST_REMOVE(c, all);
    buf_free(&c->io);
    ws_head_free(&c->head);
    free(c->token);
    free(c->expires);
    free(c->sig);
    free(c->pid);
    free(c);
}

/* Watches what c waits for now: input while it reads, output while some is queued. */
static void ws_conn_watch(struct ws_conn *c)
{
    uint32_t ev = EPOLLRDHUP;

    if (c->state == WS_REFUSE)
        ev |= c->io.len ? EPOLLOUT : 0;
    else if (c->ctx)
        ev |= (wslay_event_want_read(c->ctx) ? EPOLLIN : 0) | (wslay_event_want_write(c->ctx) ? EPOLLOUT : 0);
    else
        ev |= EPOLLIN;
    if (ev != c->events)
        loop_mod(ws.loop, &c->watch, ev);
    c->events = ev;
}

/* Marks c to be closed at the next tick: a sink may not free it. */
static void ws_conn_drop(struct ws_conn *c, const char *why)
{
    if (!c->dead)
        log_info("websocket from %s: %s", c->addr[0] ? c->addr : c->peer, why);
    c->dead = 1;
}

/* Sends what wslay has queued, as far as the socket takes it; a reader that lets more
 * than WS_QUEUED_MAX pile up is dropped, like a slow stream. */
static void ws_conn_send(struct ws_conn *c)
{
    if (c->receiving)
        return; /* wslay is inside wslay_event_recv: ws_conn_handle sends after it */
    if (wslay_event_send(c->ctx) != 0)
        c->dead = 1;
    else if (wslay_event_get_queued_msg_length(c->ctx) > WS_QUEUED_MAX)
        ws_conn_drop(c, "dropped: it reads too slowly");
    else if (!wslay_event_want_read(c->ctx) && !wslay_event_want_write(c->ctx))
        c->dead = 1; /* the closing handshake is over */
    if (!c->dead)
        ws_conn_watch(c);
}

void ws_conn_text(struct ws_conn *c, const char *text, size_t len)
{
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};

    if (!c->dead && c->ctx && wslay_event_queue_msg(c->ctx, &m) == 0)
        ws_conn_send(c);
}

void ws_conn_close(struct ws_conn *c, int code, const char *reason)
{
    size_t len = strlen(reason);

    if (c->dead || !c->ctx)
        return;
    wslay_event_queue_close(c->ctx, (uint16_t)code, (const uint8_t *)reason, len > 123 ? 123 : len);
    ws_conn_send(c);
}

/* ---- wslay over the socket ---- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *data)
{
    struct ws_conn *c = data;
    ssize_t n;

    (void)flags;
    while ((n = read(c->watch.fd, buf, len)) < 0 && errno == EINTR)
        ;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else if (n <= 0)
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return n > 0 ? n : -1;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
    struct ws_conn *c = user;
    ssize_t n;

    (void)flags;
    while ((n = send(c->watch.fd, data, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK ? WSLAY_ERR_WOULDBLOCK
                                                                          : WSLAY_ERR_CALLBACK_FAILURE);
    return n;
}

/* At most COMET_WS_RATE messages a second. Returns 1 when this one is within it. */
static int ws_rate_ok(struct ws_conn *c)
{
    long long second = clock_ms() / 1000;

    if (second != c->rate_at) {
        c->rate_at = second;
        c->rate_n = 0;
    }
    return ++c->rate_n <= c->cfg->ws_rate;
}

static void ws_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m, void *data)
{
    struct ws_conn *c = data;

    (void)ctx;
    if (m->opcode == WSLAY_PONG) {
        c->unanswered = 0;
    } else if (wslay_is_ctrl_frame(m->opcode) || wslay_event_get_close_sent(c->ctx)) {
        return;
    } else if (!ws_rate_ok(c)) {
        ws_conn_close(c, 1008, "more messages a second than this server takes");
    } else if (m->opcode != WSLAY_TEXT_FRAME) {
        ws_conn_close(c, 1003, "only text messages are taken");
    } else {
        ws_ops_message(c, (const char *)m->msg, m->msg_length);
    }
}

int ws_conn_upgrade(struct ws_conn *c)
{
    static const struct wslay_event_callbacks cb = {ws_recv, ws_send, NULL, NULL, NULL, NULL, ws_message};
    char head[256], accept[29];
    size_t len;

    ws_accept_key(c->head.key, accept);
    len = (size_t)snprintf(head, sizeof head,
                           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    /* A fresh socket's buffer takes it whole. */
    if (send(c->watch.fd, head, len, MSG_NOSIGNAL) != (ssize_t)len ||
        wslay_event_context_server_init(&c->ctx, &cb, c) != 0) {
        c->dead = 1;
        return -1;
    }
    wslay_event_config_set_max_recv_msg_length(c->ctx, (uint64_t)c->cfg->max_body);
    c->state = WS_OPEN;
    c->next_ping = clock_ms() + c->cfg->sse_heartbeat * 1000LL;
    buf_free(&c->io);
    ws_head_keep(&c->head);
    return 0;
}

void ws_conn_refuse(struct ws_conn *c, const char *cgi, size_t len)
{
    buf_reset(&c->io);
    ws_http_answer(&c->io, cgi, len);
    c->state = WS_REFUSE;
    c->deadline = clock_ms() + WS_HEAD_MS;
    ws_conn_watch(c);
}

/* c is done (its closing handshake, an error, a refusal written): its session is let go
 * now, and it closes once the client closed too, or after WS_HEAD_MS. Closing with input
 * unread would reset the connection, and the client could lose the close frame or the
 * refusal before reading it. */
static void ws_conn_linger(struct ws_conn *c)
{
    ws_ops_leave(c);
    if (c->ctx)
        wslay_event_context_free(c->ctx);
    c->ctx = NULL;
    shutdown(c->watch.fd, SHUT_WR);
    c->state = WS_LINGER;
    c->dead = 0;
    c->deadline = clock_ms() + WS_HEAD_MS;
    ws_conn_watch(c);
}

/* Reads and drops what the client still sends; closes c at its end. */
static void ws_conn_lingering(struct ws_conn *c)
{
    char buf[4096];
    ssize_t n;

    while ((n = read(c->watch.fd, buf, sizeof buf)) > 0)
        ;
    if (n == 0 || (errno != EAGAIN && errno != EINTR))
        ws_conn_free(c);
}

/* ---- before the upgrade ---- */

/* Writes what is left of a refusal; lingers once it is out. Returns 1 when c was freed. */
static int ws_conn_refusing(struct ws_conn *c)
{
    ssize_t n = c->io.len ? send(c->watch.fd, c->io.s, c->io.len, MSG_NOSIGNAL) : 0;

    if (n > 0)
        buf_consume(&c->io, (size_t)n);
    if (c->io.len && (n > 0 || errno == EAGAIN || errno == EINTR)) {
        ws_conn_watch(c);
        return 0;
    }
    if (c->io.len) {
        ws_conn_free(c); /* the client is gone */
        return 1;
    }
    ws_conn_linger(c);
    return 0;
}

/* Reads the request head; once whole, the session starts or the upgrade is refused. */
static void ws_conn_head(struct ws_conn *c)
{
    char buf[4096];
    ssize_t n = read(c->watch.fd, buf, sizeof buf);
    long end;

    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            ws_conn_free(c);
        return;
    }
    buf_append(&c->io, buf, (size_t)n);
    end = ws_head_end(c->io.s, c->io.len);
    if (end == 0)
        return;
    if (end < 0 || ws_head_parse(c->io.s, (size_t)end, &c->head) < 0) {
        static const char bad[] = "Status: 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
                                  "{\"error\":\"not an HTTP/1.1 request head of at most 16 KiB\"}\n";
        ws_conn_refuse(c, bad, sizeof bad - 1);
        return;
    }
    snprintf(c->addr, sizeof c->addr, "%s", ws_head_addr(&c->head, c->peer));
    c->state = WS_ADMIT;
    loop_mod(ws.loop, &c->watch, c->events = EPOLLRDHUP);
    ws_ops_open(c);
}

static void ws_conn_handle(struct loop_watch *w, uint32_t events)
{
    struct ws_conn *c = (struct ws_conn *)w;

    if (c->state == WS_HEAD && (events & EPOLLIN)) {
        ws_conn_head(c);
    } else if (c->state == WS_REFUSE) {
        ws_conn_refusing(c);
    } else if (c->state == WS_LINGER) {
        ws_conn_lingering(c);
    } else if (c->state == WS_ADMIT && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        ws_conn_free(c); /* gone before its session started */
    } else if (c->state == WS_OPEN) {
        c->receiving = 1;
        if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && wslay_event_recv(c->ctx) != 0)
            c->dead = 1;
        c->receiving = 0;
        if (!c->dead)
            ws_conn_send(c);
        if (c->dead)
            ws_conn_linger(c);
    }
}

/* A connection comes: a ws_conn reads its head. */
static void ws_accept(struct loop_watch *w, uint32_t events)
{
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    int fd;

    (void)events;
    while ((fd = accept4(w->fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct ws_conn *c = xcalloc(1, sizeof *c);
        c->watch = (struct loop_watch){fd, ws_conn_handle};
        c->cfg = ws.cfg;
        c->deadline = clock_ms() + WS_HEAD_MS;
        LIST_INIT(&c->pubs);
        strcpy(c->peer, "-");
        if (sa.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, c->peer, sizeof c->peer);
        else if (sa.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, c->peer, sizeof c->peer);
        LIST_INSERT_HEAD(&ws.all, c, all);
        loop_add(ws.loop, &c->watch, c->events = EPOLLIN | EPOLLRDHUP);
        salen = sizeof sa;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        log_warn("websocket accept: %s", strerror(errno));
}

/* ---- the hub's ---- */

int hub_ws_start(const struct config *cfg, struct loop *l, int fd)
{
    ws.cfg = cfg;
    ws.loop = l;
    LIST_INIT(&ws.all);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ws.listen = (struct loop_watch){fd, ws_accept};
    return loop_add(l, &ws.listen, EPOLLIN);
}

/* One connection's tick. Returns 1 when it was freed. */
static int ws_conn_tick(struct ws_conn *c, long long now)
{
    if (c->dead || (c->state != WS_OPEN && c->state != WS_ADMIT && now >= c->deadline)) {
        ws_conn_free(c);
        return 1;
    }
    if (c->state != WS_OPEN || now < c->next_ping)
        return 0;
    if (c->unanswered >= 2) {
        ws_conn_drop(c, "dropped: two pings unanswered");
        ws_conn_free(c);
        return 1;
    }
    wslay_event_queue_msg(c->ctx, &(struct wslay_event_msg){WSLAY_PING, NULL, 0});
    c->unanswered++;
    c->next_ping = now + c->cfg->sse_heartbeat * 1000LL;
    ws_conn_send(c);
    return 0;
}

void hub_ws_tick(long long now)
{
    struct ws_conn *c, *next;

    if (!ws.loop)
        return;
    for (c = LIST_FIRST(&ws.all); c; c = next) {
        next = LIST_NEXT(c, all);
        ws_conn_tick(c, now);
    }
}

void hub_ws_stop(void)
{
    struct ws_conn *c;

    if (!ws.loop)
        return;
    loop_del(ws.loop, &ws.listen);
    close(ws.listen.fd);
    LIST_FOREACH(c, &ws.all, all)
        ws_conn_close(c, 1001, "the server is stopping");
    while ((c = LIST_FIRST(&ws.all))) {
        if (c->ctx && !c->dead && wslay_event_want_write(c->ctx)) {
            poll(&(struct pollfd){.fd = c->watch.fd, .events = POLLOUT}, 1, 1000);
            wslay_event_send(c->ctx);
        }
        ws_conn_free(c);
    }
}
