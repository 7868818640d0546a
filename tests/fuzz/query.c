/* Fuzz target: query strings (query_parse) of subscribes and of /history (history_check),
 * and the callbacks they carry (frame_callback_valid), within the default limits. Every
 * accepted channel must be one the envelope accepts, within the counts the limits
 * promise; a page's limit is absent or 1 to QUERY_LIMIT_MAX; one that passes the history
 * check never has both ends, and any callback it keeps is a JavaScript name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "envelope.h"
#include "frame.h"
#include "history.h"
#include "query.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct config *cfg;
    char err[256], *qs = xmalloc(size + 1);
    struct query q;

    if (!cfg && !(cfg = config_load(err, sizeof err)))
        abort();
    memcpy(qs, data, size);
    qs[size] = 0;
    if (query_parse(qs, cfg, &q, err, sizeof err) == 0) {
        if (q.nchannels > (size_t)cfg->max_channels)
            abort();
        for (size_t i = 0; i < q.nchannels; i++)
            if (!envelope_channel_valid(q.channels[i], strlen(q.channels[i])))
                abort();
        if (q.limit != -1 && (q.limit < 1 || q.limit > QUERY_LIMIT_MAX))
            abort();
        if (history_check(&q, err, sizeof err) == 0 &&
            ((q.has_before && q.has_after) || (q.callback && !frame_callback_valid(q.callback))))
            abort();
        if (q.callback)
            frame_callback_valid(q.callback);
    }
    query_free(&q);
    free(qs);
    return 0;
}
