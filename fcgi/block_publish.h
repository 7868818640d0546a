/* block_publish: queueing a publish in one request per process (mod_fcgid), waiting on
 * the process's command connection. What the answers say is outcome.c's. */
#ifndef COMET_BLOCK_PUBLISH_H
#define COMET_BLOCK_PUBLISH_H

#include <fcgiapp.h>

#include "config.h"
#include "publish.h"

/* Queues job (after its rate, when keyless) and answers: 202, or with ?wait=1 200 with
 * its ids once stored (202 unconfirmed after COMET_PUBLISH_WAIT); 422 or a replay for a
 * known Idempotency-Key; 429; 503 when nothing was queued; 504 when the outcome is
 * unknown. */
void block_publish(FCGX_Request *req, const struct config *cfg, const char *cors, const struct publish_job *job);

#endif
