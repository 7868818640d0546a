/* Unit tests of cursor parsing, printing and ordering. */
#include <string.h>

#include "check.h"
#include "cursor.h"

static const struct {
    const char *in;
    int ok;
    unsigned long long ms, n;
} cases[] = {
    {"0", 1, 0, 0},
    {"0-0", 1, 0, 0},
    {"1732249000123-0", 1, 1732249000123ULL, 0},
    {"1-18446744073709551615", 1, 1, 18446744073709551615ULL},
    {"18446744073709551616-0", 0, 0, 0}, /* overflow */
    {"", 0, 0, 0},
    {"-", 0, 0, 0},
    {"1-", 0, 0, 0},
    {"-1", 0, 0, 0},
    {"01-1", 0, 0, 0},  /* leading zero: one spelling per id */
    {"1-01", 0, 0, 0},
    {"1-2-3", 0, 0, 0},
    {" 1-2", 0, 0, 0},
    {"1-2 ", 0, 0, 0},
    {"+1-2", 0, 0, 0},
    {"1", 0, 0, 0},     /* only 0 may stand alone */
    {"abc", 0, 0, 0},
    {"1\n-2", 0, 0, 0},
};

int main(void)
{
    char buf[CURSOR_MAX];
    struct cursor c;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = cursor_parse(cases[i].in, strlen(cases[i].in), &c);
        CHECK((rc == 0) == cases[i].ok, "parse \"%s\" gave %d", cases[i].in, rc);
        if (rc == 0 && cases[i].ok)
            CHECK(c.ms == cases[i].ms && c.n == cases[i].n, "parse \"%s\" value", cases[i].in);
    }
    c = (struct cursor){18446744073709551615ULL, 18446744073709551615ULL};
    CHECK(cursor_format(c, buf) == 41 && strcmp(buf, "18446744073709551615-18446744073709551615") == 0,
          "format max: %s", buf);
    cursor_parse(buf, strlen(buf), &c);
    CHECK(c.ms == 18446744073709551615ULL, "round trip");
    CHECK(cursor_cmp((struct cursor){1, 5}, (struct cursor){2, 0}) < 0, "ms orders first");
    CHECK(cursor_cmp((struct cursor){2, 1}, (struct cursor){2, 0}) > 0, "then n");
    CHECK(cursor_cmp((struct cursor){2, 1}, (struct cursor){2, 1}) == 0, "equal");
    CHECK(cursor_parse("7-123", 3, &c) == 0 && c.n == 1, "len limits the input: \"7-1\"");
    CHECK(cursor_parse("7-123", 2, &c) == -1, "len limits the input: \"7-\"");
    CHECK(cursor_parse("7-123", 4, &c) == 0 && c.ms == 7 && c.n == 12, "len limits the input");
    return check_done("cursor");
}
