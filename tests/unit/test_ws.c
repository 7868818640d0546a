/* Unit tests of the WebSocket transport's pure parts: the upgrade's request head and
 * its checks (ws_http.c), the accept key (RFC 6455's own example), the client's ops
 * (ws_msg.c), and CGI answers read back (memreq.c). Tables of inputs and what each
 * must give. */
#include <string.h>

#include "check.h"
#include "memreq.h"
#include "ws_http.h"
#include "ws_msg.h"

#define UPGRADE "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n" \
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

static const struct {
    const char *head;
    int parsed;
    const char *upgrade_error; /* a prefix of it, or NULL for none */
    const char *origin_ok;     /* "1" or "0"; NULL: not checked */
    const char *addr;
} heads[] = {
    {"GET /comet/ws?channel=a HTTP/1.1\r\nHost: h:8\r\n" UPGRADE "\r\n", 1, NULL, "1", "peer"},
    {"GET /comet/ws HTTP/1.1\r\nHost: h:8\r\nOrigin: http://h:8\r\n" UPGRADE "\r\n", 1, NULL, "1", "peer"},
    {"GET /comet/ws HTTP/1.1\r\nHost: h:8\r\nOrigin: http://evil\r\n" UPGRADE "\r\n", 1, NULL, "0", "peer"},
    {"GET /comet/ws HTTP/1.1\r\nHost: h:8\r\nOrigin: https://app.example\r\n" UPGRADE "\r\n", 1, NULL, "1", "peer"},
    {"GET /comet/ws HTTP/1.1\r\nhost:h\r\nX-Forwarded-For: 1.1.1.1, 10.0.0.7\r\n" UPGRADE "\r\n", 1, NULL, NULL,
     "10.0.0.7"},
    {"GET /comet/ws HTTP/1.1\r\nHost: h\r\n\r\n", 1, "this is a WebSocket", NULL, "peer"},
    {"POST /comet/ws HTTP/1.1\r\nHost: h\r\n" UPGRADE "\r\n", 1, "use GET", NULL, "peer"},
    {"GET /comet/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n", 1,
     "Sec-WebSocket-Version", NULL, "peer"},
    {"GET /comet/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n"
     "Sec-WebSocket-Key: short\r\n\r\n", 1, "Sec-WebSocket-Key", NULL, "peer"},
    {"GET /comet/ws HTTP/1.0\r\nHost: h\r\n\r\n", 0, NULL, NULL, NULL},
    {"GET /comet/ws HTTP/1.1\r\nBad header\r\n\r\n", 0, NULL, NULL, NULL},
    {"GET /comet/ws HTTP/1.1\r\nNa me: x\r\n\r\n", 0, NULL, NULL, NULL},
    {"GET  HTTP/1.1\r\n\r\n", 0, NULL, NULL, NULL},
    {"GET /x HTTP/1.1\r\nA: b\rc\r\n\r\n", 0, NULL, NULL, NULL},
};

static void test_heads(void)
{
    const struct config cfg = {.cors_origins = "https://app.example"};

    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        struct ws_head h;
        size_t len = strlen(heads[i].head);
        int rc = ws_head_parse(heads[i].head, len, &h);
        CHECK(ws_head_end(heads[i].head, len) == (long)len, "head %zu: end", i);
        CHECK((rc == 0) == heads[i].parsed, "head %zu: parsed %d", i, rc);
        if (rc == 0) {
            const char *why = ws_head_upgrade_error(&h);
            CHECK(heads[i].upgrade_error ? why && strncmp(why, heads[i].upgrade_error, strlen(heads[i].upgrade_error)) == 0
                                         : why == NULL, "head %zu: upgrade error %s", i, why ? why : "none");
            if (heads[i].origin_ok)
                CHECK(ws_head_origin_ok(&h, &cfg) == (heads[i].origin_ok[0] == '1'), "head %zu: origin", i);
            CHECK(strcmp(ws_head_addr(&h, "peer"), heads[i].addr) == 0, "head %zu: addr", i);
        }
        ws_head_free(&h);
    }
    CHECK(ws_head_end("GET / HTTP/1.1\r\n", 16) == 0, "incomplete head");
    {
        static const char head[] = "GET /comet/ws HTTP/1.1\r\nCookie: a=1\r\nHost: h\r\nAuthorization: Bearer t\r\n\r\n";
        struct ws_head h;
        CHECK(ws_head_parse(head, sizeof head - 1, &h) == 0, "a head to keep");
        ws_head_keep(&h);
        CHECK(h.cookie && strcmp(h.cookie, "a=1") == 0 && h.authorization && strcmp(h.authorization, "Bearer t") == 0 &&
              !h.host && !h.method, "kept: cookie and authorization only");
        ws_head_free(&h);
        CHECK(ws_head_parse("GET / HTTP/1.1\r\n\r\n", 18, &h) == 0, "a head with neither");
        ws_head_keep(&h);
        CHECK(!h.storage && !h.cookie && !h.authorization, "kept: nothing");
        ws_head_free(&h);
    }
    {
        static char big[WS_HEAD_MAX + 10];
        memset(big, 'a', sizeof big);
        CHECK(ws_head_end(big, sizeof big) == -1, "a head past WS_HEAD_MAX");
    }
}

static void test_accept(void)
{
    char err[256], key[29];

    CHECK(ws_accept_init(err, sizeof err) == 0, "libcrypto: %s", err);
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", key);
    CHECK(strcmp(key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0, "RFC 6455's example key: %s", key);
}

static const struct {
    const char *text;
    int ok;
    enum ws_op op;
    const char *channels; /* joined by "|" */
    const char *since, *ref, *body;
} msgs[] = {
    {"{\"op\":\"subscribe\",\"channels\":[\"a\",\"b\",\"a\"],\"since\":\"5-1\",\"ref\":7}", 1, WS_SUBSCRIBE, "a|b",
     "5-1", "7", NULL},
    {"{\"op\":\"unsubscribe\",\"channels\":[\"a\"],\"ref\":{\"x\":[1]}}", 1, WS_UNSUBSCRIBE, "a", NULL,
     "{\"x\":[1]}", NULL},
    {"{\"op\":\"publish\",\"ref\":\"r\",\"channel\":\"c\",\"event\":\"t\",\"data\":1}", 1, WS_PUBLISH, "", NULL,
     "\"r\"", "{\"channel\":\"c\",\"event\":\"t\",\"data\":1}"},
    {"{\"op\":\"unsubscribe\",\"channels\":[\"a\"],\"since\":\"5-1\"}", 0, 0, "", NULL, NULL, NULL},
    {"{\"op\":\"subscribe\",\"channels\":[\"a b\"],\"ref\":3}", 0, 0, "", NULL, "3", NULL},
    {"{\"op\":\"subscribe\",\"channels\":[]}", 0, 0, "", NULL, NULL, NULL},
    {"{\"op\":\"subscribe\",\"channels\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 0, 0, "", NULL, NULL, NULL},
    {"{\"op\":\"subscribe\",\"channels\":[1]}", 0, 0, "", NULL, NULL, NULL},
    {"{\"op\":\"dance\"}", 0, 0, "", NULL, NULL, NULL},
    {"{\"channels\":[\"a\"]}", 0, 0, "", NULL, NULL, NULL},
    {"[\"op\"]", 0, 0, "", NULL, NULL, NULL},
    {"{\"op\":\"subscribe\",\"op\":\"publish\"}", 0, 0, "", NULL, NULL, NULL},
    {"{\"op\":\"publish\",\"data\":[[[[1]]]]}", 0, 0, "", NULL, NULL, NULL}, /* deeper than 4 */
    {"not json", 0, 0, "", NULL, NULL, NULL},
};

static void test_msgs(void)
{
    const struct config cfg = {.max_channels = 4, .channel_max = 128, .max_depth = 4};

    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        struct ws_msg m;
        char err[256], joined[256] = "";
        int rc = ws_msg_parse(msgs[i].text, strlen(msgs[i].text), &cfg, &m, err, sizeof err);
        for (size_t k = 0; k < m.n; k++) {
            strcat(joined, k ? "|" : "");
            strcat(joined, m.channels[k]);
        }
        CHECK((rc == 0) == msgs[i].ok, "msg %zu: %s", i, rc ? err : "accepted");
        CHECK(rc != 0 || m.op == msgs[i].op, "msg %zu: op", i);
        CHECK(strcmp(joined, msgs[i].channels) == 0, "msg %zu: channels %s", i, joined);
        CHECK(msgs[i].since ? m.since && strcmp(m.since, msgs[i].since) == 0 : !m.since, "msg %zu: since", i);
        CHECK(msgs[i].ref ? m.ref && strcmp(m.ref, msgs[i].ref) == 0 : !m.ref, "msg %zu: ref %s", i, m.ref);
        CHECK(msgs[i].body ? m.body && strcmp(m.body, msgs[i].body) == 0 : !m.body, "msg %zu: body %s", i, m.body);
        ws_msg_free(&m);
    }
}

static void test_answers(void)
{
    static const char cgi[] = "Status: 403 Forbidden\r\nContent-Type: application/json\r\n\r\n{\"error\":\"no\"}\n";
    const char *body;
    size_t blen;
    struct buf out = {0};
    struct memreq m;

    CHECK(memreq_status(cgi, sizeof cgi - 1, &body, &blen) == 403, "status");
    CHECK(blen == 15 && memcmp(body, "{\"error\":\"no\"}\n", blen) == 0, "body");
    CHECK(memreq_status("no head", 7, &body, &blen) == -1, "no head");
    ws_http_answer(&out, cgi, sizeof cgi - 1);
    buf_puts(&out, "");
    CHECK(out.len && strcmp(out.s, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                   "Content-Length: 15\r\n\r\n{\"error\":\"no\"}\n") == 0, "HTTP answer: %s", out.s);
    memreq_init(&m, "body!", 5);
    memreq_param(&m, "NAME", "value");
    memreq_param(&m, "NONE", NULL);
    CHECK(strcmp(FCGX_GetParam("NAME", m.req.envp), "value") == 0 && !FCGX_GetParam("NONE", m.req.envp), "params");
    {
        char in[16];
        int n = FCGX_GetStr(in, sizeof in, m.req.in);
        CHECK(n == 5 && memcmp(in, "body!", 5) == 0 && FCGX_GetStr(in, sizeof in, m.req.in) == 0, "input");
    }
    for (int i = 0; i < 300; i++)
        FCGX_PutS("0123456789", m.req.out);
    CHECK(memreq_answer(&m)->len == 3000, "output past its buffer");
    memreq_free(&m);
    buf_free(&out);
}

int main(void)
{
    test_heads();
    test_accept();
    test_msgs();
    test_answers();
    return check_done("ws");
}
