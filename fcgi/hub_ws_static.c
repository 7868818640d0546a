/* hub_ws_static: make static's stand-in for hub_ws.c, hub_ws_ops.c and ws_http.c.
 * Debian ships no static libwslay, and a static binary loads no libcrypto: this build
 * serves no WebSocket and refuses -w at start. */
#include "hub_ws.h"

#include "log.h"

int hub_ws_start(const struct config *cfg, struct loop *l, int fd)
{
    (void)cfg, (void)l, (void)fd;
    log_error("-w: this static build serves no WebSocket (Debian has no static libwslay); use the dynamically "
              "linked build");
    return -1;
}

void hub_ws_tick(long long now)
{
    (void)now;
}

void hub_ws_stop(void)
{
}
