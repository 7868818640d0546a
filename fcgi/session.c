/* session: the sequencing of one waiting request, fed by a driver. Leaves how bytes
 * look to frame.c and reply.c, and how history and messages are fetched, how the time
 * passes and where bytes go to the drivers (block.c, hub.c). */
#include "session.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "reply.h"
#include "xalloc.h"

enum session_state {
    STATE_READING, /* history is being read; live messages are held */
    STATE_LIVE,    /* everything retained is sent; live messages go out as they come */
    STATE_DONE     /* the response is complete */
};

struct session {
    const struct config *cfg;
    enum frame_kind kind;
    enum session_state state;
    int has_since;      /* the cursor is a resume point (given, or reached by a page) */
    int truncated;      /* events after the starting cursor may have been trimmed away */
    int told_truncated; /* a stream sent comet-truncated */
    int headed;         /* the head is out */
    int expiring;
    int archived;       /* the archive may fill what Redis lacks (cleared once it cannot) */
    int filled;         /* the archive handed out every event before fill_to */
    struct cursor cut;  /* the gap the archive is asked to fill ends before this */
    int lost;           /* that gap is Redis's lost data set's (else trimmed history) */
    struct cursor fill_to;
    struct cursor cursor; /* the newest id handed out, or where the client resumes */
    long long deadline, beat;
    char *cb, *cors;
    char **held; /* live messages that came while history was read, in arrival order */
    size_t nheld;
};

static enum session_next session_next(const struct session *s)
{
    return s->state == STATE_READING ? SESSION_READ : s->state == STATE_LIVE ? SESSION_WAIT : SESSION_END;
}

static int is_poll(const struct session *s)
{
    return s->kind == FRAME_POLL;
}

struct session *session_new(const struct config *cfg, const struct session_start *st)
{
    struct session *s = xcalloc(1, sizeof *s);

    s->cfg = cfg;
    s->kind = st->kind;
    s->state = STATE_READING;
    s->deadline = st->deadline;
    s->expiring = st->expiring;
    s->archived = st->archived;
    s->cb = st->callback ? xstrdup(st->callback) : NULL;
    s->cors = st->cors && *st->cors ? xstrdup(st->cors) : NULL;
    s->headed = st->kind == FRAME_WS; /* its driver answered the upgrade */
    if (st->since) {
        s->has_since = 1;
        s->cursor = *st->since;
    }
    return s;
}

static void session_drop_held(struct session *s)
{
    for (size_t i = 0; i < s->nheld; i++)
        free(s->held[i]);
    free(s->held);
    s->held = NULL;
    s->nheld = 0;
}

void session_free(struct session *s)
{
    if (!s)
        return;
    session_drop_held(s);
    free(s->cb);
    free(s->cors);
    free(s);
}

void session_since(const struct session *s, char *buf)
{
    buf[0] = 0;
    if (s->has_since)
        cursor_format(s->cursor, buf);
}

/* ---- writing ---- */

static void session_head(struct session *s, struct buf *out)
{
    reply_head(out, 200, frame_content_type(s->kind, s->cb), !is_poll(s), s->cors, NULL);
    s->headed = 1;
}

/* A stream's padding after what one input appended (from start on), for web servers
 * that hold output back until a buffer fills. */
static void session_pad(const struct session *s, struct buf *out, size_t start)
{
    if (!is_poll(s) && s->kind != FRAME_WS && s->cfg->sse_padding && out->len > start)
        frame_padding(out, s->kind, (size_t)s->cfg->sse_padding);
}

/* Answers a poll: json holds the opened events list (frame_poll_begin and adds). */
static enum session_next session_answer(struct session *s, struct buf *json, struct buf *out)
{
    frame_poll_end(json, s->cursor, s->truncated);
    session_head(s, out);
    if (s->cb) {
        frame_jsonp(out, s->cb, json->s, json->len);
    } else {
        buf_append(out, json->s, json->len);
        buf_puts(out, "\n");
    }
    s->state = STATE_DONE;
    return SESSION_END;
}

/* Answers a poll with no events: the cursor it may resume from. */
static enum session_next session_answer_empty(struct session *s, struct buf *out)
{
    struct buf json = {0};

    frame_poll_begin(&json);
    session_answer(s, &json, out);
    buf_free(&json);
    return SESSION_END;
}

/* Ends the wait when its time is up: a poll answers, a stream ends (saying
 * comet-expired first when the credentials expired, so the client gets new ones). */
static enum session_next session_expire(struct session *s, struct buf *out)
{
    size_t start = out->len;

    if (is_poll(s))
        return session_answer_empty(s, out);
    if (s->expiring)
        frame_expired(out, s->kind, s->cb);
    session_pad(s, out, start);
    s->state = STATE_DONE;
    return SESSION_END;
}

/* ---- history ---- */

/* Hands out one event newer than the cursor: into a poll's json (*n counts them) or
 * a stream's out. */
static void session_take(struct session *s, struct cursor id, const char *env, size_t len, struct buf *json,
                         int *n, struct buf *out)
{
    if (cursor_cmp(id, s->cursor) <= 0)
        return;
    if (is_poll(s) && *n == s->cfg->poll_max_events)
        return; /* the next poll reads it from history */
    s->cursor = id;
    if (is_poll(s))
        frame_poll_add(json, (*n)++, env, len);
    else
        frame_event(out, s->kind, s->cb, env, len);
}

/* Everything retained is handed out: the cursor moves to the newest id, and the held
 * messages newer than it are the next events. */
static void session_merge_held(struct session *s, struct cursor last, struct buf *json, int *n, struct buf *out)
{
    struct cursor id;
    const char *type;
    size_t tlen;

    if (cursor_cmp(last, s->cursor) > 0)
        s->cursor = last;
    for (size_t i = 0; i < s->nheld; i++) {
        size_t len = strlen(s->held[i]);
        if (envelope_head(s->held[i], len, &id, &type, &tlen) == 0)
            session_take(s, id, s->held[i], len, json, n, out);
    }
    session_drop_held(s);
}

/* A stream's first bytes: head, prelude. */
static void session_open_stream(struct session *s, struct buf *out)
{
    if (s->headed)
        return;
    session_head(s, out);
    frame_prelude(out, s->kind, s->cfg->sse_retry);
}

/* Opens what one page hands out: a poll's events list, or a stream's start and its
 * comet-truncated once due. */
static void session_begin(struct session *s, struct buf *json, struct buf *out)
{
    if (is_poll(s)) {
        frame_poll_begin(json);
        return;
    }
    session_open_stream(s, out);
    if (s->truncated && !s->told_truncated) {
        frame_truncated(out, s->kind, s->cb);
        s->told_truncated = 1;
    }
}

/* Whether p's gap sends the session to the archive first. Otherwise notes what is
 * missing: a gap the archive did not fill, and a lost data set (whatever the archive
 * had, what Redis lost before archiving it is unknown: said once the archive's part is
 * out, where the gap is). */
static int session_gap(struct session *s, const struct store_page *p)
{
    int filled = s->filled && cursor_cmp(p->cut, s->fill_to) <= 0;

    if (p->gap != STORE_WHOLE && !filled && s->archived) {
        s->cut = p->cut;
        s->lost = p->gap == STORE_LOST;
        return 1;
    }
    if (p->gap == STORE_LOST || (p->gap != STORE_WHOLE && !filled))
        s->truncated = 1;
    return 0;
}

enum session_next session_page(struct session *s, const struct store_page *p, long long now, struct buf *out)
{
    int n = 0, full = p->n >= (size_t)s->cfg->poll_max_events;
    size_t start = out->len;
    struct buf json = {0};

    if (s->state != STATE_READING)
        return session_next(s);
    if (session_gap(s, p))
        return SESSION_ARCHIVE;
    if (cursor_cmp(s->cursor, p->last) > 0) /* a cursor from the future would hide events up to it */
        s->cursor = p->last;
    session_begin(s, &json, out);
    for (size_t i = 0; i < p->n; i++)
        session_take(s, p->events[i].id, p->events[i].env, p->events[i].len, &json, &n, out);
    if (!full)
        session_merge_held(s, p->last, &json, &n, out);
    s->has_since = 1;
    if (is_poll(s) && (n || s->truncated))
        session_answer(s, &json, out);
    else if (!full)
        s->state = STATE_LIVE;
    buf_free(&json);
    if (s->state == STATE_LIVE && !is_poll(s)) {
        frame_open(out, s->kind, s->cb, s->cursor);
        s->beat = now + s->cfg->sse_heartbeat * 1000LL;
    }
    session_pad(s, out, start);
    return session_next(s);
}

int session_archive_range(const struct session *s, struct cursor *after, struct cursor *before)
{
    *after = s->cursor;
    *before = s->cut;
    return !s->lost;
}

enum session_next session_archive(struct session *s, const struct session_fill *f, struct buf *out)
{
    int n = 0;
    size_t start = out->len;
    struct buf json = {0};

    if (s->state != STATE_READING)
        return session_next(s);
    if (!f->covered) {
        s->archived = 0; /* Redis's page, read again, says what is missing */
        return SESSION_READ;
    }
    if (f->n < (size_t)s->cfg->poll_max_events) {
        s->filled = 1;
        s->fill_to = s->cut;
    }
    session_begin(s, &json, out);
    for (size_t i = 0; i < f->n; i++)
        session_take(s, f->events[i].id, f->events[i].env, f->events[i].len, &json, &n, out);
    if (is_poll(s) && n)
        session_answer(s, &json, out);
    buf_free(&json);
    session_pad(s, out, start);
    return session_next(s);
}

/* ---- live ---- */

int session_event_set(struct session_event *ev, const char *env, size_t len)
{
    const char *type;
    size_t tlen;

    memset(ev->built, 0, sizeof ev->built);
    ev->env = env;
    ev->len = len;
    return envelope_head(env, len, &ev->id, &type, &tlen);
}

void session_event_free(struct session_event *ev)
{
    for (int k = 0; k < FRAME_KINDS; k++)
        buf_free(&ev->framed[k]);
    memset(ev, 0, sizeof *ev);
}

/* The event as s frames it, built once per kind for the sessions that frame it alike
 * (no callback: an iframe's or JSONP's callback is the client's own); NULL when the
 * envelope cannot be framed. A poll's frame is its answer's body, head excluded (with
 * a callback: the JSON that JSONP wraps). */
static const struct buf *session_framed(const struct session *s, struct session_event *ev, struct buf *own)
{
    struct buf *f = s->cb ? own : &ev->framed[s->kind];

    if (!s->cb && ev->built[s->kind])
        return ev->built[s->kind] > 0 ? f : NULL;
    buf_reset(f);
    if (is_poll(s)) {
        frame_poll_begin(f);
        frame_poll_add(f, 0, ev->env, ev->len);
        frame_poll_end(f, ev->id, 0);
        if (!s->cb)
            buf_puts(f, "\n");
    } else if (frame_event(f, s->kind, s->cb, ev->env, ev->len) < 0) {
        f->len = 0;
    } else {
        session_pad(s, f, 0);
    }
    if (!s->cb)
        ev->built[s->kind] = f->len ? 1 : -1;
    return f->len ? f : NULL;
}

enum session_next session_message(struct session *s, struct session_event *ev, long long now, struct buf *out)
{
    struct buf own = {0};
    const struct buf *f;

    if (s->state == STATE_READING) {
        s->held = xrealloc(s->held, (s->nheld + 1) * sizeof *s->held);
        s->held[s->nheld] = xmalloc(ev->len + 1);
        memcpy(s->held[s->nheld], ev->env, ev->len);
        s->held[s->nheld++][ev->len] = 0;
        return SESSION_READ;
    }
    if (s->state != STATE_LIVE || cursor_cmp(ev->id, s->cursor) <= 0)
        return session_next(s);
    s->cursor = ev->id;
    if ((f = session_framed(s, ev, &own)) && is_poll(s)) {
        session_head(s, out);
        if (s->cb)
            frame_jsonp(out, s->cb, f->s, f->len);
        else
            buf_append(out, f->s, f->len);
        s->state = STATE_DONE;
    } else if (f) {
        buf_append(out, f->s, f->len);
    }
    buf_free(&own);
    /* A busy channel must not keep an expired stream alive. */
    if (s->state == STATE_LIVE && now >= s->deadline)
        return session_expire(s, out);
    return session_next(s);
}

/* ---- time and ends ---- */

long long session_wake_ms(const struct session *s)
{
    if (s->state != STATE_LIVE)
        return LLONG_MAX;
    if (is_poll(s) || s->deadline < s->beat)
        return s->deadline;
    return s->beat;
}

enum session_next session_tick(struct session *s, long long now, struct buf *out)
{
    size_t start = out->len;

    if (s->state != STATE_LIVE)
        return session_next(s);
    if (now >= s->deadline)
        return session_expire(s, out);
    if (!is_poll(s) && now >= s->beat) {
        frame_ping(out, s->kind);
        s->beat = now + s->cfg->sse_heartbeat * 1000LL;
        session_pad(s, out, start);
    }
    return SESSION_WAIT;
}

enum session_next session_stop(struct session *s, struct buf *out)
{
    if (s->state == STATE_DONE)
        return SESSION_END;
    if (is_poll(s) && s->has_since)
        return session_answer_empty(s, out);
    return session_fail(s, out);
}

enum session_next session_fail(struct session *s, struct buf *out)
{
    if (s->state != STATE_DONE && !s->headed)
        reply_unavailable_to(out, s->cors);
    s->state = STATE_DONE;
    return SESSION_END;
}
