/* Unit tests of transport framing: events, open and truncation frames, heartbeats,
 * padding, callback names and the escaping that keeps data inside a script. */
#include <string.h>

#include "check.h"
#include "frame.h"

#define ENV1 "{\"id\":\"5-1\",\"channel\":\"a\",\"event\":\"message\",\"data\":1}"
#define ENV2 "{\"id\":\"5-2\",\"channel\":\"a\",\"event\":\"score\",\"data\":\"</script><!--\xe2\x80\xa8\"}"
#define ENV2_ESC "{\"id\":\"5-2\",\"channel\":\"a\",\"event\":\"score\",\"data\":\"\\u003c/script>\\u003c!--\\u2028\"}"

static const struct {
    enum frame_kind kind;
    const char *env, *frame; /* frame NULL: refused */
} events[] = {
    {FRAME_SSE, ENV1, "id: 5-1\ndata: " ENV1 "\n\n"},
    {FRAME_SSE, ENV2, "id: 5-2\nevent: score\ndata: " ENV2 "\n\n"},
    {FRAME_SSE, "{\"id\":\"5-3\",\"channel\":\"a\",\"event\":\"messages\",\"data\":0}",
     "id: 5-3\nevent: messages\ndata: {\"id\":\"5-3\",\"channel\":\"a\",\"event\":\"messages\",\"data\":0}\n\n"},
    /* typed=0: the type stays in the envelope only, so onmessage gets every type */
    {FRAME_SSE_UNTYPED, ENV1, "id: 5-1\ndata: " ENV1 "\n\n"},
    {FRAME_SSE_UNTYPED, ENV2, "id: 5-2\ndata: " ENV2 "\n\n"},
    {FRAME_SSE_UNTYPED, "{\"id\":\"x\",\"channel\":\"a\",\"event\":\"score\",\"data\":1}", NULL},
    {FRAME_LINES, ENV1, ENV1 "\n"},
    {FRAME_IFRAME, ENV1, "<script>parent.cb(" ENV1 ");</script>\n"},
    {FRAME_IFRAME, ENV2, "<script>parent.cb(" ENV2_ESC ");</script>\n"},
    /* a raw newline would end the data: line and let the rest forge fields */
    {FRAME_SSE, "{\"id\":\"5-4\",\"channel\":\"a\",\"event\":\"message\",\"data\":\"\n\nid: 9-9\"}", NULL},
    {FRAME_LINES, "{\"id\":\"5-4\",\"channel\":\"a\",\"event\":\"message\",\"data\":\"\r\"}", NULL},
    {FRAME_SSE, "{\"id\":\"x\",\"channel\":\"a\",\"event\":\"message\",\"data\":1}", NULL},
    {FRAME_IFRAME, "not an envelope", NULL},
};

static const struct {
    const char *cb;
    int ok;
} callbacks[] = {
    {"cb", 1}, {"Comet._jp12", 1}, {"$", 1}, {"a.b.c.d", 1}, {"a.b.c.d.e", 0}, {"", 0}, {"1a", 0},
    {"a.1b", 0}, {"a..b", 0}, {".a", 0}, {"a.", 0}, {"alert(1)//", 0}, {"a b", 0}, {"a-b", 0},
    {"a[0]", 0}, {"\xc3\xa9", 0},
};

int main(void)
{
    struct buf f = {0};

    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        int rc;
        buf_reset(&f);
        rc = frame_event(&f, events[i].kind, "cb", events[i].env, strlen(events[i].env));
        if (!events[i].frame)
            CHECK(rc == -1 && f.len == 0, "event %zu refused", i);
        else
            CHECK(rc == 0 && f.len == strlen(events[i].frame) && strcmp(f.s, events[i].frame) == 0,
                  "event %zu: %s", i, f.len ? f.s : "");
    }
    for (size_t i = 0; i < sizeof callbacks / sizeof callbacks[0]; i++)
        CHECK(frame_callback_valid(callbacks[i].cb) == callbacks[i].ok, "callback \"%s\"", callbacks[i].cb);

    buf_reset(&f);
    frame_open(&f, FRAME_SSE, NULL, (struct cursor){7, 2});
    CHECK(strcmp(f.s, "id: 7-2\nevent: comet-open\ndata: {\"cursor\":\"7-2\",\"open\":true}\n\n") == 0, "%s", f.s);
    /* The server's own signals keep their names: the client listens for them. */
    buf_reset(&f);
    frame_open(&f, FRAME_SSE_UNTYPED, NULL, (struct cursor){7, 2});
    CHECK(strcmp(f.s, "id: 7-2\nevent: comet-open\ndata: {\"cursor\":\"7-2\",\"open\":true}\n\n") == 0, "%s", f.s);
    buf_reset(&f);
    frame_truncated(&f, FRAME_SSE_UNTYPED, NULL);
    frame_expired(&f, FRAME_SSE_UNTYPED, NULL);
    frame_ping(&f, FRAME_SSE_UNTYPED);
    frame_prelude(&f, FRAME_SSE_UNTYPED, 1500);
    CHECK(strcmp(f.s, "event: comet-truncated\ndata: {\"truncated\":true}\n\nevent: comet-expired\ndata: "
                      "{\"expired\":true}\n\n: ping\n\nretry: 1500\n\n") == 0, "untyped signals: %s", f.s);
    CHECK(strcmp(frame_content_type(FRAME_SSE_UNTYPED, NULL), "text/event-stream") == 0, "untyped type");
    buf_reset(&f);
    frame_open(&f, FRAME_LINES, NULL, (struct cursor){7, 2});
    CHECK(strcmp(f.s, "{\"cursor\":\"7-2\",\"open\":true}\n") == 0, "%s", f.s);
    buf_reset(&f);
    frame_truncated(&f, FRAME_IFRAME, "Comet._if1");
    CHECK(strcmp(f.s, "<script>parent.Comet._if1({\"truncated\":true});</script>\n") == 0, "%s", f.s);
    buf_reset(&f);
    frame_truncated(&f, FRAME_SSE, NULL);
    CHECK(strcmp(f.s, "event: comet-truncated\ndata: {\"truncated\":true}\n\n") == 0, "%s", f.s);
    buf_reset(&f);
    frame_expired(&f, FRAME_SSE, NULL);
    frame_expired(&f, FRAME_LINES, NULL);
    frame_expired(&f, FRAME_IFRAME, "cb");
    CHECK(strcmp(f.s, "event: comet-expired\ndata: {\"expired\":true}\n\n{\"expired\":true}\n"
                      "<script>parent.cb({\"expired\":true});</script>\n") == 0, "expired: %s", f.s);
    buf_reset(&f);
    frame_ping(&f, FRAME_SSE);
    frame_ping(&f, FRAME_LINES);
    frame_ping(&f, FRAME_IFRAME);
    CHECK(strcmp(f.s, ": ping\n\n\n<!---->\n") == 0, "pings: %s", f.s);
    buf_reset(&f);
    frame_padding(&f, FRAME_SSE, 1000);
    CHECK(f.len == 1003 && f.s[0] == ':' && f.s[999] == ' ' && strcmp(f.s + 1001, "\n\n") == 0, "sse padding");
    buf_reset(&f);
    frame_prelude(&f, FRAME_LINES, 0);
    CHECK(f.len == 2049 && f.s[2047] == ' ' && f.s[2048] == '\n', "lines prelude");
    buf_reset(&f);
    frame_prelude(&f, FRAME_SSE, 1500);
    CHECK(strcmp(f.s, "retry: 1500\n\n") == 0, "sse prelude %s", f.s);
    buf_reset(&f);
    frame_jsonp(&f, "cb", "{\"events\":[\"</script>\"]}", 24);
    CHECK(strcmp(f.s, "/**/cb({\"events\":[\"\\u003c/script>\"]});\n") == 0, "jsonp %s", f.s);
    buf_free(&f);
    return check_done("frame");
}
