/* auth: credentials, checked in this process with no call to the site's backend:
 * JWTs (HS256 with COMET_JWT_SECRET, RS256/ES256 with COMET_JWT_PUBLIC_KEY) whose
 * "comet" claim lists the channel patterns they may subscribe to and publish to,
 * HMAC-signed subscribe URLs (COMET_URL_SECRET), and publish keys. Pure: no I/O, so
 * the unit tests and the fuzzer feed it strings and a clock. */
#ifndef COMET_AUTH_H
#define COMET_AUTH_H

#include <stddef.h>

#include "config.h"

/* What a check concludes; the values are the HTTP statuses to answer with. */
enum auth_status {
    AUTH_OK = 0,
    AUTH_UNAUTHORIZED = 401, /* missing, malformed, unverifiable or expired credentials */
    AUTH_FORBIDDEN = 403,    /* valid credentials that do not cover a channel */
    AUTH_UNAVAILABLE = 503   /* libjwt or libcrypto could not be loaded */
};

#define AUTH_TOKEN_MAX 4096 /* bytes of a token; longer ones are refused, not parsed */

/* What a waiting request carries; any may be NULL. */
struct auth_credentials {
    const char *token;         /* a JWT */
    const char *expires, *sig; /* a signed URL's parameters */
};

#define AUTH_ID_MAX 128   /* bytes of a sub claim presence lists */
#define AUTH_INFO_MAX 1024 /* bytes of comet.info as compact JSON */

/* Who a subscriber is, from its JWT: the sub claim (a string, or an integer written in
 * decimal; "" when there is none) and the comet.info object as compact JSON ("" when
 * absent), for presence (COMET_PRESENCE_CHANNELS). */
struct auth_who {
    char id[AUTH_ID_MAX + 1];
    char info[AUTH_INFO_MAX + 1];
};

/* Returns 0 when this build can check the credentials cfg configures, or -1 with a
 * message in err: a static build (make static) loads neither libjwt nor libcrypto, so
 * it refuses to start with COMET_PRIVATE_CHANNELS, COMET_JWT_SECRET,
 * COMET_JWT_PUBLIC_KEY or COMET_URL_SECRET rather than answer 503 to each request. */
int auth_usable(const struct config *cfg, char *err, size_t errlen);

/* Decides whether a subscriber may read channels[0..n) at now_ms (Unix ms). Only
 * channels matching COMET_PRIVATE_CHANNELS need credentials; when none does, the
 * credentials are ignored and *until_ms is 0. Otherwise a sig (with expires) is
 * checked as a signed URL, else the token as a JWT, and *until_ms is when they
 * expire (Unix ms). With who (else NULL), a token is also read for who it names, on
 * public channels too (then it must verify, but its expiry does not end the wait), and a
 * sub or comet.info presence cannot list is refused. Returns AUTH_OK, or a status with a
 * sentence for the client in err (which never repeats the credentials). */
enum auth_status auth_subscribe(const struct config *cfg, const struct auth_credentials *cr,
                                char *const *channels, size_t n, long long now_ms, long long *until_ms,
                                struct auth_who *who, char *err, size_t errlen);

/* Decides whether a JWT lets its bearer publish to channels[0..n) at now_ms: it
 * must verify and its comet.publish patterns must cover every channel. */
enum auth_status auth_publish(const struct config *cfg, const char *token, char *const *channels, size_t n,
                              long long now_ms, char *err, size_t errlen);

/* The configured publish key equal to secret, or NULL. Every key is compared, each
 * in time that depends on the key's length only, so timing tells neither which key
 * nor how much of one matched. */
const struct config_key *auth_key(const struct config *cfg, const char *secret);

/* 1 when secret is COMET_STATS_KEY (set), compared in constant time. */
int auth_stats_key(const struct config *cfg, const char *secret);

/* The token a waiting request carries: Authorization: Bearer, else the token query
 * parameter (query_token, may be NULL), else the comet_token cookie. Returns a
 * pointer into one of them or into buf (size len, for the cookie's value), or NULL. */
const char *auth_request_token(const char *authorization, const char *query_token, const char *cookie,
                               char *buf, size_t len);

#endif
