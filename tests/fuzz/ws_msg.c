/* Fuzz target: what a WebSocket client sends (ws_msg_parse), within the default limits.
 * An accepted subscribe or unsubscribe names 1 to COMET_MAX_CHANNELS channels the
 * envelope accepts, distinct; an accepted publish carries a body that publish_parse
 * reads without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "envelope.h"
#include "publish.h"
#include "ws_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct config *cfg;
    char err[256];
    struct ws_msg m;
    struct publish_batch b;

    if (!cfg && !(cfg = config_load(err, sizeof err)))
        abort();
    if (ws_msg_parse((const char *)data, size, cfg, &m, err, sizeof err) == 0) {
        if (m.op != WS_PUBLISH && (m.n == 0 || m.n > (size_t)cfg->max_channels))
            abort();
        for (size_t i = 0; i < m.n; i++) {
            if (!envelope_channel_valid(m.channels[i], strlen(m.channels[i])))
                abort();
            for (size_t k = 0; k < i; k++)
                if (strcmp(m.channels[i], m.channels[k]) == 0)
                    abort();
        }
        if (m.op == WS_PUBLISH && !m.body)
            abort();
        if (m.op == WS_PUBLISH) {
            publish_parse(m.body, strlen(m.body), cfg, &b, err, sizeof err);
            publish_batch_free(&b);
        }
    }
    ws_msg_free(&m);
    return 0;
}
