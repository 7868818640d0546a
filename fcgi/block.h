/* block: the blocking driver of a session, for one request per process (mod_fcgid).
 * The request waits on a subscription connection of its own and its history is read
 * on the process's command connection; what it sends and when is session.c's. */
#ifndef COMET_BLOCK_H
#define COMET_BLOCK_H

#include <fcgiapp.h>

#include "config.h"
#include "request.h"

/* Serves the admitted waiting request w (its stdin drained) until its session ends,
 * the client leaves or the process stops; answers 503 when Redis fails first. Leaves
 * the store's waiting sets on the way out. */
void block_serve(FCGX_Request *req, const struct config *cfg, const struct request_wait *w, const char *cors);

#endif
