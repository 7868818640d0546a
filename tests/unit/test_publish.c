/* Unit tests of publish body validation: valid bodies and the events they give,
 * and invalid ones with the words their error must contain. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "publish.h"

static const struct {
    const char *body;
    const char *expect; /* valid: "channel>tail|…"; invalid: "!" and a piece of the error */
} cases[] = {
    {"{\"channel\":\"a\",\"data\":1}", "a>\"channel\":\"a\",\"event\":\"message\",\"data\":1}"},
    {"{\"channel\":\"a\",\"event\":\"e\",\"data\":null}", "a>\"channel\":\"a\",\"event\":\"e\",\"data\":null}"},
    {"{\"channels\":[\"a\",\"b\"],\"data\":[]}",
     "a>\"channel\":\"a\",\"event\":\"message\",\"data\":[]}|b>\"channel\":\"b\",\"event\":\"message\",\"data\":[]}"},
    {"[{\"channel\":\"a\",\"data\":1},{\"channel\":\"b\",\"data\":2}]",
     "a>\"channel\":\"a\",\"event\":\"message\",\"data\":1}|b>\"channel\":\"b\",\"event\":\"message\",\"data\":2}"},
    {"{\"channel\":\"a\",\"data\":\"\\u00e9\\n\"}", "a>\"channel\":\"a\",\"event\":\"message\",\"data\":\"\xc3\xa9\\n\"}"},
    {"", "!invalid JSON"},
    {"{", "!invalid JSON"},
    {"{\"channel\":\"a\",\"data\":1} x", "!invalid JSON"},
    {"{\"channel\":\"a\",\"channel\":\"b\",\"data\":1}", "!invalid JSON"}, /* duplicate key */
    {"\"just a string\"", "!'[' or '{' expected"},
    {"[]", "!empty"},
    {"[{\"channel\":\"a\",\"data\":1},{\"channel\":\"b c\",\"data\":2}]", "!item 1: a channel name"},
    {"[{\"channel\":\"a\",\"data\":1}, 5]", "!item 1: each event is an object"},
    {"{\"channel\":\"a\"}", "!data is required"},
    {"{\"data\":1}", "!either channel or channels"},
    {"{\"channel\":\"a\",\"channels\":[\"b\"],\"data\":1}", "!either channel or channels"},
    {"{\"channel\":5,\"data\":1}", "!a channel name"},
    {"{\"channel\":\"a\",\"data\":1,\"extra\":2}", "!unknown field"},
    {"{\"channel\":\"a\",\"event\":\"a\\nb\",\"data\":1}", "!event is"},
    {"{\"channel\":\"a\",\"event\":\"comet-x\",\"data\":1}", "!event is"},
    {"{\"channel\":\"a\",\"event\":3,\"data\":1}", "!event is"},
    {"{\"channels\":[],\"data\":1}", "!channels is a list of 1 to 3"},
    {"{\"channels\":[\"a\",\"b\",\"c\",\"d\"],\"data\":1}", "!channels is a list of 1 to 3"},
    {"{\"channels\":[\"a\",\"a\"],\"data\":1}", "!twice"},
    {"{\"channels\":\"a\",\"data\":1}", "!channels is a list"},
    {"[{\"channels\":[\"a\",\"b\",\"c\"],\"data\":1},{\"channels\":[\"a\",\"b\",\"c\"],\"data\":1}]",
     "!at most 5 events"},
    {"{\"channel\":\"a\",\"data\":\"\xff\"}", "!invalid JSON"}, /* not UTF-8 */
    /* max_depth 4: the body's own object counts; brackets inside strings do not. */
    {"{\"channel\":\"a\",\"data\":[[{}]]}", "a>\"channel\":\"a\",\"event\":\"message\",\"data\":[[{}]]}"},
    {"{\"channel\":\"a\",\"data\":\"[[[[[\\\"{{{{\"}", "a>\"channel\":\"a\",\"event\":\"message\",\"data\":\"[[[[[\\\"{{{{\"}"},
    {"{\"channel\":\"a\",\"data\":[[[{}]]]}", "!deeper than 4"},
    {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "!deeper than 4"},
    /* channel_max 8 */
    {"{\"channel\":\"abcdefgh\",\"data\":1}", "abcdefgh>\"channel\":\"abcdefgh\",\"event\":\"message\",\"data\":1}"},
    {"{\"channel\":\"abcdefghi\",\"data\":1}", "!1 to 8 bytes"},
};

int main(void)
{
    char err[512], got[2048];
    struct config cfg;
    struct publish_batch b;
    const struct config *base = config_load(err, sizeof err);

    if (!base)
        return 1;
    cfg = *base;
    cfg.max_channels = 3;
    cfg.max_batch = 5;
    cfg.max_depth = 4;
    cfg.channel_max = 8;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *body = cases[i].body, *expect = cases[i].expect;
        int rc = publish_parse(body, strlen(body), &cfg, &b, err, sizeof err);

        if (expect[0] == '!') {
            CHECK(rc == -1 && strstr(err, expect + 1) && b.n == 0, "case %zu: rc %d, error \"%s\"", i, rc,
                  rc ? err : "");
        } else {
            got[0] = 0;
            for (size_t k = 0; rc == 0 && k < b.n; k++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s>%s", k ? "|" : "",
                         b.channels[k], b.tails[k]);
            CHECK(rc == 0 && strcmp(got, expect) == 0, "case %zu: rc %d %s / %s", i, rc, rc ? err : got,
                  expect);
        }
        publish_batch_free(&b);
    }
    return check_done("publish");
}
