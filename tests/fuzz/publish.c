/* Fuzz target: publish body validation (publish_parse) with small limits, so batch,
 * channel and depth limits are reached often. An accepted body must give events whose
 * channels are valid and whose tails are valid JSON once completed to an envelope. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "envelope.h"
#include "publish.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg;
    char err[512], env[4096];
    struct publish_batch b;

    if (!cfg.max_batch) {
        const struct config *base = config_load(err, sizeof err);
        if (!base)
            abort();
        cfg = *base;
        cfg.max_batch = 8;
        cfg.max_channels = 4;
        cfg.max_depth = 8;
    }
    if (publish_parse((const char *)data, size, &cfg, &b, err, sizeof err) == 0) {
        if (b.n == 0 || b.n > (size_t)cfg.max_batch)
            abort();
        for (size_t i = 0; i < b.n; i++) {
            json_t *j;
            if (!envelope_channel_valid(b.channels[i], strlen(b.channels[i])))
                abort();
            snprintf(env, sizeof env, "{\"id\":\"1-0\",%s", b.tails[i]);
            if (strlen(b.tails[i]) < sizeof env - 16 && !(j = json_loads(env, 0, NULL)))
                abort();
            else if (strlen(b.tails[i]) < sizeof env - 16)
                json_decref(j);
        }
    } else if (b.n != 0) {
        abort();
    }
    publish_batch_free(&b);
    return 0;
}
