/* Unit tests of auth: tables of JWTs (minted here with libjwt and keys made with
 * OpenSSL) and of signed URLs against a fixed clock, publish keys, where a request's
 * token is taken from, and the COMET_PUBLISH_KEYS syntax. */
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "check.h"

#define NOW 1700000000LL /* the clock of every case, Unix seconds */

static char rsa_priv[8192], rsa_pub[4096], ec_priv[4096], ec_pub[4096], rsa2_priv[8192];

/* PEMs of a new key pair. */
static void keypair(EVP_PKEY *k, char *priv, char *pub)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n;

    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    n = BIO_read(b, priv, 8191);
    priv[n > 0 ? n : 0] = 0;
    PEM_write_bio_PUBKEY(b, k);
    n = BIO_read(b, pub, 4095);
    pub[n > 0 ? n : 0] = 0;
    BIO_free(b);
    EVP_PKEY_free(k);
}

/* A token of alg signed with key (a secret or a private PEM), claims as JSON. The
 * caller frees it. */
static char *mint(jwt_alg_t alg, const char *key, const char *claims)
{
    jwt_t *jwt = NULL;
    char *s;

    jwt_new(&jwt);
    jwt_add_grants_json(jwt, claims);
    jwt_set_alg(jwt, alg, alg == JWT_ALG_NONE ? NULL : (const unsigned char *)key, alg == JWT_ALG_NONE ? 0 : (int)strlen(key));
    s = jwt_encode_str(jwt);
    jwt_free(jwt);
    return s;
}

static struct config cfg;

static const char *good = "{\"exp\":1700000060,\"comet\":{\"subscribe\":[\"private/*\"],\"publish\":[\"chat.*\"]}}";

static const struct {
    const char *what;
    jwt_alg_t alg;
    const char *key;    /* "rsa", "ec", "rsa2" (another pair), "pub" (the RSA public PEM as a secret), or a secret */
    const char *claims;
    const char *channels; /* comma-separated */
    int want;
} tokens[] = {
    {"HS256 valid", JWT_ALG_HS256, "s3cret", NULL, "private/a", AUTH_OK},
    {"HS256, public and private channels", JWT_ALG_HS256, "s3cret", NULL, "news,private/a", AUTH_OK},
    {"HS256, channel not granted", JWT_ALG_HS256, "s3cret", NULL, "private/a,user.1", AUTH_FORBIDDEN},
    {"HS256, wrong secret", JWT_ALG_HS256, "other", NULL, "private/a", AUTH_UNAUTHORIZED},
    {"HS384 with the right secret", JWT_ALG_HS384, "s3cret", NULL, "private/a", AUTH_UNAUTHORIZED},
    {"alg none", JWT_ALG_NONE, "", NULL, "private/a", AUTH_UNAUTHORIZED},
    {"HS256 keyed with the public key (alg confusion)", JWT_ALG_HS256, "pub", NULL, "private/a", AUTH_UNAUTHORIZED},
    {"RS256 valid", JWT_ALG_RS256, "rsa", NULL, "private/a", AUTH_OK},
    {"RS256 by another key", JWT_ALG_RS256, "rsa2", NULL, "private/a", AUTH_UNAUTHORIZED},
    {"RS512 by the right key", JWT_ALG_RS512, "rsa", NULL, "private/a", AUTH_UNAUTHORIZED},
    {"ES256 by a key not configured", JWT_ALG_ES256, "ec", NULL, "private/a", AUTH_UNAUTHORIZED},
    {"expired", JWT_ALG_HS256, "s3cret", "{\"exp\":1700000000,\"comet\":{\"subscribe\":[\"*\"]}}", "private/a",
     AUTH_UNAUTHORIZED},
    {"no exp", JWT_ALG_HS256, "s3cret", "{\"comet\":{\"subscribe\":[\"*\"]}}", "private/a", AUTH_UNAUTHORIZED},
    {"exp not a number", JWT_ALG_HS256, "s3cret", "{\"exp\":\"soon\",\"comet\":{\"subscribe\":[\"*\"]}}", "private/a",
     AUTH_UNAUTHORIZED},
    {"exp beyond any clock", JWT_ALG_HS256, "s3cret", "{\"exp\":9223372036854775807,\"comet\":{\"subscribe\":[\"*\"]}}",
     "private/a", AUTH_UNAUTHORIZED},
    {"nbf in the future", JWT_ALG_HS256, "s3cret",
     "{\"exp\":1700000060,\"nbf\":1700000010,\"comet\":{\"subscribe\":[\"*\"]}}", "private/a", AUTH_UNAUTHORIZED},
    {"nbf passed", JWT_ALG_HS256, "s3cret", "{\"exp\":1700000060,\"nbf\":1699999990,\"comet\":{\"subscribe\":[\"*\"]}}",
     "private/a", AUTH_OK},
    {"no comet claim", JWT_ALG_HS256, "s3cret", "{\"exp\":1700000060}", "private/a", AUTH_FORBIDDEN},
    {"subscribe not a list", JWT_ALG_HS256, "s3cret", "{\"exp\":1700000060,\"comet\":{\"subscribe\":\"*\"}}",
     "private/a", AUTH_FORBIDDEN},
    {"publish patterns do not grant subscribe", JWT_ALG_HS256, "s3cret",
     "{\"exp\":1700000060,\"comet\":{\"publish\":[\"*\"]}}", "private/a", AUTH_FORBIDDEN},
};

static const char *key_pem(const char *k)
{
    return strcmp(k, "rsa") == 0 ? rsa_priv : strcmp(k, "rsa2") == 0 ? rsa2_priv : strcmp(k, "ec") == 0 ? ec_priv
         : strcmp(k, "pub") == 0 ? rsa_pub : k;
}

/* Splits a comma-separated list into names (in place). */
static size_t split(char *list, char **names)
{
    size_t n = 0;

    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
        names[n++] = t;
    return n;
}

static int subscribe(const struct auth_credentials *cr, const char *channels, long long *until)
{
    char list[256], *names[8], err[256];
    size_t n;

    snprintf(list, sizeof list, "%s", channels);
    n = split(list, names);
    return auth_subscribe(&cfg, cr, names, n, NOW * 1000, until, NULL, err, sizeof err);
}

static void test_tokens(void)
{
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        char *t = mint(tokens[i].alg, key_pem(tokens[i].key), tokens[i].claims ? tokens[i].claims : good);
        struct auth_credentials cr = {t, NULL, NULL};
        long long until = -1;
        int rc = subscribe(&cr, tokens[i].channels, &until);

        CHECK(t && rc == tokens[i].want, "%s: %d, want %d", tokens[i].what, rc, tokens[i].want);
        if (rc == AUTH_OK)
            CHECK(until == 1700000060000LL, "%s: until %lld", tokens[i].what, until);
        free(t);
    }
}

static void test_malformed(void)
{
    static const char *bad[] = {"", "abc", "a.b.c", "..", "a.b", "eyJhbGciOiJIUzI1NiJ9..", "\xff\xfe.\x01.\x02",
                                "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwNjB9.", "Bearer x"};
    char *t = mint(JWT_ALG_HS256, "s3cret", good), big[AUTH_TOKEN_MAX + 2];
    struct auth_credentials cr = {NULL, NULL, NULL};
    long long until;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr.token = bad[i];
        CHECK(subscribe(&cr, "private/a", &until) == AUTH_UNAUTHORIZED, "malformed token %zu", i);
    }
    /* One byte changed in the payload: the signature no longer verifies. */
    t[strchr(t, '.') - t + 5] ^= 1;
    cr.token = t;
    CHECK(subscribe(&cr, "private/a", &until) == AUTH_UNAUTHORIZED, "tampered payload");
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cr.token = big;
    CHECK(subscribe(&cr, "private/a", &until) == AUTH_UNAUTHORIZED, "token above AUTH_TOKEN_MAX");
    cr.token = NULL;
    CHECK(subscribe(&cr, "private/a", &until) == AUTH_UNAUTHORIZED, "no credentials");
    CHECK(subscribe(&cr, "news,user", &until) == AUTH_OK && until == 0, "public channels need none");
    cr.token = "garbage";
    CHECK(subscribe(&cr, "news", &until) == AUTH_OK && until == 0, "credentials ignored on public channels");
    free(t);
}

/* The sig a backend computes: HMAC-SHA256 of the sorted channels, "\n", expires. */
static void sign(const char *secret, const char *msg, char *hex)
{
    unsigned char mac[32];
    unsigned len = 0;

    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, strlen(msg), mac, &len);
    for (unsigned i = 0; i < len; i++)
        sprintf(hex + 2 * i, "%02x", mac[i]);
}

static void test_signed_urls(void)
{
    static const struct {
        const char *what, *signed_msg, *expires, *channels;
        int want;
    } cases[] = {
        {"exactly the channels", "news,private/a\n1700000060", "1700000060", "private/a,news", AUTH_OK},
        {"a subset", "news,private/a\n1700000060", "1700000060", "private/a", AUTH_UNAUTHORIZED},
        {"a superset", "private/a\n1700000060", "1700000060", "private/a,private/b", AUTH_UNAUTHORIZED},
        {"unsorted when signed", "private/a,news\n1700000060", "1700000060", "private/a,news", AUTH_UNAUTHORIZED},
        {"another expiry", "private/a\n1700000060", "1700000061", "private/a", AUTH_UNAUTHORIZED},
        {"expired", "private/a\n1700000000", "1700000000", "private/a", AUTH_UNAUTHORIZED},
        {"expires not a number", "private/a\n+1700000060", "+1700000060", "private/a", AUTH_UNAUTHORIZED},
        {"expires too long", "private/a\n017000000600", "017000000600", "private/a", AUTH_UNAUTHORIZED},
        {"no expires", "private/a\n", NULL, "private/a", AUTH_UNAUTHORIZED},
    };
    char sig[65];
    long long until;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct auth_credentials cr = {NULL, cases[i].expires, sig};
        sign("urlkey", cases[i].signed_msg, sig);
        CHECK(subscribe(&cr, cases[i].channels, &until) == cases[i].want, "signed URL: %s", cases[i].what);
        if (cases[i].want == AUTH_OK)
            CHECK(until == 1700000060000LL, "signed URL: %s: until %lld", cases[i].what, until);
    }
    sign("urlkey", "private/a\n1700000060", sig);
    sig[0] = sig[0] == 'a' ? 'A' : sig[0] >= 'a' ? (char)(sig[0] - 32) : sig[0] == '0' ? '1' : '0';
    CHECK(subscribe(&(struct auth_credentials){NULL, "1700000060", sig}, "private/a", &until) == AUTH_UNAUTHORIZED,
          "signed URL: a changed or uppercase digit");
    CHECK(subscribe(&(struct auth_credentials){NULL, "1700000060", "abc"}, "private/a", &until) == AUTH_UNAUTHORIZED,
          "signed URL: a short sig");
    sign("wrong", "private/a\n1700000060", sig);
    CHECK(subscribe(&(struct auth_credentials){NULL, "1700000060", sig}, "private/a", &until) == AUTH_UNAUTHORIZED,
          "signed URL: another secret");
    sign("urlkey", "private/a\n1700000060", sig);
    cfg.url_secret = "";
    CHECK(subscribe(&(struct auth_credentials){NULL, "1700000060", sig}, "private/a", &until) == AUTH_UNAUTHORIZED,
          "signed URL: no COMET_URL_SECRET");
    cfg.url_secret = "urlkey";
}

static void test_publish(void)
{
    char *t = mint(JWT_ALG_HS256, "s3cret", good), err[256];
    char *ok[] = {"chat.1", "chat.2"}, *no[] = {"chat.1", "private/a"};

    CHECK(auth_publish(&cfg, t, ok, 2, NOW * 1000, err, sizeof err) == AUTH_OK, "publish granted: %s", err);
    CHECK(auth_publish(&cfg, t, no, 2, NOW * 1000, err, sizeof err) == AUTH_FORBIDDEN, "publish outside the claim");
    CHECK(strstr(err, "private/a") && !strstr(err, t), "the error names the channel, not the token: %s", err);
    CHECK(auth_publish(&cfg, t, ok, 2, (NOW + 60) * 1000, err, sizeof err) == AUTH_UNAUTHORIZED, "publish expired");
    CHECK(auth_publish(&cfg, "nope", ok, 2, NOW * 1000, err, sizeof err) == AUTH_UNAUTHORIZED, "publish bad token");
    free(t);
}

static void test_keys(void)
{
    char err[256];
    const struct config *c;

    setenv("COMET_PUBLISH_KEYS", "plain1,ops=s3cret:news|alerts.*,YWJjZA==,app=k2", 1);
    c = config_load(err, sizeof err);
    CHECK(c && c->npublish_keys == 4, "four keys: %s", c ? "" : err);
    if (!c)
        return;
    CHECK(auth_key(c, "plain1") == &c->publish_keys[0] && strcmp(c->publish_keys[0].name, "key 1") == 0, "plain key");
    CHECK(auth_key(c, "s3cret") == &c->publish_keys[1] && strcmp(c->publish_keys[1].name, "ops") == 0 &&
          strcmp(c->publish_keys[1].channels, "news,alerts.*") == 0, "named key with patterns");
    CHECK(auth_key(c, "YWJjZA==") == &c->publish_keys[2], "base64 padding stays a plain key");
    CHECK(auth_key(c, "k2") && !auth_key(c, "k2")->channels, "named key without patterns");
    CHECK(!auth_key(c, "s3cre") && !auth_key(c, "s3cret2") && !auth_key(c, "ops=s3cret") && !auth_key(c, ""),
          "wrong keys");
    setenv("COMET_PUBLISH_KEYS", "bad name=x", 1);
    CHECK(!config_load(err, sizeof err) && strstr(err, "COMET_PUBLISH_KEYS") && !strstr(err, "=x"),
          "a bad name is refused without showing the secret: %s", err);
    setenv("COMET_PUBLISH_KEYS", "n=k:", 1);
    CHECK(!config_load(err, sizeof err), "an empty pattern list is refused");
    unsetenv("COMET_PUBLISH_KEYS");
}

static void test_sources(void)
{
    char buf[64];

    CHECK(strcmp(auth_request_token("Bearer h", "q", "comet_token=c", buf, sizeof buf), "h") == 0, "header first");
    CHECK(strcmp(auth_request_token("Basic xyz", "q", "comet_token=c", buf, sizeof buf), "q") == 0, "then query");
    CHECK(strcmp(auth_request_token(NULL, "", "a=1; comet_token=c.d.e; b=2", buf, sizeof buf), "c.d.e") == 0,
          "then the cookie");
    CHECK(!auth_request_token(NULL, NULL, "xcomet_token=c; comet_token=", buf, sizeof buf), "no such cookie");
    CHECK(!auth_request_token(NULL, NULL, "comet_token=0123456789", buf, 8), "a cookie too long for buf");
    CHECK(!auth_request_token("Bearer ", NULL, NULL, buf, sizeof buf), "empty bearer");
}

/* With an EC public key configured instead: ES256 verifies, RS256 no longer does. */
static void test_es256(void)
{
    char *es = mint(JWT_ALG_ES256, ec_priv, good), *rs = mint(JWT_ALG_RS256, rsa_priv, good);
    long long until;

    cfg.jwt_public_pem = ec_pub;
    CHECK(subscribe(&(struct auth_credentials){es, NULL, NULL}, "private/a", &until) == AUTH_OK, "ES256 valid");
    CHECK(subscribe(&(struct auth_credentials){rs, NULL, NULL}, "private/a", &until) == AUTH_UNAUTHORIZED,
          "RS256 when the key is EC");
    cfg.jwt_public_pem = rsa_pub;
    free(es);
    free(rs);
}

int main(void)
{
    char unused[4096];

    keypair(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), rsa_priv, rsa_pub);
    keypair(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), rsa2_priv, unused);
    keypair(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), ec_priv, ec_pub);
    cfg.private_channels = "private/*,user.*";
    cfg.public_channels = "";
    cfg.jwt_secret = "s3cret";
    cfg.jwt_public_pem = rsa_pub;
    cfg.url_secret = "urlkey";
    test_tokens();
    test_es256();
    test_malformed();
    test_signed_urls();
    test_publish();
    test_keys();
    test_sources();
    return check_done("auth");
}
