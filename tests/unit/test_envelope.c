/* Unit tests of channel and type validation, envelope tails and heads. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "envelope.h"

static const struct {
    const char *name;
    int channel, type;
} names[] = {
    {"news", 1, 1},
    {"a_b-c.d:e/f@g", 1, 0},   /* / and @ are for channels only */
    {"a_b-c.d:e", 1, 1},
    {"", 0, 0},
    {"has space", 0, 0},
    {"new\nline", 0, 0},
    {"cr\r", 0, 0},
    {"quote\"", 0, 0},
    {"back\\slash", 0, 0},
    {"star*", 0, 0},           /* * is a pattern character */
    {"\xc3\xa9t\xc3\xa9", 0, 0}, /* non-ASCII */
    {"comet-truncated", 1, 0}, /* reserved for the server's own event types */
    {"comet", 1, 1},
};

int main(void)
{
    char long_name[200];
    struct cursor id;
    const char *type;
    size_t tlen;
    json_t *data, *parsed;
    char *tail, env[256];

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t len = strlen(names[i].name);
        CHECK(envelope_channel_valid(names[i].name, len) == names[i].channel, "channel \"%s\"", names[i].name);
        CHECK(envelope_type_valid(names[i].name, len) == names[i].type, "type \"%s\"", names[i].name);
    }
    memset(long_name, 'x', sizeof long_name);
    CHECK(envelope_channel_valid(long_name, 128), "128 bytes is a channel");
    CHECK(!envelope_channel_valid(long_name, 129), "129 bytes is not");
    CHECK(envelope_type_valid(long_name, 64) && !envelope_type_valid(long_name, 65), "type length");
    CHECK(!envelope_channel_valid("a\0b", 3), "NUL inside");

    data = json_loads("{\"text\":\"</script>\\u2028\",\"n\":9007199254740993}", 0, NULL);
    tail = envelope_tail("news", "score", data);
    CHECK(tail && strcmp(tail, "\"channel\":\"news\",\"event\":\"score\","
                               "\"data\":{\"text\":\"</script>\xe2\x80\xa8\",\"n\":9007199254740993}}") == 0,
          "tail: %s", tail);
    snprintf(env, sizeof env, "{\"id\":\"17-3\",%s", tail);
    parsed = json_loads(env, 0, NULL);
    CHECK(parsed && json_integer_value(json_object_get(json_object_get(parsed, "data"), "n")) ==
                        9007199254740993LL, "the envelope parses and integers pass through whole");
    json_decref(parsed);
    CHECK(envelope_head(env, strlen(env), &id, &type, &tlen) == 0 && id.ms == 17 && id.n == 3 &&
              tlen == 5 && memcmp(type, "score", 5) == 0, "head");
    CHECK(envelope_head(env, 10, &id, &type, &tlen) == -1, "head of a cut envelope");
    CHECK(envelope_head("{\"id\":\"x\",", 10, &id, &type, &tlen) == -1, "head with a bad id");
    CHECK(envelope_head("[]", 2, &id, &type, &tlen) == -1, "not an envelope");
    free(tail);
    json_decref(data);
    return check_done("envelope");
}
