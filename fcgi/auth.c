/* auth: verifies JWTs (libjwt) and signed URLs (OpenSSL's HMAC), compares publish
 * keys, and decides what they cover with pattern.c. The crypto is the libraries'; this
 * file owns loading them, which algorithm goes with which key, expiry, and the claims'
 * meaning. Where credentials come from is the caller's; answering is reply.c's. */
#include "auth.h"

#include <dlfcn.h> /* not used by a static build (AUTH_STATIC) */
#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "pattern.h"
#include "xalloc.h"

#define AUTH_TIME_MAX 99999999999LL /* Unix seconds, year 5138: beyond is no expiry */
#define AUTH_HOW "send a token (Authorization: Bearer, the comet_token cookie or ?token=) or a signed URL"

/* Linked, libjwt and libcrypto would add about 0.45 MB of relocated, private pages to
 * every comet.fcgi process (measured), tripling a waiting process under mod_fcgid. So
 * they are loaded by soname (AUTH_LIBJWT, AUTH_LIBCRYPTO, from the Makefile) on the
 * first credential to check: only processes that check credentials pay for them. */
static struct {
    __typeof__(jwt_decode) *jwt_decode;
    __typeof__(jwt_get_alg) *jwt_get_alg;
    __typeof__(jwt_get_grants_json) *jwt_get_grants_json;
    __typeof__(jwt_free) *jwt_free;
    __typeof__(HMAC) *hmac;
    __typeof__(EVP_sha256) *sha256;
    int ok;
} lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

#ifdef AUTH_STATIC
/* A static binary cannot dlopen the host's libraries safely (they would need the glibc
 * it was linked with), and Debian ships no static libjwt: nothing is loaded. */
static void lib_open(void)
{
}
#else
/* Stores dlsym(h, name) into *fn (a function pointer). Returns 0, or -1 when missing. */
static int lib_sym(void *h, const char *name, void *fn)
{
    void *p = h ? dlsym(h, name) : NULL;

    memcpy(fn, &p, sizeof p);
    return p ? 0 : -1;
}

static void lib_open(void)
{
    void *jwt = dlopen(AUTH_LIBJWT, RTLD_NOW | RTLD_LOCAL), *crypto = dlopen(AUTH_LIBCRYPTO, RTLD_NOW | RTLD_LOCAL);

    if (lib_sym(jwt, "jwt_decode", &lib.jwt_decode) < 0 || lib_sym(jwt, "jwt_get_alg", &lib.jwt_get_alg) < 0 ||
        lib_sym(jwt, "jwt_get_grants_json", &lib.jwt_get_grants_json) < 0 ||
        lib_sym(jwt, "jwt_free", &lib.jwt_free) < 0 || lib_sym(crypto, "HMAC", &lib.hmac) < 0 ||
        lib_sym(crypto, "EVP_sha256", &lib.sha256) < 0) {
        log_error("cannot load %s and %s: %s", AUTH_LIBJWT, AUTH_LIBCRYPTO, dlerror());
        return;
    }
    lib.ok = 1;
}
#endif

int auth_usable(const struct config *cfg, char *err, size_t errlen)
{
#ifdef AUTH_STATIC
    if (cfg->private_channels[0] || cfg->jwt_secret[0] || cfg->jwt_public_key[0] || cfg->url_secret[0]) {
        snprintf(err, errlen, "this static build checks no credentials (libjwt has no static library): unset "
                 "COMET_PRIVATE_CHANNELS, COMET_JWT_SECRET, COMET_JWT_PUBLIC_KEY and COMET_URL_SECRET, or use the "
                 "dynamically linked build");
        return -1;
    }
#endif
    (void)cfg, (void)err, (void)errlen;
    return 0;
}

/* Loads the libraries once per process. Returns 0, or -1 with a message in err. */
static int lib_load(char *err, size_t errlen)
{
    pthread_once(&lib_once, lib_open);
    if (!lib.ok)
        snprintf(err, errlen, "this server cannot check credentials now (its crypto libraries did not load)");
    return lib.ok ? 0 : -1;
}

/* 1 when a equals b, in time that depends on a's length only (a is the secret). */
static int same(const char *a, const char *b)
{
    size_t alen = strlen(a), blen = strlen(b);
    unsigned char d = alen != blen;

    for (size_t i = 0; i < alen; i++)
        d |= (unsigned char)a[i] ^ (unsigned char)(i < blen ? b[i] : 0);
    return d == 0;
}

/* 1 when the token was signed with the key this algorithm is allowed to use. HS256
 * goes only with the shared secret and RS256/ES256 only with the public key, so a
 * token can neither skip the check (alg none) nor have the public key used as an
 * HMAC secret (algorithm confusion). Returns the decoded token, or NULL. */
static jwt_t *token_decode(const struct config *cfg, const char *token)
{
    jwt_t *jwt = NULL;
    jwt_alg_t alg;

    if (cfg->jwt_secret[0] &&
        lib.jwt_decode(&jwt, token, (const unsigned char *)cfg->jwt_secret, (int)strlen(cfg->jwt_secret)) == 0 &&
        lib.jwt_get_alg(jwt) == JWT_ALG_HS256)
        return jwt;
    lib.jwt_free(jwt);
    jwt = NULL;
    if (cfg->jwt_public_pem[0] &&
        lib.jwt_decode(&jwt, token, (const unsigned char *)cfg->jwt_public_pem, (int)strlen(cfg->jwt_public_pem)) == 0 &&
        ((alg = lib.jwt_get_alg(jwt)) == JWT_ALG_RS256 || alg == JWT_ALG_ES256))
        return jwt;
    lib.jwt_free(jwt);
    return NULL;
}

/* Verifies token at now_ms: signature, exp (required) and nbf. Returns its claims (a
 * new reference), or NULL with the reason in err. */
static json_t *token_claims(const struct config *cfg, const char *token, long long now_ms, char *err,
                            size_t errlen)
{
    jwt_t *jwt = NULL;
    char *grants = NULL;
    json_t *claims = NULL, *exp, *nbf;
    size_t len = strlen(token);

    if (!cfg->jwt_secret[0] && !cfg->jwt_public_pem[0]) {
        snprintf(err, errlen, "tokens are not accepted here (no COMET_JWT_SECRET or COMET_JWT_PUBLIC_KEY)");
        return NULL;
    }
    if (len == 0 || len > AUTH_TOKEN_MAX) {
        snprintf(err, errlen, "the token is empty or longer than %d bytes", AUTH_TOKEN_MAX);
        return NULL;
    }
    if (!(jwt = token_decode(cfg, token))) {
        snprintf(err, errlen, "the token does not verify: not a JWT signed with this server's key "
                 "by HS256, RS256 or ES256");
        return NULL;
    }
    if (!(grants = lib.jwt_get_grants_json(jwt, NULL)) || !(claims = json_loads(grants, 0, NULL))) {
        snprintf(err, errlen, "the token's claims are not a JSON object");
        goto fail;
    }
    exp = json_object_get(claims, "exp");
    nbf = json_object_get(claims, "nbf");
    /* The bounds keep exp * 1000 from overflowing. */
    if (!json_is_integer(exp) || json_integer_value(exp) < 0 || json_integer_value(exp) > AUTH_TIME_MAX) {
        snprintf(err, errlen, "the token has no exp (whole Unix seconds): tokens must expire");
        goto fail;
    }
    if (json_integer_value(exp) * 1000 <= now_ms) {
        snprintf(err, errlen, "the token expired: get a new one");
        goto fail;
    }
    if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now_ms / 1000)) {
        snprintf(err, errlen, "the token is not valid yet (nbf)");
        goto fail;
    }
    free(grants);
    lib.jwt_free(jwt);
    return claims;
fail:
    json_decref(claims);
    free(grants);
    lib.jwt_free(jwt);
    return NULL;
}

/* 1 when a pattern of claims.comet.<what> (an array of strings) matches channel. */
static int token_covers(json_t *claims, const char *what, const char *channel)
{
    json_t *list = json_object_get(json_object_get(claims, "comet"), what), *p;
    size_t i;

    json_array_foreach(list, i, p)
        if (json_is_string(p) && pattern_match(json_string_value(p), channel))
            return 1;
    return 0;
}

/* 1 when s has no control characters. */
static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* Reads who claims name into who. Returns 0, or -1 with the reason in err. */
static int who_read(json_t *claims, struct auth_who *who, char *err, size_t errlen)
{
    json_t *sub = json_object_get(claims, "sub"), *info = json_object_get(json_object_get(claims, "comet"), "info");
    char *dump = NULL;
    const char *s;

    if (json_is_integer(sub))
        snprintf(who->id, sizeof who->id, "%" JSON_INTEGER_FORMAT, json_integer_value(sub));
    else if (json_is_string(sub) && *(s = json_string_value(sub)) && strlen(s) <= AUTH_ID_MAX &&
             printable(s))
        strcpy(who->id, s);
    else if (sub) {
        snprintf(err, errlen, "sub: presence lists a token's sub as 1 to %d bytes without control characters",
                 AUTH_ID_MAX);
        return -1;
    }
    if (!info)
        return 0;
    if (!json_is_object(info) || !(dump = json_dumps(info, JSON_COMPACT)) || strlen(dump) > AUTH_INFO_MAX) {
        free(dump);
        snprintf(err, errlen, "comet.info: presence shows a JSON object of at most %d bytes", AUTH_INFO_MAX);
        return -1;
    }
    strcpy(who->info, dump);
    free(dump);
    return 0;
}

/* Checks a JWT for channels[0..n); only channels matching `only` (a pattern list, or
 * NULL for all) must be covered by its comet.<what> patterns; with who, reads who it
 * names too. */
static enum auth_status token_check(const struct config *cfg, const char *token, const char *what,
                                    const char *only, char *const *channels, size_t n, long long now_ms,
                                    long long *until_ms, struct auth_who *who, char *err, size_t errlen)
{
    json_t *claims;
    enum auth_status rc = AUTH_OK;

    if (lib_load(err, errlen) < 0)
        return AUTH_UNAVAILABLE;
    if (!(claims = token_claims(cfg, token, now_ms, err, errlen)))
        return AUTH_UNAUTHORIZED;
    for (size_t i = 0; i < n && rc == AUTH_OK; i++)
        if ((!only || pattern_list_match(only, channels[i])) && !token_covers(claims, what, channels[i])) {
            snprintf(err, errlen, "the token does not let you %s %s", what, channels[i]);
            rc = AUTH_FORBIDDEN;
        }
    if (rc == AUTH_OK && who && who_read(claims, who, err, errlen) < 0)
        rc = AUTH_UNAUTHORIZED;
    if (until_ms)
        *until_ms = json_integer_value(json_object_get(claims, "exp")) * 1000;
    json_decref(claims);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lowercase hex of HMAC-SHA256(secret, channels sorted and joined by "," + "\n" +
 * expires) into hex (65 bytes). */
static void url_mac(const char *secret, char *const *channels, size_t n, const char *expires, char *hex)
{
    char **sorted = xmalloc((n ? n : 1) * sizeof *sorted), *msg, *p;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    size_t size = strlen(expires) + 2;

    for (size_t i = 0; i < n; i++) {
        sorted[i] = channels[i];
        size += strlen(channels[i]) + 1;
    }
    qsort(sorted, n, sizeof *sorted, by_name);
    p = msg = xmalloc(size);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", sorted[i]);
    p += sprintf(p, "\n%s", expires);
    lib.hmac(lib.sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, (size_t)(p - msg), mac, &maclen);
    for (unsigned i = 0; i < maclen && i < 32; i++)
        sprintf(hex + 2 * i, "%02x", mac[i]);
    free(msg);
    free(sorted);
}

/* A signed subscribe URL: valid for exactly channels[0..n) until expires. */
static enum auth_status url_check(const struct config *cfg, const struct auth_credentials *cr,
                                  char *const *channels, size_t n, long long now_ms, long long *until_ms,
                                  char *err, size_t errlen)
{
    char want[65] = "";
    size_t elen = cr->expires ? strlen(cr->expires) : 0;
    long long expires;

    if (!cfg->url_secret[0]) {
        snprintf(err, errlen, "signed URLs are not accepted here (no COMET_URL_SECRET)");
        return AUTH_UNAUTHORIZED;
    }
    if (elen == 0 || elen > 11 || strspn(cr->expires, "0123456789") != elen) {
        snprintf(err, errlen, "expires: a signed URL needs its expiry in whole Unix seconds");
        return AUTH_UNAUTHORIZED;
    }
    if (strlen(cr->sig) != 64 || strspn(cr->sig, "0123456789abcdef") != 64) {
        snprintf(err, errlen, "sig: expected 64 lowercase hex digits (HMAC-SHA256)");
        return AUTH_UNAUTHORIZED;
    }
    if (lib_load(err, errlen) < 0)
        return AUTH_UNAVAILABLE;
    url_mac(cfg->url_secret, channels, n, cr->expires, want);
    if (!same(want, cr->sig)) {
        snprintf(err, errlen, "sig: the signature does not match exactly these channels and expires");
        return AUTH_UNAUTHORIZED;
    }
    expires = strtoll(cr->expires, NULL, 10);
    if (expires * 1000 <= now_ms) {
        snprintf(err, errlen, "the signed URL expired: get a new one");
        return AUTH_UNAUTHORIZED;
    }
    *until_ms = expires * 1000;
    return AUTH_OK;
}

enum auth_status auth_subscribe(const struct config *cfg, const struct auth_credentials *cr,
                                char *const *channels, size_t n, long long now_ms, long long *until_ms,
                                struct auth_who *who, char *err, size_t errlen)
{
    size_t i = 0;

    *until_ms = 0;
    if (who)
        who->id[0] = who->info[0] = 0;
    while (i < n && !pattern_list_match(cfg->private_channels, channels[i]))
        i++;
    if (i == n) /* "" as `only`: no channel needs covering */
        return who && cr->token ? token_check(cfg, cr->token, "subscribe", "", channels, n, now_ms, NULL, who, err,
                                              errlen)
                                : AUTH_OK;
    if (cr->sig)
        return url_check(cfg, cr, channels, n, now_ms, until_ms, err, errlen);
    if (!cr->token) {
        snprintf(err, errlen, "%s is a private channel: %s", channels[i], AUTH_HOW);
        return AUTH_UNAUTHORIZED;
    }
    return token_check(cfg, cr->token, "subscribe", cfg->private_channels, channels, n, now_ms, until_ms, who, err,
                       errlen);
}

enum auth_status auth_publish(const struct config *cfg, const char *token, char *const *channels, size_t n,
                              long long now_ms, char *err, size_t errlen)
{
    return token_check(cfg, token, "publish", NULL, channels, n, now_ms, NULL, NULL, err, errlen);
}

const struct config_key *auth_key(const struct config *cfg, const char *secret)
{
    const struct config_key *found = NULL;

    for (int i = 0; i < cfg->npublish_keys; i++)
        if (same(cfg->publish_keys[i].secret, secret) && !found)
            found = &cfg->publish_keys[i];
    return found;
}

int auth_stats_key(const struct config *cfg, const char *secret)
{
    return cfg->stats_key[0] && secret && same(cfg->stats_key, secret);
}

const char *auth_request_token(const char *authorization, const char *query_token, const char *cookie,
                               char *buf, size_t len)
{
    static const char name[] = "comet_token=";

    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0 && authorization[7])
        return authorization + 7;
    if (query_token && *query_token)
        return query_token;
    for (const char *c = cookie; c && *c;) {
        size_t vlen;
        c += strspn(c, " ;");
        vlen = strcspn(c, ";");
        if (strncmp(c, name, sizeof name - 1) == 0 && vlen > sizeof name - 1 && vlen - (sizeof name - 1) < len) {
            vlen -= sizeof name - 1;
            memcpy(buf, c + sizeof name - 1, vlen);
            buf[vlen] = 0;
            return buf;
        }
        c += vlen;
    }
    return NULL;
}
