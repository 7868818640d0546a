/* config: the table of settings (name, default, bounds) and its one reader, which
 * takes each from the environment, else from the settings file, else the default.
 * Finding and reading the file is here; its syntax is envfile.c's. Knows nothing of
 * what the settings are used for. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envfile.h"
#include "log.h"
#include "paths.h"
#include "archive_url.h"
#include "cidr.h"
#include "xalloc.h"

/* The largest settings file read: a few kB is normal, this much is a mistake. */
#define CONFIG_FILE_MAX (1 << 20)

enum kind { INT, STR, CHOICE };

struct setting {
    const char *name;
    enum kind kind;
    size_t offset;
    const char *def;
    long min, max;
    const char *const *choices; /* CHOICE: the words accepted, NULL-terminated; the field gets the index */
};

#define S(name, field, def) {name, STR, offsetof(struct config, field), def, 0, 0, NULL}
#define I(name, field, def, min, max) {name, INT, offsetof(struct config, field), def, min, max, NULL}
#define C(name, field, def, words) {name, CHOICE, offsetof(struct config, field), def, 0, 0, words}

static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_sinks[] = {"stderr", "syslog", NULL};

static const struct setting settings[] = {
    S("COMET_REDIS_HOST", redis_host, "127.0.0.1"),
    I("COMET_REDIS_PORT", redis_port, "6379", 1, 65535),
    S("COMET_REDIS_SOCKET", redis_socket, ""),
    S("COMET_REDIS_USER", redis_user, ""),
    S("COMET_REDIS_PASSWORD", redis_password, ""),
    I("COMET_REDIS_DB", redis_db, "0", 0, 1000),
    S("COMET_REDIS_SENTINELS", redis_sentinels, ""),
    S("COMET_REDIS_MASTER", redis_master, "mymaster"),
    I("COMET_REDIS_WAIT_REPLICAS", redis_wait_replicas, "0", 0, 16),
    I("COMET_REDIS_WAIT_TIMEOUT", redis_wait_timeout, "500", 1, 10000),
    S("COMET_PREFIX", prefix, "comet:"),
    I("COMET_HISTORY_SIZE", history_size, "1000", 1, 1000000),
    I("COMET_HISTORY_AGE", history_age, "3600", 1, 30 * 86400),
    I("COMET_POLL_TIMEOUT", poll_timeout, "25", 0, 3600),
    I("COMET_POLL_TIMEOUT_MAX", poll_timeout_max, "30", 0, 3600),
    I("COMET_POLL_MAX_EVENTS", poll_max_events, "100", 1, 10000),
    I("COMET_SSE_HEARTBEAT", sse_heartbeat, "15", 1, 3600),
    I("COMET_SSE_LIFETIME", sse_lifetime, "240", 1, 86400),
    I("COMET_SSE_RETRY", sse_retry, "2000", 0, 600000),
    I("COMET_SSE_PADDING", sse_padding, "0", 0, 1 << 20),
    I("COMET_MAX_BODY", max_body, "65536", 64, 16 << 20),
    /* An idempotent publish passes its events to a Lua script, whose unpack() stops near 8000 values. */
    I("COMET_MAX_BATCH", max_batch, "100", 1, 3000),
    I("COMET_MAX_CHANNELS", max_channels, "32", 1, 1000),
    I("COMET_CHANNEL_MAX", channel_max, "128", 1, 128),
    I("COMET_MAX_DEPTH", max_depth, "32", 2, 1000),
    I("COMET_MAX_QUERY", max_query, "8192", 256, 65536),
    I("COMET_MAX_WAITING_PER_ADDR", max_waiting_addr, "0", 0, 1000000),
    I("COMET_IDEMPOTENCY_TTL", idempotency_ttl, "86400", 60, 30 * 86400),
    I("COMET_PUBLISH_WAIT", publish_wait, "10", 1, 300),
    I("COMET_WORKER_LEASE", worker_lease, "10", 2, 3600),
    S("COMET_CORS_ORIGINS", cors_origins, ""),
    S("COMET_PUBLIC_CHANNELS", public_channels, ""),
    I("COMET_PUBLIC_RATE", public_rate, "30", 1, 1000000),
    I("COMET_MAX_WAITING", max_waiting, "10000", 1, 1000000),
    I("COMET_WS_RATE", ws_rate, "20", 1, 10000),
    I("COMET_THREADS", threads, "4", 1, 256),
    S("COMET_PRIVATE_CHANNELS", private_channels, ""),
    S("COMET_JWT_SECRET", jwt_secret, ""),
    S("COMET_JWT_PUBLIC_KEY", jwt_public_key, ""),
    S("COMET_URL_SECRET", url_secret, ""),
    S("COMET_ARCHIVE", archive, ""),
    S("COMET_ARCHIVE_CHANNELS", archive_channels, ""),
    I("COMET_ARCHIVE_AGE", archive_age, "0", 0, 100 * 366),
    I("COMET_ARCHIVE_BACKLOG", archive_backlog, "100000", 1, 100000000),
    C("COMET_LOG_LEVEL", log_level, "info", levels),
    C("COMET_LOG", log_syslog, "stderr", log_sinks),
    S("COMET_STATS_KEY", stats_key, ""),
    S("COMET_STATS_ALLOW", stats_allow, ""),
    S("COMET_WEBHOOK_URL", webhook_url, ""),
    S("COMET_WEBHOOK_SECRET", webhook_secret, ""),
    I("COMET_WEBHOOK_QUEUE", webhook_queue, "10000", 1, 10000000),
    I("COMET_LEAVE_GRACE", leave_grace, "5", 1, 3600),
    S("COMET_PRESENCE_CHANNELS", presence_channels, ""),
};

static int set_one(struct config *c, const struct setting *s, const char *v, char *err, size_t errlen)
{
    char *end;
    long n;

    switch (s->kind) {
    case STR:
        *(const char **)((char *)c + s->offset) = v;
        return 0;
    case CHOICE:
        for (n = 0; s->choices[n]; n++)
            if (strcmp(v, s->choices[n]) == 0) {
                *(int *)((char *)c + s->offset) = (int)n;
                return 0;
            }
        snprintf(err, errlen, "%s=%s: expected one of", s->name, v);
        for (n = 0; s->choices[n]; n++)
            snprintf(err + strlen(err), errlen - strlen(err), " %s", s->choices[n]);
        return -1;
    case INT:
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < s->min || n > s->max) {
            snprintf(err, errlen, "%s=%s: expected a whole number from %ld to %ld", s->name, v,
                     s->min, s->max);
            return -1;
        }
        *(int *)((char *)c + s->offset) = (int)n;
        return 0;
    }
    return -1;
}

/* One item of COMET_PUBLISH_KEYS: a plain key, or name=secret[:pattern|pattern]. An
 * item whose "=" is only trailing padding (base64) stays a plain key. */
static int parse_key(struct config_key *k, char *item, int index, char *err, size_t errlen)
{
    char *eq = strchr(item, '='), *colon;

    if (!eq || eq == item || eq[1] == 0 || eq[1] == '=') {
        snprintf(k->label, sizeof k->label, "key %d", index);
        k->name = k->label;
        k->secret = item;
        return 0;
    }
    *eq = 0;
    k->name = item;
    k->secret = eq + 1;
    if ((colon = strchr(k->secret, ':'))) {
        *colon = 0;
        /* pattern_list_match takes commas. */
        for (char *p = colon + 1; *p; p++)
            if (*p == '|')
                *p = ',';
        k->channels = colon + 1;
    }
    if (strspn(item, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(item) ||
        strlen(item) > 32 || !*k->secret || (k->channels && !*k->channels)) {
        snprintf(err, errlen, "COMET_PUBLISH_KEYS: item %d: expected KEY, NAME=KEY or NAME=KEY:PATTERN|PATTERN "
                 "(NAME: up to 32 of A-Z a-z 0-9 _ . -)", index);
        return -1;
    }
    return 0;
}

/* COMET_PUBLISH_KEYS is comma-separated; empty items are ignored. */
static int split_keys(struct config *c, char *list, char *err, size_t errlen)
{
    char *save = NULL;

    for (char *k = strtok_r(list, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        if (c->npublish_keys == CONFIG_MAX_KEYS) {
            snprintf(err, errlen, "COMET_PUBLISH_KEYS: at most %d keys", CONFIG_MAX_KEYS);
            return -1;
        }
        if (parse_key(&c->publish_keys[c->npublish_keys], k, c->npublish_keys + 1, err, errlen) < 0)
            return -1;
        c->npublish_keys++;
    }
    return 0;
}

/* Reads the PEM file named by COMET_JWT_PUBLIC_KEY whole (at most 64 KiB). */
static int read_pem(struct config *c, char *err, size_t errlen)
{
    FILE *f = fopen(c->jwt_public_key, "r");
    char *buf = xmalloc(65538);
    size_t n = f ? fread(buf, 1, 65537, f) : 0;

    if (f)
        fclose(f);
    buf[n] = 0;
    if (!f || n == 0 || n > 65536 || !strstr(buf, "-----BEGIN")) {
        snprintf(err, errlen, "COMET_JWT_PUBLIC_KEY=%s: %s", c->jwt_public_key,
                 f ? "not a PEM public key of at most 64 KiB" : strerror(errno));
        free(buf);
        return -1;
    }
    c->jwt_public_pem = buf;
    return 0;
}

/* The settings file's entries, later lines first (a key set twice: the last wins). */
static struct file_var {
    char *key, *value;
} *file_vars;
static size_t nfile_vars;
static char file_path[1024];   /* the file read; "" for none */
static char file_notes[1024];  /* warning lines, each ending in \n */

static int is_secret(const char *key)
{
    static const char *const secrets[] = {"COMET_REDIS_PASSWORD", "COMET_PUBLISH_KEYS", "COMET_JWT_SECRET",
                                          "COMET_URL_SECRET", "COMET_STATS_KEY", "COMET_WEBHOOK_SECRET"};

    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strcmp(key, secrets[i]) == 0)
            return 1;
    return 0;
}

static int is_setting(const char *key)
{
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (strcmp(key, settings[i].name) == 0)
            return 1;
    return strcmp(key, "COMET_PUBLISH_KEYS") == 0;
}

/* Adds one warning line about the settings file (config_log_warnings logs them). */
__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
    size_t used = strlen(file_notes);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(file_notes + used, sizeof file_notes - used, fmt, ap);
    va_end(ap);
}

static void file_clear(void)
{
    for (size_t i = 0; i < nfile_vars; i++) {
        free(file_vars[i].key);
        free(file_vars[i].value);
    }
    free(file_vars);
    file_vars = NULL;
    nfile_vars = 0;
    file_path[0] = file_notes[0] = 0;
}

/* The value of setting name: the environment's, else the settings file's, else NULL. */
static const char *lookup(const char *name)
{
    const char *v = getenv(name);

    for (size_t i = nfile_vars; !v && i-- > 0;)
        if (strcmp(file_vars[i].key, name) == 0)
            v = file_vars[i].value;
    return v;
}

/* Keeps the entries of text (len bytes, read from path) in file_vars. Only COMET_*
 * keys belong there: another key is an error naming its line, an unknown COMET_* key
 * a warning (it may be meant for a unit's command line). Returns 0, or -1 with err. */
static int file_parse(const char *path, const char *text, size_t len, const char **secret, char *err,
                      size_t errlen)
{
    struct envfile f = {0};
    struct envfile_entry e;
    int rc;

    while ((rc = envfile_next(&f, text, len, &e)) == 1) {
        char *key = xmalloc(e.keylen + 1), *value = xmalloc(e.valuelen + 1);
        memcpy(key, e.key, e.keylen);
        key[e.keylen] = 0;
        memcpy(value, e.value, e.valuelen);
        value[e.valuelen] = 0;
        file_vars = xrealloc(file_vars, (nfile_vars + 1) * sizeof *file_vars);
        file_vars[nfile_vars++] = (struct file_var){key, value};
        if (strncmp(key, "COMET_", 6) != 0) {
            snprintf(err, errlen, "%s:%d: %s: only COMET_* settings belong in this file", path, e.line, key);
            return -1;
        }
        if (!is_setting(key))
            note("%s:%d: %s is not a setting of comet-fcgi; ignored\n", path, e.line, key);
        if (is_secret(key))
            *secret = key;
    }
    if (rc < 0)
        snprintf(err, errlen, "%s:%d: %s", path, f.line, f.errstr);
    return rc;
}

/* Reads the settings file at path. named: the user named it (-c, COMET_CONFIG), so a
 * missing file is an error; the default path is skipped when missing. Returns 0, or
 * -1 with err. */
static int file_read(const char *path, int named, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
    const char *secret = NULL;
    char *text = NULL;
    struct stat st;
    ssize_t n = 0;

    if (fd < 0 && !named && errno == ENOENT)
        return 0;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "settings file %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
        snprintf(err, errlen, "settings file %s: not a regular file of at most 1 MiB", path);
        goto fail;
    }
    text = xmalloc((size_t)st.st_size + 1);
    if ((n = read(fd, text, (size_t)st.st_size + 1)) < 0 || n > st.st_size) {
        snprintf(err, errlen, "settings file %s: %s", path, n < 0 ? strerror(errno) : "changed while read");
        goto fail;
    }
    snprintf(file_path, sizeof file_path, "%s", path);
    if ((rc = file_parse(path, text, (size_t)n, &secret, err, errlen)) == 0 && secret && (st.st_mode & S_IROTH))
        note("%s is readable by every user and holds %s: chmod 600 %s (or 640 with the group that runs "
             "comet.fcgi)\n", path, secret, path);
fail:
    free(text);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The webhook's settings go together: a URL (http or https) and a secret to sign with. */
static int webhook_check(const struct config *c, char *err, size_t errlen)
{
    if (!c->webhook_url[0])
        return 0;
    if (strncmp(c->webhook_url, "http://", 7) != 0 && strncmp(c->webhook_url, "https://", 8) != 0) {
        snprintf(err, errlen, "COMET_WEBHOOK_URL=%s: expected an http:// or https:// URL", c->webhook_url);
        return -1;
    }
    if (strlen(c->webhook_secret) < 16) {
        snprintf(err, errlen, "COMET_WEBHOOK_SECRET: at least 16 bytes are needed with COMET_WEBHOOK_URL");
        return -1;
    }
    return 0;
}

/* Reads every setting into the one struct, from lookup(). Returns it, or NULL with err. */
static const struct config *load(char *err, size_t errlen)
{
    static struct config c;
    static char *keys_copy;
    struct archive_url archive;
    const char *keys;

    if (c.jwt_public_pem && c.jwt_public_pem[0])
        free((char *)c.jwt_public_pem);
    free(keys_copy);
    keys_copy = NULL;
    memset(&c, 0, sizeof c);
    c.file = file_path;
    c.warnings = file_notes;
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        const char *v = lookup(settings[i].name);
        if (set_one(&c, &settings[i], v ? v : settings[i].def, err, errlen) < 0) {
            if (v && !getenv(settings[i].name))
                snprintf(err + strlen(err), errlen - strlen(err), " (in %s)", file_path);
            return NULL;
        }
    }
    if (c.poll_timeout > c.poll_timeout_max) {
        snprintf(err, errlen, "COMET_POLL_TIMEOUT=%d: above COMET_POLL_TIMEOUT_MAX=%d",
                 c.poll_timeout, c.poll_timeout_max);
        return NULL;
    }
    if (c.sse_heartbeat >= c.sse_lifetime && c.sse_lifetime > 1) {
        snprintf(err, errlen, "COMET_SSE_HEARTBEAT=%d: must be below COMET_SSE_LIFETIME=%d",
                 c.sse_heartbeat, c.sse_lifetime);
        return NULL;
    }
    if (strlen(c.prefix) > 64) {
        snprintf(err, errlen, "COMET_PREFIX: at most 64 bytes");
        return NULL;
    }
    if (archive_url_parse(c.archive, &archive, err, errlen) < 0 || webhook_check(&c, err, errlen) < 0)
        return NULL;
    if (cidr_list_check(c.stats_allow, err, errlen) < 0) {
        snprintf(err + strlen(err), errlen - strlen(err), " (COMET_STATS_ALLOW)");
        return NULL;
    }
    keys = lookup("COMET_PUBLISH_KEYS");
    if (keys && split_keys(&c, keys_copy = xstrdup(keys), err, errlen) < 0)
        return NULL;
    c.jwt_public_pem = "";
    if (c.jwt_public_key[0] && read_pem(&c, err, errlen) < 0)
        return NULL;
    return &c;
}

const struct config *config_load(char *err, size_t errlen)
{
    file_clear();
    return load(err, errlen);
}

const struct config *config_load_file(const char *file, char *err, size_t errlen)
{
    const char *named = file ? file : getenv("COMET_CONFIG");

    file_clear();
    /* An empty COMET_CONFIG (or -c ""): no settings file at all. */
    if (named && !*named)
        return load(err, errlen);
    if (file_read(named ? named : CONFIG_DEFAULT_FILE, named != NULL, err, errlen) < 0)
        return NULL;
    return load(err, errlen);
}

void config_log_warnings(const struct config *c)
{
    for (const char *w = c->warnings, *nl; (nl = strchr(w, '\n')); w = nl + 1)
        log_warn("%.*s", (int)(nl - w), w);
}
