/* publish: POST /publish, from the key check to the queued inbox entry. */
#ifndef COMET_PUBLISH_H
#define COMET_PUBLISH_H

#include <fcgiapp.h>
#include <stddef.h>

#include "config.h"

/* An Idempotency-Key: 1 to 128 bytes of this charset (UUIDs, base64, ULIDs). */
#define PUBLISH_IDEM_MAX 128
#define PUBLISH_IDEM_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:+/="

/* The events of one valid publish body, one per channel per item, in order. */
struct publish_batch {
    size_t n;
    char **channels; /* owned */
    char **tails;    /* owned envelope tails, see envelope_tail */
};

/* Validates body[0..len) against the contract and the limits in cfg. Returns 0 and
 * fills out, or -1 with a message for a 400 in err (out is then empty). Either way
 * the batch must be freed with publish_batch_free. */
int publish_parse(const char *body, size_t len, const struct config *cfg,
                  struct publish_batch *out, char *err, size_t errlen);
void publish_batch_free(struct publish_batch *b);

/* Answers POST /publish; every answer carries the CORS lines cors (NULL for none). */
void publish_handle(FCGX_Request *req, const struct config *cfg, const char *cors);

#endif
