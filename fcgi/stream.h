/* stream: GET /sse, /stream and /iframe: a response that stays open, replays what
 * the client missed, then carries each new event as it is published, with
 * heartbeats, until its lifetime ends and the client reconnects from its cursor. */
#ifndef COMET_STREAM_H
#define COMET_STREAM_H

#include <fcgiapp.h>

#include "config.h"
#include "frame.h"

void stream_handle(FCGX_Request *req, const struct config *cfg, enum frame_kind kind);

#endif
