/* hub_ws: external mode's WebSocket connections (comet.fcgi -w SOCKET), held by the
 * hub's event loop beside the FastCGI requests: the upgrade, framing by wslay, pings,
 * limits and close. Each socket drives a waiting request of the hub (hub_wait.c) whose
 * session frames one JSON object per text message; its ops are hub_ws_ops.c's. */
#ifndef COMET_HUB_WS_H
#define COMET_HUB_WS_H

#include "config.h"
#include "loop.h"

/* On the main thread, before the hub thread runs: serves WebSocket upgrades on the
 * listening socket fd (nonblocking from here on) in loop l. Returns 0, or -1 after
 * logging why (a static build). libcrypto's SHA-1 is loaded by the first upgrade. */
int hub_ws_start(const struct config *cfg, struct loop *l, int fd);

/* Every hub tick: pings, the limits in time, connections to close. */
void hub_ws_tick(long long now);

/* The process stops, after the hub ended every session: each socket gets a close
 * (1001) and a second to take it, then everything is closed. */
void hub_ws_stop(void);

#endif
