/* webhook: the sender thread: its loop (sweep, take a batch, POST it, count it), the
 * HTTP POST with libcurl and the signature with OpenSSL's HMAC. What is queued, and
 * when, is the store's (store_waiting.lua, store_webhook.lua). */
#include "webhook.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "redis.h"
#include "store.h"
#include "version.h"

static struct {
    const struct config *cfg;
    volatile sig_atomic_t *stop;
    pthread_t thread;
    int started;
    CURL *curl;
} hook;

void webhook_sign(const char *secret, long long ts, const char *body, size_t len, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    struct buf signed_text = {0};
    char head[32];

    snprintf(head, sizeof head, "%lld.", ts);
    buf_puts(&signed_text, head);
    buf_append(&signed_text, body, len);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signed_text.s, signed_text.len, mac, &n);
    buf_free(&signed_text);
    strcpy(out, "sha256=");
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
}

/* Sleeps ms in steps, returning early once stopping. */
static void webhook_nap(int ms)
{
    for (; ms > 0 && !*hook.stop; ms -= 100) {
        struct timespec ts = {0, (ms < 100 ? ms : 100) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The body of one POST: {"time_ms":NOW,"events":[...]} from the taken events. */
static void webhook_body(const redisReply *events, struct buf *body)
{
    char head[64];

    snprintf(head, sizeof head, "{\"time_ms\":%lld,\"events\":[", clock_wall_ms());
    buf_puts(body, head);
    for (size_t i = 0; i < events->elements; i++) {
        if (i)
            buf_puts(body, ",");
        buf_append(body, events->element[i]->str, events->element[i]->len);
    }
    buf_puts(body, "]}");
}

/* One POST of body. Returns the HTTP status, or 0 when none came (logged). */
static long webhook_post(const struct buf *body)
{
    char ts[64], sig[WEBHOOK_SIG_MAX + 32], agent[64];
    long long now = clock_wall_ms() / 1000;
    struct curl_slist *h = NULL;
    long status = 0;
    CURLcode rc;

    snprintf(ts, sizeof ts, "X-Comet-Timestamp: %lld", now);
    strcpy(sig, "X-Comet-Signature: ");
    webhook_sign(hook.cfg->webhook_secret, now, body->s, body->len, sig + strlen(sig));
    snprintf(agent, sizeof agent, "comet-fcgi/%s", comet_version);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, ts);
    h = curl_slist_append(h, sig);
    curl_easy_reset(hook.curl);
    curl_easy_setopt(hook.curl, CURLOPT_URL, hook.cfg->webhook_url);
    curl_easy_setopt(hook.curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(hook.curl, CURLOPT_POSTFIELDS, body->s);
    curl_easy_setopt(hook.curl, CURLOPT_POSTFIELDSIZE, (long)body->len);
    curl_easy_setopt(hook.curl, CURLOPT_USERAGENT, agent);
    curl_easy_setopt(hook.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(hook.curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(hook.curl, CURLOPT_TIMEOUT_MS, 5000L);
    if ((rc = curl_easy_perform(hook.curl)) != CURLE_OK)
        log_warn("webhook: %s", curl_easy_strerror(rc));
    else
        curl_easy_getinfo(hook.curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

/* Sends a batch, retrying with backoff. Returns 1 sent, 0 given up, -1 stopped first. */
static int webhook_send(const redisReply *events)
{
    struct buf body = {0};
    long status = 0;
    int tries = 0;

    webhook_body(events, &body);
    for (int wait = 0; tries < WEBHOOK_TRIES && !*hook.stop; wait = wait ? wait * 2 : 1000) {
        webhook_nap(wait);
        if (*hook.stop)
            break;
        tries++;
        if ((status = webhook_post(&body)) >= 200 && status < 300)
            break;
        if (status)
            log_warn("webhook: the receiver answered %ld (try %d of %d)", status, tries, WEBHOOK_TRIES);
    }
    buf_free(&body);
    if (status >= 200 && status < 300)
        return 1;
    return tries < WEBHOOK_TRIES ? -1 : 0;
}

/* Takes one batch and sends it. Returns 0 when the queue was empty or it went (or
 * was given up), -1 when the connection must be dropped. */
static int webhook_turn(redisContext *c)
{
    redisReply *r = store_webhook_take(c, hook.cfg, WEBHOOK_BATCH);
    int rc = 0, sent;

    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements) {
        sent = webhook_send(r);
        if (sent > 0)
            rc = store_webhook_count(c, hook.cfg, "webhook_sent", (long long)r->elements);
        else if (sent == 0) {
            log_warn("webhook: gave up %zu events after %d tries", r->elements, WEBHOOK_TRIES);
            rc = store_webhook_count(c, hook.cfg, "webhook_failed", (long long)r->elements);
        } else
            rc = store_webhook_putback(c, hook.cfg, r);
    } else {
        webhook_nap(200);
    }
    freeReplyObject(r);
    return rc;
}

/* The sweep, and a warning when the queue's bound dropped events since the last look
 * (they are dropped inside Redis scripts, which cannot log). *dropped: the count seen
 * last, -1 before the first look. Returns 0 or -1 (drop c). */
static int webhook_sweep(redisContext *c, long long *dropped)
{
    long long n;

    if (store_webhook_sweep(c, hook.cfg) < 0 || (n = store_stats_counter(c, hook.cfg, "webhook_dropped")) < 0)
        return -1;
    if (*dropped < 0 && n > 0)
        log_warn("webhook: %lld events were dropped by the queue's bound (COMET_WEBHOOK_QUEUE=%d) so far", n,
                 hook.cfg->webhook_queue);
    else if (*dropped >= 0 && n > *dropped)
        log_warn("webhook: the queue was full (COMET_WEBHOOK_QUEUE=%d): %lld events dropped", hook.cfg->webhook_queue,
                 n - *dropped);
    *dropped = n;
    return 0;
}

/* One round on c: the sweep when due, then a batch. Returns 0, or -1 (drop c). */
static int webhook_round(redisContext *c, long long *swept, long long *dropped)
{
    if (clock_ms() - *swept >= WEBHOOK_SWEEP_MS) {
        *swept = clock_ms();
        if (webhook_sweep(c, dropped) < 0)
            return -1;
    }
    return webhook_turn(c);
}

static void *webhook_loop(void *arg)
{
    redisContext *c = NULL;
    long long swept = 0, dropped = -1;

    (void)arg;
    while (!*hook.stop) {
        if (!c && !(c = redis_open(hook.cfg, 5000))) {
            webhook_nap(1000);
        } else if (webhook_round(c, &swept, &dropped) < 0) {
            redisFree(c);
            c = NULL;
        }
    }
    if (c)
        redisFree(c);
    return NULL;
}

int webhook_start(const struct config *cfg, volatile sig_atomic_t *stop)
{
    if (!cfg->webhook_url[0])
        return 0;
    hook.cfg = cfg;
    hook.stop = stop;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(hook.curl = curl_easy_init())) {
        log_error("webhook: cannot initialise libcurl");
        return -1;
    }
    if (pthread_create(&hook.thread, NULL, webhook_loop, NULL) != 0) {
        log_error("webhook: cannot start its thread");
        return -1;
    }
    hook.started = 1;
    log_info("webhook: sending channel events to %s", cfg->webhook_url);
    return 0;
}

void webhook_join(void)
{
    if (!hook.started)
        return;
    pthread_join(hook.thread, NULL);
    curl_easy_cleanup(hook.curl);
    curl_global_cleanup();
    hook.started = 0;
}
