/* config: every setting of both binaries, read once from the environment
 * (FcgidInitialEnv under Apache) and the settings file (KEY=VALUE lines; the
 * environment wins) into one struct that is const afterwards. */
#ifndef COMET_CONFIG_H
#define COMET_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_KEYS 16

struct config {
    const char *redis_host;
    int redis_port;
    const char *redis_socket;   /* unix socket path; overrides host and port when set */
    const char *redis_user;     /* ACL user; empty for the default user */
    const char *redis_password;
    int redis_db;
    const char *redis_sentinels; /* host:port,… of Redis Sentinels; when set, they name the master */
    const char *redis_master;   /* the master's name at the Sentinels */
    int redis_wait_replicas;    /* replicas that must have a publish before it is acknowledged */
    int redis_wait_timeout;     /* milliseconds to wait for them (WAIT) */
    const char *prefix;         /* every Redis key starts with this */
    int history_size;           /* events kept per channel */
    int history_age;            /* seconds an event is kept; idle channels expire after it */
    int poll_timeout;           /* seconds a poll waits by default */
    int poll_timeout_max;       /* upper bound for ?timeout= */
    int poll_max_events;        /* events in one poll answer; the rest come on the next */
    int sse_heartbeat;          /* seconds between comment pings */
    int sse_lifetime;           /* seconds after which a stream ends itself */
    int sse_retry;              /* milliseconds, sent as the stream's retry: */
    int sse_padding;            /* bytes of comment padding after each write */
    int max_body;               /* bytes of a publish body */
    int max_batch;              /* events in one publish */
    int max_channels;           /* channels in one subscribe or publish */
    int channel_max;            /* bytes of a channel name (at most ENVELOPE_CHANNEL_MAX) */
    int max_depth;              /* nesting of arrays and objects in a publish body */
    int max_query;              /* bytes of a subscribe query string */
    int max_waiting_addr;       /* waiting requests per client address, all nodes; 0: no limit */
    int idempotency_ttl;        /* seconds an Idempotency-Key is remembered */
    int publish_wait;           /* seconds ?wait=1 waits for the worker */
    int worker_lease;           /* seconds a worker's lease lasts without renewal */
    const char *cors_origins;   /* origins allowed cross-origin, comma-separated patterns */
    const char *public_channels; /* channel patterns anyone may publish to */
    int public_rate;            /* keyless publishes per minute per client address */
    int max_waiting;            /* external mode: waiting requests one process holds */
    int ws_rate;                /* messages a WebSocket client may send per second (close 1008 past it) */
    int threads;                /* external mode: accept threads */
    int log_level;              /* enum log_level */
    int log_syslog;             /* COMET_LOG: 0 stderr, 1 syslog */
    const char *stats_key;      /* the key /stats and /metrics take as a bearer token; "" none */
    const char *stats_allow;    /* CIDRs /stats and /metrics answer without a key; "" none */
    const char *webhook_url;    /* where the worker POSTs channel events; "" off */
    const char *webhook_secret; /* HMAC-SHA256 key of their signature */
    int webhook_queue;          /* webhook events queued in Redis, at most */
    int leave_grace;            /* seconds a channel, or a present member, stays after its last
                                 * waiting request ends (a long-poll between polls stays) */
    const char *presence_channels; /* channel patterns whose members are tracked; "" none */
    const char *private_channels; /* channel patterns that need a token or a signed URL */
    const char *jwt_secret;     /* HS256 shared secret; empty: HS256 tokens are refused */
    const char *jwt_public_key; /* path of a PEM public key for RS256/ES256 tokens */
    const char *jwt_public_pem; /* its contents, read at start; empty when no path is set */
    const char *url_secret;     /* HMAC key of signed subscribe URLs; empty: refused */
    const char *file;           /* the settings file read; "" for none */
    const char *warnings;       /* lines (each ending in \n) about that file; "" for none */
    const char *archive;        /* where events are archived (archive_url.h); "" off */
    const char *archive_channels; /* channel patterns archived; "" every channel */
    int archive_age;            /* days an archived event is kept; 0 for ever */
    int archive_backlog;        /* events queued in Redis for the archive writer, at most */
    int npublish_keys;
    struct config_key {
        const char *name;       /* "key N" (1-based) for a plain key */
        const char *secret;
        const char *channels;   /* comma-separated patterns it may publish to; NULL: any */
        char label[16];         /* the name of a plain key */
    } publish_keys[CONFIG_MAX_KEYS];
};

/* Reads every setting once: each from the environment, else from the settings file,
 * else its default. The file is file (-c), else $COMET_CONFIG, else
 * CONFIG_DEFAULT_FILE (SYSCONFDIR/comet-fcgi/comet.env), which alone may be missing;
 * an empty name reads no file. Returns the configuration (static storage, never freed;
 * a second call replaces it), or NULL with a message naming the bad variable, or the
 * file and line, in err. */
const struct config *config_load_file(const char *file, char *err, size_t errlen);

/* The same from the environment alone, no settings file (unit tests, fuzz targets). */
const struct config *config_load(char *err, size_t errlen);

/* Logs c->warnings, one log_warn line each. */
void config_log_warnings(const struct config *c);

#endif
