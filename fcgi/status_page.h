/* status_page: the live status page (GET /status.html), compiled into comet.fcgi. */
#ifndef COMET_STATUS_PAGE_H
#define COMET_STATUS_PAGE_H

#include <fcgiapp.h>

#include "config.h"

/* Answers req: 405 for another method, 400 for a bad query, 401 or 403 from the status
 * guard (the stats key as Authorization: Bearer or ?token=, or an address of
 * COMET_STATS_ALLOW; closed while neither is set), else 200 with the page. Returns 0:
 * the caller finishes req. */
int status_page_serve(FCGX_Request *req, const struct config *cfg, const char *cors);

#endif
