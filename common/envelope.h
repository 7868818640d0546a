/* envelope: what a subscriber receives for one event,
 *   {"id":"MS-N","channel":"A","event":"TYPE","data":<published JSON>}
 * and the rules for channel names and event types. The publisher side builds the
 * part after the id (the "tail"); the worker prepends the id once it is assigned. */
#ifndef COMET_ENVELOPE_H
#define COMET_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>

#include "cursor.h"

#define ENVELOPE_CHANNEL_MAX 128
#define ENVELOPE_TYPE_MAX 64

/* The server's own channel: the worker's status samples (one a second while a status
 * page watches; worker/status.c), each of this event type. Only the stats key or
 * address list may subscribe to it (fcgi/request.c); nobody may publish to it. */
#define ENVELOPE_STATUS "comet-status"

/* 1 when s[0..len) is a channel name: 1 to 128 bytes of A-Z a-z 0-9 _ - . : / @. */
int envelope_channel_valid(const char *s, size_t len);

/* 1 when s[0..len) is an event type: 1 to 64 bytes of A-Z a-z 0-9 _ - . : and not
 * starting with "comet-", which the server keeps for its own signals. */
int envelope_type_valid(const char *s, size_t len);

/* Returns a new string `"channel":"C","event":"T","data":DATA}` (caller frees), or
 * NULL when data cannot be encoded. channel and type must already be valid. */
char *envelope_tail(const char *channel, const char *type, const json_t *data);

/* Reads the id and event type of an envelope this project built. Sets *type to
 * point into env. Returns 0, or -1 when env does not start the way it should. */
int envelope_head(const char *env, size_t len, struct cursor *id, const char **type,
                  size_t *typelen);

#endif
