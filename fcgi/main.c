/* comet.fcgi: the FastCGI responder. Reads the configuration once, owns the signal
 * handling and the accept loop, and routes each request by its last path segment.
 * One request at a time, as mod_fcgid sends them. */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "longpoll.h"
#include "pattern.h"
#include "publish.h"
#include "reply.h"
#include "request.h"
#include "stream.h"
#include "store.h"
#include "wait.h"

static void on_stop(int sig)
{
    (void)sig;
    wait_stopping = 1;
    FCGX_ShutdownPending();
}

/* Installed before FCGX_Init, which then leaves them alone: libfcgi's own handlers
 * would swallow SIGTERM. No SA_RESTART, so a waiting poll() returns at once. */
static void install_signals(void)
{
    struct sigaction sa = {0};

    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void stats_handle(FCGX_Request *req, const struct config *cfg)
{
    redisContext *c;
    json_t *stats;

    if (!request_method(req, "GET"))
        return;
    if (!(c = conn_get(cfg)) || !(stats = store_stats(c, cfg))) {
        conn_drop();
        reply_unavailable(req->out);
        return;
    }
    reply_json(req->out, 200, stats, NULL);
}

/* Lets pages on the configured origins read answers, credentials included. The
 * origin is echoed only after it matched the list and holds no control bytes. */
static void cors(FCGX_Request *req, const struct config *cfg)
{
    static _Thread_local char lines[512];
    const char *origin = FCGX_GetParam("HTTP_ORIGIN", req->envp);

    reply_cors(NULL);
    if (!origin || strlen(origin) > 256 || !pattern_list_match(cfg->cors_origins, origin))
        return;
    for (const char *p = origin; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return;
    snprintf(lines, sizeof lines,
             "Access-Control-Allow-Origin: %s\r\nAccess-Control-Allow-Credentials: true\r\n"
             "Access-Control-Expose-Headers: Retry-After\r\nVary: Origin\r\n", origin);
    reply_cors(lines);
}

static void route(FCGX_Request *req, const struct config *cfg)
{
    const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
    char endpoint[32];

    cors(req, cfg);
    request_endpoint(req, endpoint, sizeof endpoint);
    if (method && strcmp(method, "OPTIONS") == 0)
        reply_head(req->out, 204, "text/plain",
                   "Access-Control-Allow-Methods: GET, POST\r\n"
                   "Access-Control-Allow-Headers: Authorization, Content-Type, Last-Event-ID\r\n"
                   "Access-Control-Max-Age: 600\r\n");
    else if (strcmp(endpoint, "poll") == 0)
        longpoll_handle(req, cfg);
    else if (strcmp(endpoint, "sse") == 0)
        stream_handle(req, cfg, FRAME_SSE);
    else if (strcmp(endpoint, "stream") == 0)
        stream_handle(req, cfg, FRAME_LINES);
    else if (strcmp(endpoint, "iframe") == 0)
        stream_handle(req, cfg, FRAME_IFRAME);
    else if (strcmp(endpoint, "publish") == 0)
        publish_handle(req, cfg);
    else if (strcmp(endpoint, "stats") == 0)
        stats_handle(req, cfg);
    else
        reply_error(req->out, 404, NULL, "no such endpoint: use poll, sse, stream, iframe, publish or stats");
}

int main(void)
{
    const struct config *cfg;
    FCGX_Request req;
    char err[256];

    if (!(cfg = config_load(err, sizeof err))) {
        fprintf(stderr, "comet.fcgi: %s\n", err);
        return 1;
    }
    log_init("comet.fcgi", (enum log_level)cfg->log_level);
    srand((unsigned)(store_now_ms() ^ ((long long)getpid() << 16)));
    install_signals();
    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
        log_error("cannot initialise libfcgi");
        return 1;
    }
    while (!wait_stopping && FCGX_Accept_r(&req) >= 0) {
        route(&req, cfg);
        FCGX_Finish_r(&req);
    }
    conn_drop();
    log_debug("exiting");
    return 0;
}
