/* query: the query string of a subscribe request, decoded and validated. Pure: no
 * I/O, so the unit tests feed it tables of strings. */
#ifndef COMET_QUERY_H
#define COMET_QUERY_H

#include <stddef.h>

#include "config.h"
#include "cursor.h"

#define QUERY_LIMIT_MAX 1000 /* events of one /history page, at most */

struct query {
    char **channels;         /* distinct, valid channel names, in first-seen order */
    size_t nchannels;
    int has_since, has_last_event_id;
    struct cursor since, last_event_id;
    int timeout;             /* seconds, or -1 when not given */
    int limit;               /* /history: events, 1 to QUERY_LIMIT_MAX, or -1 when not given */
    int has_before, has_after; /* /history: the page's end */
    struct cursor before, after;
    int wait;                /* ?wait=1 */
    int untyped;             /* ?typed=0: SSE frames envelopes without event: lines */
    const char *callback;    /* JSONP or iframe callback, unchecked; NULL when absent */
    const char *token;       /* credentials (auth.c checks them), unchecked; NULL when absent */
    const char *expires, *sig;
    const char *prefix;      /* /channels: the names' prefix, unchecked; NULL when absent */
    const char *cursor;      /* /channels: the page's cursor (digits); NULL when absent */
    const char *pid;         /* the client instance's id (presence counts it once when it has no
                              * identity): QUERY_PID_MAX of A-Z a-z 0-9 _ -; NULL when absent */
    char *storage;           /* owns the decoded strings */
};

/* Parses qs (NULL counts as empty) within cfg's limits (max_query bytes, max_channels
 * channels of at most channel_max bytes). Parameters: channel (repeated), since,
 * lastEventId, timeout, wait, typed (0 or 1), callback, token, expires, sig, /history's
 * limit, before, after, and prefix, cursor; others are ignored.
 * Returns 0, or -1 with a message for a 400 in err. The query must be freed with
 * query_free either way. */
#define QUERY_PID_MAX 64

int query_parse(const char *qs, const struct config *cfg, struct query *q, char *err, size_t errlen);
void query_free(struct query *q);

#endif
