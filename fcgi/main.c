/* comet.fcgi: the FastCGI responder. Reads the configuration once, owns the signal
 * handling and the accept loops, and routes each request by its last path segment.
 * Two process models drive the same session (session.c): one request at a time, as
 * mod_fcgid sends them (block.c), or external mode, where accept threads hand waiting
 * requests to the hub's event loop (hub.c). */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "auth.h"
#include "block.h"
#include "block_publish.h"
#include "config.h"
#include "conn.h"
#include "history.h"
#include "hub.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "presence.h"
#include "pattern.h"
#include "proc.h"
#include "publish.h"
#include "reply.h"
#include "request.h"
#include "paths.h"
#include "status_page.h"
#include "store.h"
#include "version.h"
#include "xalloc.h"

#define CORS_MAX 512

static int external;  /* -e or -s: the hub holds waiting requests */

/* The command line, apart from -e/-s's mode (external). */
struct options {
    const char *sock, *ws, *label, *file, *name;
    int check;
};
static int listen_fd; /* 0 when spawned by the web server */
static int ws_fd = -1; /* -w: WebSocket upgrades (external mode) */

static void on_stop(int sig)
{
    (void)sig;
    proc_stopping = 1;
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

/* GET /history: answered where it is read, in both process models (an accept thread
 * in external mode: it is short, and blocking only on its own connections). */
static int serve_history(FCGX_Request *req, const struct config *cfg, const char *cors)
{
    request_drain(req);
    history_serve(req, cfg, cors);
    return 0;
}

/* POST /publish. Returns 1 when the hub took it. */
static int serve_publish(FCGX_Request *req, const struct config *cfg, const char *cors)
{
    struct publish_job job;
    int taken = 0;

    if (publish_read(req, cfg, cors, &job) < 0) {
        metrics_publish_answered(reply_last_status());
    } else {
        request_drain(req);
        taken = external;
        if (external)
            hub_publish(req, cfg, &job, cors);
        else
            block_publish(req, cfg, cors, &job);
    }
    publish_job_free(&job);
    return taken;
}

/* The CORS lines that let pages on the configured origins read answers, credentials
 * included, into buf (CORS_MAX bytes; "" for none). The origin is echoed only after it
 * matched the list and holds no control bytes. */
static void cors_lines(FCGX_Request *req, const struct config *cfg, char *buf)
{
    const char *origin = FCGX_GetParam("HTTP_ORIGIN", req->envp);

    buf[0] = 0;
    if (!origin || strlen(origin) > 256 || !pattern_list_match(cfg->cors_origins, origin))
        return;
    for (const char *p = origin; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return;
    snprintf(buf, CORS_MAX,
             "Access-Control-Allow-Origin: %s\r\nAccess-Control-Allow-Credentials: true\r\n"
             "Access-Control-Expose-Headers: Retry-After, Idempotent-Replayed, Comet-Worker\r\nVary: Origin\r\n", origin);
}

/* A waiting request of kind: read, checked, admitted, then served by this process
 * model's driver. Returns 1 when the hub took it (the caller must not finish it). */
static int serve_waiting(FCGX_Request *req, const struct config *cfg, const char *cors, enum frame_kind kind)
{
    struct request_wait w;
    int taken = 0;

    if (request_waiting(req, cfg, cors, kind, &w) == 0 && (external ? hub_room(req, cfg, cors)
                                                                     : request_admit(req, cfg, cors, &w) == 0)) {
        request_drain(req);
        taken = external;
        if (external)
            hub_wait(req, cfg, &w, cors); /* admits it itself */
        else
            block_serve(req, cfg, &w, cors);
    }
    request_wait_free(&w);
    return taken;
}

/* Answers req, or hands a waiting request to the hub in external mode. Returns 1 when
 * the hub took it (the caller must not finish it). */
static int route(FCGX_Request *req, const struct config *cfg)
{
    /* apache-conf/comet.conf and htaccess.example send these names to mod_fcgid's wait
     * class, the rest to the short class: keep them in step. */
    static const struct {
        const char *name;
        enum frame_kind kind;
    } waiting[] = {{"poll", FRAME_POLL}, {"sse", FRAME_SSE}, {"stream", FRAME_LINES}, {"iframe", FRAME_IFRAME}};
    const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
    char endpoint[32], cors[CORS_MAX];
    struct buf head = {0};

    cors_lines(req, cfg, cors);
    request_endpoint(req, endpoint, sizeof endpoint);
    if (method && strcmp(method, "OPTIONS") == 0) {
        reply_head(&head, 204, "text/plain", 0, cors,
                   "Access-Control-Allow-Methods: GET, POST, DELETE\r\n"
                   "Access-Control-Allow-Headers: Authorization, Content-Type, Last-Event-ID, Idempotency-Key\r\n"
                   "Access-Control-Max-Age: 600\r\n");
        FCGX_PutStr(head.s, (int)head.len, req->out);
        buf_free(&head);
        return 0;
    }
    for (size_t i = 0; i < sizeof waiting / sizeof waiting[0]; i++)
        if (strcmp(endpoint, waiting[i].name) == 0)
            return serve_waiting(req, cfg, cors, waiting[i].kind);
    if (strcmp(endpoint, "publish") == 0)
        return serve_publish(req, cfg, cors);
    if (strcmp(endpoint, "stats") == 0)
        return ops_stats(req, cfg, cors, external);
    if (strcmp(endpoint, "metrics") == 0)
        return ops_metrics(req, cfg, cors, external);
    if (strcmp(endpoint, "channel") == 0)
        return ops_channel(req, cfg, cors, external);
    if (strcmp(endpoint, "channels") == 0)
        return ops_channels(req, cfg, cors, external);
    if (strcmp(endpoint, "history") == 0)
        return serve_history(req, cfg, cors);
    if (strcmp(endpoint, "presence") == 0)
        return presence_serve(req, cfg, cors, external);
    if (strcmp(endpoint, "status.html") == 0)
        return status_page_serve(req, cfg, cors);
    if (strcmp(endpoint, "ws") == 0) {
        reply_error(req->out, cors, 404, NULL, "no WebSocket here: it needs a web server that tunnels /comet/ws to "
                                               "comet.fcgi -w (README: WebSocket); use sse, stream or poll");
        return 0;
    }
    reply_error(req->out, cors, 404, NULL,
                "no such endpoint: use poll, sse, stream, iframe, history, presence, publish, stats, metrics, channel, "
                "channels or status.html");
    return 0;
}

/* One accept thread of external mode: answers quick requests itself and hands waiting
 * ones to the hub. */
static void *accept_loop(void *arg)
{
    const struct config *cfg = arg;
    FCGX_Request req;

    FCGX_InitRequest(&req, listen_fd, 0);
    while (!proc_stopping && FCGX_Accept_r(&req) >= 0)
        if (!route(&req, cfg))
            FCGX_Finish_r(&req);
    FCGX_Free(&req, 1);
    conn_drop();
    return NULL;
}

/* External mode: many concurrent requests per process (lighttpd, mod_proxy_fcgi,
 * nginx). Signals are taken by sigwait here, not by handlers, so that no thread is
 * interrupted in the middle of libfcgi or hiredis. */
static int run_external(const struct config *cfg)
{
    sigset_t set;
    struct rlimit fds;
    pthread_attr_t attr;
    pthread_t *threads = xcalloc((size_t)cfg->threads, sizeof *threads);
    int sig = 0, n = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Every waiting request holds a descriptor: take all the system allows. */
    if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
        fds.rlim_cur = fds.rlim_max;
        setrlimit(RLIMIT_NOFILE, &fds);
    }
    if (FCGX_Init() != 0 || hub_start(cfg, ws_fd) < 0)
        return 1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* publish parsing is the deepest: ~20 KiB */
    for (; n < cfg->threads; n++)
        if (pthread_create(&threads[n], &attr, accept_loop, (void *)cfg) != 0)
            break;
    log_info("external mode: %d accept threads, at most %d waiting requests", n, cfg->max_waiting);
    sigwait(&set, &sig);
    log_info("stopping on signal %d", sig);
    proc_stopping = 1;
    FCGX_ShutdownPending();
    shutdown(listen_fd, SHUT_RDWR); /* wakes the threads blocked in accept() */
    hub_stop();
    while (n > 0)
        pthread_join(threads[--n], NULL);
    free(threads);
    return 0;
}

/* Prints the usage to out (stdout for -h, stderr after a mistake). */
static void usage(FILE *out)
{
    fprintf(out, "usage: comet.fcgi [-n] [-c FILE] [-e | -s SOCKET] [-w SOCKET] [-L NAME] | -V | -h\n"
                 "  (none)     one request at a time on the FastCGI socket the web server passes\n"
                 "             as standard input (Apache mod_fcgid)\n"
                 "  -e         external mode on the inherited socket (spawn-fcgi, lighttpd bin-path)\n"
                 "  -s SOCKET  external mode listening on SOCKET: a path, or HOST:PORT\n"
                 "  -w SOCKET  with -e or -s: also serve WebSocket upgrades (GET /comet/ws, plain\n"
                 "             HTTP/1.1 from the web server's tunnel) on SOCKET: a path, or HOST:PORT\n"
                 "  -c FILE    the settings file (KEY=VALUE lines); else $COMET_CONFIG, else\n"
                 "             %s if it exists; the environment overrides it\n"
                 "  -L NAME    a label for this process's class, in each of its log lines\n"
                 "             (comet.fcgi:NAME[PID]); NAME is 1 to 32 of A-Z a-z 0-9 _ . -.\n"
                 "             Under mod_fcgid a distinct command line is a distinct class\n"
                 "             (apache-conf/comet.conf: wait and short)\n"
                 "  -n         check the configuration, say which settings file was read, and exit\n"
                 "  -V         print the version and exit\n"
                 "  -h         print this help and exit\n",
            CONFIG_DEFAULT_FILE);
}

/* Started by hand (a terminal, a script) with neither -e nor -s: standard input is not
 * the listening socket a FastCGI server passes, and libfcgi would answer one request
 * as CGI. Returns 1 when fd 0 is a listening socket. */
static int spawned_by_server(void)
{
    int listening = 0;
    socklen_t len = sizeof listening;

    return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

/* The name log lines carry: "comet.fcgi", or "comet.fcgi:NAME" with -L NAME. Returns
 * a static string, or NULL when NAME is not a valid label. */
static const char *progname(const char *label)
{
    static char name[64];
    size_t n = label ? strlen(label) : 0;

    if (!label)
        return "comet.fcgi";
    if (n < 1 || n > 32 || strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != n)
        return NULL;
    snprintf(name, sizeof name, "comet.fcgi:%s", label);
    return name;
}

/* Parses the command line into *o. Returns -1 to go on, else the exit status. */
static int options(int argc, char **argv, struct options *o)
{
    int opt;

    while ((opt = getopt(argc, argv, "nes:w:L:c:Vh")) != -1) {
        if (opt == 'n')
            o->check = 1;
        else if (opt == 'e')
            external = 1;
        else if (opt == 's')
            external = 1, o->sock = optarg;
        else if (opt == 'w')
            o->ws = optarg;
        else if (opt == 'L')
            o->label = optarg;
        else if (opt == 'c')
            o->file = optarg;
        else if (opt == 'V')
            return printf("comet.fcgi %s\n", comet_version) < 0;
        else if (opt == 'h')
            return usage(stdout), 0;
        else
            return usage(stderr), 2;
    }
    if (optind < argc || !(o->name = progname(o->label)) || (o->ws && !external))
        return usage(stderr), 2;
    if (!external && !o->check && !spawned_by_server()) {
        fprintf(stderr, "comet.fcgi: standard input is not a FastCGI socket: this program is started by the web\n"
                        "server (Apache mod_fcgid: FcgidWrapper or AddHandler fcgid-script; lighttpd: bin-path\n"
                        "with -e), or runs on its own with -s SOCKET behind mod_proxy_fcgi or nginx\n"
                        "(spawn-fcgi: -e). See README.md, \"Process models and deployments\"; -h for options.\n");
        return 2;
    }
    return -1;
}

/* The settings, or NULL after saying why. -n: says which file was read too. */
static const struct config *settings(const struct options *o)
{
    const struct config *cfg;
    char err[512];

    if (!(cfg = config_load_file(o->file, err, sizeof err))) {
        fprintf(stderr, "%s: %s\n", o->name, err);
        return NULL;
    }
    log_init(o->name, (enum log_level)cfg->log_level, cfg->log_syslog);
    config_log_warnings(cfg);
    if (o->check)
        printf("%s %s: configuration OK; settings file: %s\n", o->name, comet_version,
               cfg->file[0] ? cfg->file : "none (environment and defaults only)");
    return cfg;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    const struct config *cfg;
    FCGX_Request req;
    char err[512];
    int rc = options(argc, argv, &o);

    if (rc >= 0)
        return rc;
    if (!(cfg = settings(&o)))
        return 1;
    if (o.check)
        return 0;
    if (auth_usable(cfg, err, sizeof err) < 0) {
        log_error("%s", err);
        return 1;
    }
    metrics_init();
    srand((unsigned)(clock_wall_ms() ^ ((long long)getpid() << 16)));
    if (o.sock && (listen_fd = FCGX_OpenSocket(o.sock, 4096)) < 0) { /* bursts; capped by somaxconn */
        log_error("cannot listen on %s", o.sock);
        return 1;
    }
    if (o.ws && (ws_fd = FCGX_OpenSocket(o.ws, 4096)) < 0) {
        log_error("cannot listen on %s", o.ws);
        return 1;
    }
    if (external)
        return run_external(cfg);
    install_signals();
    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
        log_error("cannot initialise libfcgi");
        return 1;
    }
    while (!proc_stopping && FCGX_Accept_r(&req) >= 0) {
        route(&req, cfg);
        FCGX_Finish_r(&req);
    }
    conn_drop();
    log_debug("exiting");
    return 0;
}
