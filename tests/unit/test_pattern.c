/* Unit tests of pattern lists. */
#include <string.h>

#include "check.h"
#include "pattern.h"

static const struct {
    const char *list, *s;
    int match;
} cases[] = {
    {"demo*", "demo", 1},
    {"demo*", "demo/chat", 1},
    {"demo*", "xdemo", 0},
    {"private/*,user.*", "user.42", 1},
    {"private/*,user.*", "private/", 1},
    {"private/*,user.*", "public", 0},
    {" a , b ", "b", 1},
    {"a,,b", "", 0},
    {"", "anything", 0},
    {"*", "", 1},
    {"*", "anything", 1},
    {"a*b*c", "aXXbYYc", 1},
    {"a*b*c", "aXXbYY", 0},
    {"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0}, /* no blow-up */
    {"https://app.example.com", "https://app.example.com", 1},
    {"https://app.example.com", "https://app.example.com.evil", 0},
    {"https://*.example.com", "https://a.example.com", 1},
    {"exact", "exac", 0},
};

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(pattern_list_match(cases[i].list, cases[i].s) == cases[i].match, "\"%s\" ~ \"%s\"",
              cases[i].list, cases[i].s);
    return check_done("pattern");
}
