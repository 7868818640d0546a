/* history: one /history page. Redis says which of its events are all there are (from
 * its cut on: see store_history.lua and store_read.lua); the archive, for channels it
 * holds, gives those before the cut; the two parts never overlap, so the page is their
 * concatenation, trimmed to the limit. How each store is read is store_wait.c's and
 * archive_read.c's; heads and errors are reply.c's. */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_read.h"
#include "conn.h"
#include "frame.h"
#include "reply.h"
#include "request.h"
#include "store.h"
#include "xalloc.h"

/* What a page is built from, and the page. */
struct page {
    redisReply *reply;
    struct store_page redis;    /* borrowed from reply */
    struct archive_page archive;
    struct store_event *ev;     /* the page's events, oldest first, pointing into the two */
    size_t n;
    int more;
};

enum outcome { PAGE_OK, PAGE_NO_REDIS, PAGE_NO_ARCHIVE };

int history_check(const struct query *q, char *err, size_t errlen)
{
    if (q->has_before && q->has_after) {
        snprintf(err, errlen, "before and after: give one or neither");
        return -1;
    }
    if (q->callback && !frame_callback_valid(q->callback)) {
        snprintf(err, errlen, "callback: must be a JavaScript name like Comet._cb1");
        return -1;
    }
    return 0;
}

/* Reads Redis's part with read (store_history or store_read) from cursor. */
static enum outcome page_redis(const struct config *cfg, const struct query *q, struct page *p,
                               redisReply *(*read)(redisContext *, const struct config *, char *const *, size_t,
                                                   const char *, int),
                               const char *cursor, int cap)
{
    redisContext *c = conn_get(cfg);

    p->reply = c ? read(c, cfg, q->channels, q->nchannels, cursor, cap) : NULL;
    if (store_page_parse(p->reply, &p->redis) < 0) {
        conn_drop();
        return PAGE_NO_REDIS;
    }
    return PAGE_OK;
}

/* Joins the archive's part (everything before Redis's cut) and Redis's from its cut
 * on, when the archive holds the channels, Redis has a cut, and the page needs what is
 * before it (a page of the oldest always does; one of the newest when Redis's part is
 * short); otherwise Redis's alone. Keeps cap events from the end aq reads from, and
 * notes whether there are more than cap - 1. */
static enum outcome page_join(const struct config *cfg, const struct query *q, struct page *p,
                              struct archive_query *aq, int cap)
{
    size_t from = 0, keep;

    p->ev = xcalloc(p->redis.n + (size_t)cap + 1, sizeof *p->ev);
    if (p->redis.gap && archive_read_holds(cfg, q->channels, q->nchannels)) {
        while (from < p->redis.n && cursor_cmp(p->redis.events[from].id, p->redis.cut) < 0)
            from++;
        if (!aq->newest || p->redis.n - from < (size_t)cap) {
            if (cursor_cmp(p->redis.cut, aq->before) < 0)
                aq->before = p->redis.cut;
            if (archive_read(cfg, aq, &p->archive) < 0)
                return PAGE_NO_ARCHIVE;
            if ((p->n = p->archive.n))
                memcpy(p->ev, p->archive.events, p->n * sizeof *p->ev);
        }
    }
    memcpy(p->ev + p->n, p->redis.events + from, (p->redis.n - from) * sizeof *p->ev);
    p->n += p->redis.n - from;
    keep = p->n < (size_t)cap ? p->n : (size_t)cap;
    if (aq->newest)
        memmove(p->ev, p->ev + (p->n - keep), keep * sizeof *p->ev);
    p->n = keep;
    if ((p->more = p->n == (size_t)cap) && aq->newest)
        memmove(p->ev, p->ev + 1, --p->n * sizeof *p->ev); /* the oldest was the one more */
    else if (p->more)
        p->n--;
    return PAGE_OK;
}

/* The newest limit events before q->before (or the newest of all). */
static enum outcome page_newest(const struct config *cfg, const struct query *q, struct page *p, int limit)
{
    struct archive_query aq = {q->channels, q->nchannels, {0, 0}, ARCHIVE_NO_END, 1, limit + 1};
    char before[CURSOR_MAX] = "";
    enum outcome o;

    if (q->has_before) {
        cursor_format(q->before, before);
        aq.before = q->before;
    }
    o = page_redis(cfg, q, p, store_history, before, limit + 1);
    return o == PAGE_OK ? page_join(cfg, q, p, &aq, limit + 1) : o;
}

/* The oldest limit events after q->after. After 0, the very first: read from Redis as
 * after 0-1 (no event has that id), so that it says what it lacks, as for any cursor. */
static enum outcome page_oldest(const struct config *cfg, const struct query *q, struct page *p, int limit)
{
    struct archive_query aq = {q->channels, q->nchannels, q->after, ARCHIVE_NO_END, 0, limit + 1};
    struct cursor from = q->after;
    char after[CURSOR_MAX];
    enum outcome o;

    if (!from.ms && !from.n)
        from.n = 1;
    cursor_format(from, after);
    o = page_redis(cfg, q, p, store_read, after, limit + 1);
    return o == PAGE_OK ? page_join(cfg, q, p, &aq, limit + 1) : o;
}

/* The answer's JSON: {"events":[…],"more":…,"cursor":"…"[,"live":"…"]}. The cursor
 * continues the paging (the oldest event's id for before=, the newest's for after=; the
 * cursor given, or 0, when there is none); live, on a page that reaches the newest event
 * (no before=, and not more after after=), is where a subscription resumes to get every
 * later event once. */
static void page_json(const struct query *q, const struct page *p, struct buf *out)
{
    struct cursor cursor = q->has_after ? q->after : q->has_before ? q->before : (struct cursor){0, 0};
    struct cursor live = p->redis.last;
    char id[CURSOR_MAX], tail[80 + CURSOR_MAX];

    buf_puts(out, "{\"events\":[");
    for (size_t i = 0; i < p->n; i++) {
        if (i)
            buf_puts(out, ",");
        buf_append(out, p->ev[i].env, p->ev[i].len);
    }
    if (p->n)
        cursor = p->ev[q->has_after ? p->n - 1 : 0].id;
    if (p->n && cursor_cmp(p->ev[p->n - 1].id, live) > 0)
        live = p->ev[p->n - 1].id;
    cursor_format(cursor, id);
    snprintf(tail, sizeof tail, "],\"more\":%s,\"cursor\":\"%s\"", p->more ? "true" : "false", id);
    buf_puts(out, tail);
    if (q->has_after ? !p->more : !q->has_before) {
        cursor_format(live, id);
        snprintf(tail, sizeof tail, ",\"live\":\"%s\"", id);
        buf_puts(out, tail);
    }
    buf_puts(out, "}");
}

/* Writes the page, as JSON or JSONP. */
static void page_answer(FCGX_Request *req, const char *cors, const struct query *q, const struct page *p)
{
    struct buf json = {0}, out = {0};

    page_json(q, p, &json);
    reply_head(&out, 200, frame_content_type(FRAME_POLL, q->callback), 0, cors, NULL);
    if (q->callback) {
        frame_jsonp(&out, q->callback, json.s, json.len);
    } else {
        buf_append(&out, json.s, json.len);
        buf_puts(&out, "\n");
    }
    FCGX_PutStr(out.s, (int)out.len, req->out);
    buf_free(&json);
    buf_free(&out);
}

void history_serve(FCGX_Request *req, const struct config *cfg, const char *cors)
{
    struct query q;
    struct page p = {0};
    long long until;
    char err[256];
    enum outcome o;

    if (request_reader(req, cfg, cors, &q, &until, NULL) < 0)
        goto done;
    if (history_check(&q, err, sizeof err) < 0) {
        reply_error(req->out, cors, 400, NULL, "%s", err);
        goto done;
    }
    o = (q.has_after ? page_oldest : page_newest)(cfg, &q, &p, q.limit > 0 ? q.limit : HISTORY_LIMIT_DEFAULT);
    if (o == PAGE_NO_REDIS)
        reply_unavailable(req->out, cors);
    else if (o == PAGE_NO_ARCHIVE)
        reply_error(req->out, cors, 503, "Retry-After: 5\r\n",
                    "the SQL archive is unreachable, and this page needs events older than Redis keeps; "
                    "retry shortly");
    else
        page_answer(req, cors, &q, &p);
done:
    free(p.ev);
    archive_page_free(&p.archive);
    store_page_free(&p.redis);
    if (p.reply)
        freeReplyObject(p.reply);
    query_free(&q);
}
