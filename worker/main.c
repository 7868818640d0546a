/* comet-worker: takes queued publishes from the inbox, stores each in its channels'
 * histories and publishes it to the waiting requests. A lease in Redis keeps one
 * worker active per inbox; others wait on standby and take over when it lapses.
 * What storing means (ids, trimming, fan-out) is the store's business. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "redis.h"
#include "paths.h"
#include "status.h"
#include "store.h"
#include "version.h"
#include "webhook.h"
#include "writer.h"
#include "xalloc.h"

/* How often a standby worker looks at the lease: a crashed active worker is replaced
 * about this soon. */
#define WORKER_STANDBY_MS 250

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* Sleeps ms, returning early on a signal. */
static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

struct worker {
    const struct config *cfg;
    redisContext *c;
    char token[128]; /* this run's lease token */
    char last[CURSOR_MAX]; /* the newest id it stored, "" before any */
    long long client;      /* its connection's CLIENT ID, noted with the lease */
    int active;
    long long renewed_ms;
    long long swept_ms; /* when it last let presence members leave (store_presence_sweep) */
    long long until; /* -t: when to exit (wall ms); 0: never */
    struct status *status; /* its samples for the status page */
};

static void worker_drop(struct worker *w)
{
    if (w->c)
        redisFree(w->c);
    w->c = NULL;
    w->active = 0;
}

/* With COMET_REDIS_WAIT_REPLICAS, confirms the ?wait=1 publishes of a stored batch
 * once that many replicas have it (WAIT), so a failover cannot lose a confirmed event.
 * keys[i] and ids[i] (freed here) are the n stored entries' reply keys and ids. */
static void worker_confirm(struct worker *w, const char **keys, char **ids, size_t n)
{
    long long acks = n ? store_replicated(w->c, w->cfg->redis_wait_replicas, w->cfg->redis_wait_timeout) : 0;

    if (n && acks < w->cfg->redis_wait_replicas)
        log_warn("%lld of %d replicas have the last %zu publishes: not confirmed", acks < 0 ? 0 : acks,
                 w->cfg->redis_wait_replicas, n);
    for (size_t i = 0; i < n; i++) {
        if (acks >= w->cfg->redis_wait_replicas)
            store_confirm(w->c, keys[i], ids[i]);
        free(ids[i]);
    }
}

/* Stores every entry of a claim or take reply, in order, pipelined: one round trip
 * for the batch, not one per entry (each script stays atomic, and Redis runs them in
 * order). Returns 0, or -1 after the lease was lost or Redis failed; the worker is then
 * disconnected (answers may be unread) and standby until it reconnects. */
static int worker_store(struct worker *w, const redisReply *r)
{
    const redisReply *entries = store_entries(r);
    int confirm = w->cfg->redis_wait_replicas == 0, lost = 0, rc;
    size_t n = 0, i = 0, waits = 0;
    const char **keys;
    char **ids;

    if (!entries)
        return 0;
    keys = xcalloc(entries->elements, sizeof *keys);
    ids = xcalloc(entries->elements, sizeof *ids);
    while (n < entries->elements &&
           store_write_append(w->c, w->cfg, w->token, entries->element[n], w->last, confirm) == 0)
        n++;
    for (; i < n; i++) {
        char *json = NULL;
        const char *key = store_entry_reply_key(entries->element[i]);
        if ((rc = store_write_reply(w->c, &lost, w->last, confirm ? NULL : &json)) < 0)
            break;
        if (rc > 0)
            status_count(w->status, entries->element[i]);
        if (rc > 0 && json && *key) {
            keys[waits] = key;
            ids[waits++] = json;
        } else {
            free(json);
        }
    }
    worker_confirm(w, keys, ids, waits);
    free(keys);
    free(ids);
    if (i == entries->elements)
        return 0;
    if (lost)
        log_warn("lease lost; going standby");
    worker_drop(w);
    return -1;
}

/* Becomes the active worker if the lease is free, then stores whatever the last
 * active worker left pending, before anything newer. */
static void worker_try_lead(struct worker *w)
{
    redisReply *r;
    long long dead = 0;
    int rc = store_lease_hold(w->c, w->cfg, w->token, w->client, 0);

    /* Held: a holder whose connection Redis no longer has died (its kernel closed the
     * socket), so the lease is taken now, not when it lapses. */
    if (rc == 0 && (dead = store_lease_gone(w->c, w->cfg)) > 0)
        rc = store_lease_hold(w->c, w->cfg, w->token, w->client, dead);
    if (rc < 0 || dead < 0) {
        worker_drop(w);
        return;
    }
    if (rc == 0) {
        nap(WORKER_STANDBY_MS);
        return;
    }
    log_info("active (lease %ds)", w->cfg->worker_lease);
    w->active = 1;
    w->renewed_ms = clock_wall_ms();
    while (w->active && !stopping) {
        if (!(r = store_claim(w->c, w->cfg, "worker"))) {
            worker_drop(w);
            return;
        }
        rc = store_entries(r) ? worker_store(w, r) : 1;
        freeReplyObject(r);
        if (rc)
            return;
    }
}

static void worker_step(struct worker *w)
{
    int period = w->cfg->worker_lease * 1000 / 3;
    redisReply *r;
    int rc;

    if (clock_wall_ms() - w->renewed_ms >= period) {
        rc = store_lease_hold(w->c, w->cfg, w->token, w->client, 0);
        if (rc <= 0) {
            log_warn(rc ? "lease renewal failed" : "lease lost; going standby");
            if (rc < 0)
                worker_drop(w);
            w->active = 0;
            return;
        }
        w->renewed_ms = clock_wall_ms();
    }
    /* Always, not only with COMET_PRESENCE_CHANNELS here: web nodes may have it set. */
    if (clock_wall_ms() - w->swept_ms >= 1000) {
        w->swept_ms = clock_wall_ms();
        if (store_presence_sweep(w->c, w->cfg) < 0) {
            worker_drop(w);
            return;
        }
    }
    if (!(r = store_take(w->c, w->cfg, "worker", period < 1000 ? period : 1000))) {
        if (!stopping)
            worker_drop(w);
        return;
    }
    worker_store(w, r);
    freeReplyObject(r);
    if (w->c && status_tick(w->status, w->c, w->cfg) < 0)
        worker_drop(w);
}

/* Prints the usage to out (stdout for -h, stderr after a mistake). */
static void usage(FILE *out)
{
    fprintf(out, "usage: comet-worker [-n] [-c FILE] [-t seconds] [--archive | --archive-init] | -V | -h\n"
                 "  -c FILE         the settings file (KEY=VALUE lines); else $COMET_CONFIG, else\n"
                 "                  %s if it exists; the environment overrides it\n"
                 "  -n              check the configuration, say which settings file was read, and exit\n"
                 "  -t seconds      exit after this long (for cron: * * * * * comet-worker -t 60)\n"
                 "  --archive       run the archive writer (COMET_ARCHIVE) instead of the worker\n"
                 "  --archive-init  apply the archive's schema (sql/) unless it is there, and exit\n"
                 "  -V              print the version and exit\n"
                 "  -h              print this help and exit\n",
            CONFIG_DEFAULT_FILE);
}

/* What COMET_ARCHIVE names, as far as it can be checked without connecting. Returns 0,
 * or -1 with the message in err. */
static int check_archive(const struct config *cfg, char *err, size_t errlen)
{
    struct archive_url url;

    return archive_url_parse(cfg->archive, &url, err, errlen) < 0 || archive_check(&url, err, errlen) < 0 ? -1 : 0;
}

/* Reads the command line and the settings into w; *mode gets 'A' (--archive), 'I'
 * (--archive-init) or 0. Returns -1 to go on, else the exit status. */
static int start(struct worker *w, int *mode, int argc, char **argv)
{
    static const struct option longs[] = {{"archive", no_argument, NULL, 'A'},
                                          {"archive-init", no_argument, NULL, 'I'},
                                          {NULL, 0, NULL, 0}};
    const char *file = NULL;
    char err[512];
    int opt, check = 0;

    while ((opt = getopt_long(argc, argv, "nt:c:Vh", longs, NULL)) != -1) {
        if (opt == 'n')
            check = 1;
        else if ((opt == 'A' || opt == 'I') && !*mode)
            *mode = opt;
        else if (opt == 't' && atoi(optarg) > 0)
            w->until = clock_wall_ms() + atoi(optarg) * 1000LL;
        else if (opt == 'c')
            file = optarg;
        else if (opt == 'V')
            return printf("comet-worker %s\n", comet_version) < 0;
        else if (opt == 'h')
            return usage(stdout), 0;
        else
            return usage(stderr), 2;
    }
    if (optind < argc)
        return usage(stderr), 2;
    if (!(w->cfg = config_load_file(file, err, sizeof err)) || check_archive(w->cfg, err, sizeof err) < 0) {
        fprintf(stderr, "comet-worker: %s\n", err);
        return 1;
    }
    log_init(*mode == 'A' ? "comet-worker:archive" : "comet-worker", (enum log_level)w->cfg->log_level, w->cfg->log_syslog);
    config_log_warnings(w->cfg);
    if (*mode == 'I' && !check)
        return writer_init(w->cfg);
    if (!check)
        return -1;
    printf("comet-worker %s: configuration OK; settings file: %s\n", comet_version,
           w->cfg->file[0] ? w->cfg->file : "none (environment and defaults only)");
    return 0;
}

int main(int argc, char **argv)
{
    struct worker w = {0};
    struct sigaction sa = {0};
    char host[64] = "";
    int mode = 0, backoff = 100, rc = start(&w, &mode, argc, argv);

    if (rc >= 0)
        return rc;
    sa.sa_handler = on_signal; /* no SA_RESTART: a blocked wait returns at once */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (mode == 'A')
        return writer_run(w.cfg, w.until, &stopping);
    gethostname(host, sizeof host - 1);
    srand((unsigned)(clock_wall_ms() ^ getpid()));
    snprintf(w.token, sizeof w.token, "%s:%d:%08x", host, (int)getpid(), (unsigned)rand());
    if (webhook_start(w.cfg, &stopping) < 0)
        return 1;
    w.status = status_new();

    while (!stopping && (!w.until || clock_wall_ms() < w.until)) {
        if (!w.c) {
            if (!(w.c = redis_open(w.cfg, 5000)) || store_group(w.c, w.cfg) < 0 ||
                (w.client = store_client_id(w.c)) < 0) {
                worker_drop(&w);
                nap(backoff);
                backoff = backoff < 1000 ? backoff * 2 : 1000;
                continue;
            }
            backoff = 100;
        }
        if (w.active)
            worker_step(&w);
        else
            worker_try_lead(&w);
    }
    if (w.c && w.active)
        store_lease_release(w.c, w.cfg, w.token);
    worker_drop(&w);
    status_free(w.status);
    stopping = 1; /* -t: the sender stops too */
    webhook_join();
    log_info("stopped");
    return 0;
}
