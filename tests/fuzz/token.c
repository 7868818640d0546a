/* Fuzz target: credentials parsing. The input is split at its first two newlines into
 * a token, a signed URL's expires and its sig, and a cookie header; each goes through
 * what a request's credentials go through (auth_request_token, auth_subscribe,
 * auth_publish) with an HS256 secret, a URL secret and private channels configured. The
 * token's text is also signed as a JWT's claims, so what comes after the signature check
 * (exp, nbf, the comet patterns, presence's sub and comet.info) gets fuzzed input too. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define SECRET "fuzz-secret"

/* base64url of src[0..n) (no padding) at out, which has room for 4 * n / 3 + 4. */
static char *b64url(const unsigned char *src, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, src, (int)n);

    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = 0;
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* claims as an HS256 JWT signed with SECRET (caller frees). */
static char *signed_token(const char *claims)
{
    static const char head[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; /* {"alg":"HS256","typ":"JWT"} */
    size_t n = strlen(claims);
    char *t = malloc(sizeof head + 4 * n / 3 + 4 + 48);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    size_t at;

    strcpy(t, head);
    strcat(t, ".");
    b64url((const unsigned char *)claims, n, t + strlen(t));
    at = strlen(t);
    HMAC(EVP_sha256(), SECRET, sizeof SECRET - 1, (const unsigned char *)t, at, mac, &maclen);
    t[at++] = '.';
    b64url(mac, maclen, t + at);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg;
    char *in = malloc(size + 1), *parts[3] = {in, "", ""}, err[256], cookie[AUTH_TOKEN_MAX + 1];
    char *channels[] = {"private/a", "news"};
    struct auth_credentials cr;
    struct auth_who who;
    long long until;

    cfg.private_channels = "private/*";
    cfg.jwt_secret = SECRET;
    cfg.jwt_public_pem = "";
    cfg.url_secret = "fuzz-url-secret";
    memcpy(in, data, size);
    in[size] = 0;
    for (int i = 1; i < 3; i++) {
        char *nl = strchr(parts[i - 1], '\n');
        if (!nl)
            break;
        *nl = 0;
        parts[i] = nl + 1;
    }
    cr.token = auth_request_token(NULL, NULL, parts[2], cookie, sizeof cookie);
    cr.token = cr.token ? cr.token : parts[0];
    cr.expires = parts[1];
    cr.sig = NULL;
    auth_subscribe(&cfg, &cr, channels, 2, 1700000000000LL, &until, NULL, err, sizeof err);
    cr.sig = parts[0];
    auth_subscribe(&cfg, &cr, channels, 2, 1700000000000LL, &until, NULL, err, sizeof err);
    auth_publish(&cfg, parts[0], channels, 2, 1700000000000LL, err, sizeof err);
    cr.token = signed_token(parts[0]);
    cr.sig = NULL;
    auth_subscribe(&cfg, &cr, channels, 2, 1700000000000LL, &until, &who, err, sizeof err);
    auth_subscribe(&cfg, &cr, channels + 1, 1, 1700000000000LL, &until, &who, err, sizeof err);
    free((char *)cr.token);
    free(in);
    return 0;
}
