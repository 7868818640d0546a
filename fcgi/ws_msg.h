/* ws_msg: what a WebSocket client may send (hub_ws.c): one JSON object per text
 * message naming an op, subscribe, unsubscribe or publish. Pure: the unit tests and a
 * fuzzer feed it strings. Whether the channels may be read or written is checked
 * later, by the same code as the HTTP endpoints. */
#ifndef COMET_WS_MSG_H
#define COMET_WS_MSG_H

#include <stddef.h>

#include "config.h"

enum ws_op { WS_SUBSCRIBE, WS_UNSUBSCRIBE, WS_PUBLISH };

struct ws_msg {
    enum ws_op op;
    char **channels; /* subscribe, unsubscribe: 1 to max_channels valid names, distinct */
    size_t n;
    char *since;     /* subscribe: the resume point as sent (unchecked), or NULL */
    char *ref;       /* "ref" as compact JSON, echoed in the answer, or NULL */
    char *body;      /* publish: the object without op and ref, as compact JSON: a body of
                      * POST /publish */
};

/* Parses text[0..len) within cfg's limits (max_depth, max_channels). Returns 0 and
 * fills m, or -1 with a sentence for the client in err (m->ref is still filled when
 * the text was an object with a ref). m must be freed with ws_msg_free either way. */
int ws_msg_parse(const char *text, size_t len, const struct config *cfg, struct ws_msg *m, char *err,
                 size_t errlen);
void ws_msg_free(struct ws_msg *m);

#endif
