/* webhook_none: the webhook sender of the static comet-worker (make static), which has
 * none: Debian ships no static libcurl that links without a dozen libraries it does not
 * ship either. It refuses to start with COMET_WEBHOOK_URL set, saying so, rather than
 * let the queue fill. */
#include "webhook.h"

#include "log.h"

int webhook_start(const struct config *cfg, volatile sig_atomic_t *stop)
{
    (void)stop;
    if (!cfg->webhook_url[0])
        return 0;
    log_error("webhook: this statically linked comet-worker cannot send webhooks (COMET_WEBHOOK_URL); "
              "run the dynamically linked build");
    return -1;
}

void webhook_join(void)
{
}
