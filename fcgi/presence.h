/* presence: GET /presence, who is on a presence channel. */
#ifndef COMET_PRESENCE_H
#define COMET_PRESENCE_H

#include <fcgiapp.h>

#include "config.h"

/* Answers GET /presence?channel=A[&limit=N] (N members at most, 1 to 1000, default 100)
 * with the subscriber's credentials for A. external: as ask_serve (1 when the hub took
 * req). */
int presence_serve(FCGX_Request *req, const struct config *cfg, const char *cors, int external);

#endif
