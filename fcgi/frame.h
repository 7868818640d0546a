/* frame: the bytes each transport puts around events. Long-poll (JSON or JSONP), SSE,
 * XHR streaming and the forever iframe differ only here; what is sent when is
 * session.c's. Pure: frames are appended to a buf, so the unit tests read them back. */
#ifndef COMET_FRAME_H
#define COMET_FRAME_H

#include <stddef.h>

#include "buf.h"
#include "cursor.h"

/* The transports a waiting request can use. Only FRAME_POLL answers once; the others
 * are streams, which the stream functions below frame. */
enum frame_kind {
    FRAME_POLL,   /* long-poll: one JSON answer, or JSONP with a callback */
    FRAME_SSE,    /* text/event-stream */
    FRAME_LINES,  /* XHR streaming: one JSON frame per line */
    FRAME_IFRAME, /* forever iframe: one <script> per frame */
    FRAME_SSE_UNTYPED, /* text/event-stream with no event: line on envelopes (?typed=0): every
                        * type reaches EventSource's onmessage, which reads it from the envelope */
    FRAME_WS,     /* WebSocket (hub_ws.c): one JSON frame per line, each line one text message;
                   * no head, prelude, padding or heartbeat (the driver pings) */
    FRAME_KINDS
};

/* The transport's name as metrics label it: poll, sse, stream or iframe (static). */
const char *frame_kind_name(enum frame_kind k);

/* The content type of an answer of this kind; cb only matters for FRAME_POLL (JSONP). */
const char *frame_content_type(enum frame_kind k, const char *cb);

/* 1 when cb is a JavaScript identifier path: up to four dotted identifiers of
 * A-Z a-z 0-9 _ $ (not starting with a digit), 128 bytes in all. */
int frame_callback_valid(const char *cb);

/* Appends json with what could end a <script> element or break JavaScript escaped:
 * "<" as \u003c and U+2028/U+2029 as \u2028/\u2029. Valid JSON stays valid JSON. */
void frame_script_json(struct buf *f, const char *json, size_t len);

/* Appends what opens a stream: SSE's retry:, the 2 KiB line of spaces, or the
 * iframe's HTML prelude with 1 KiB of padding. */
void frame_prelude(struct buf *f, enum frame_kind k, int retry_ms);

/* Appends one envelope as an event. Returns 0, or -1 (nothing appended) when env
 * is not an envelope of one line. cb is the iframe's callback. FRAME_SSE names a type
 * other than "message" in an event: line (EventSource delivers it to that type's
 * listeners only); FRAME_SSE_UNTYPED never does. */
int frame_event(struct buf *f, enum frame_kind k, const char *cb, const char *env, size_t len);

/* Appends the open frame {"cursor":C,"open":true} (SSE: event comet-open, id C). */
void frame_open(struct buf *f, enum frame_kind k, const char *cb, struct cursor c);

/* Appends the truncation signal {"truncated":true} (SSE: event comet-truncated). */
void frame_truncated(struct buf *f, enum frame_kind k, const char *cb);

/* Appends the last frame of a stream whose credentials expired, {"expired":true}
 * (SSE: event comet-expired): the client gets new ones before reconnecting. */
void frame_expired(struct buf *f, enum frame_kind k, const char *cb);

/* Appends a heartbeat the client's parser ignores (FRAME_WS: nothing, its driver pings). */
void frame_ping(struct buf *f, enum frame_kind k);

/* Appends n bytes of padding the client's parser ignores, for web servers that
 * hold back output until a buffer fills. */
void frame_padding(struct buf *f, enum frame_kind k, size_t n);

/* A long-poll answer {"events":[…],"cursor":C[,"truncated":true]}: begin, add each
 * envelope (n counts those added so far), end. */
void frame_poll_begin(struct buf *f);
void frame_poll_add(struct buf *f, int n, const char *env, size_t len);
void frame_poll_end(struct buf *f, struct cursor c, int truncated);

/* Appends a JSONP answer: comment, cb, the escaped json, ");". */
void frame_jsonp(struct buf *f, const char *cb, const char *json, size_t len);

#endif
