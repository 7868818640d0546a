/* Fuzz target: /history query strings (query_parse, then history_check), within the
 * default limits. A page's limit is absent or 1 to QUERY_LIMIT_MAX; one that passes the
 * check never has both ends, and any callback it keeps is a JavaScript name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
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
        if (q.limit != -1 && (q.limit < 1 || q.limit > QUERY_LIMIT_MAX))
            abort();
        if (history_check(&q, err, sizeof err) == 0 &&
            ((q.has_before && q.has_after) || (q.callback && !frame_callback_valid(q.callback))))
            abort();
    }
    query_free(&q);
    free(qs);
    return 0;
}
