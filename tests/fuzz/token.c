/* Fuzz target: credentials parsing. The input is split at its first two newlines into
 * a token, a signed URL's expires and its sig, and a cookie header; each goes through
 * what a request's credentials go through (auth_request_token, auth_subscribe,
 * auth_publish) with an HS256 secret, a URL secret and private channels configured. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg;
    char *in = malloc(size + 1), *parts[3] = {in, "", ""}, err[256], cookie[AUTH_TOKEN_MAX + 1];
    char *channels[] = {"private/a", "news"};
    struct auth_credentials cr;
    long long until;

    cfg.private_channels = "private/*";
    cfg.jwt_secret = "fuzz-secret";
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
    free(in);
    return 0;
}
