/* history: GET /history, a page of a set of channels' events (the newest before a
 * cursor, or the oldest after one), from Redis where it holds them and from the SQL
 * archive beyond, as JSON or JSONP. */
#ifndef COMET_HISTORY_H
#define COMET_HISTORY_H

#include <fcgiapp.h>
#include <stddef.h>

#include "config.h"
#include "query.h"

#define HISTORY_LIMIT_DEFAULT 50 /* events of a page without limit= (at most QUERY_LIMIT_MAX) */

/* Checks what /history adds to a parsed query: before and after not both, a callback
 * that is a JavaScript name. Returns 0, or -1 with a sentence for a 400 in err. Pure. */
int history_check(const struct query *q, char *err, size_t errlen);

/* Answers GET /history on req, blocking: Redis within STORE_TIMEOUT_MS, the archive
 * within its client's timeouts (run where a blocking answer is fine: mod_fcgid's
 * process, an accept thread in external mode). Errors: 400, 401, 403, 405, and 503
 * when Redis, or the archive a page needs, is unreachable. */
void history_serve(FCGX_Request *req, const struct config *cfg, const char *cors);

#endif
