/* Unit tests of address lists (cidr.c) and of the log line's format (log_format). */
#include <string.h>

#include "check.h"
#include "cidr.h"
#include "log.h"

static const struct {
    const char *list, *addr;
    int match;
} matches[] = {
    {"127.0.0.1", "127.0.0.1", 1},
    {"127.0.0.1", "127.0.0.2", 0},
    {"127.0.0.0/8", "127.255.1.2", 1},
    {"10.0.0.0/8, 192.168.0.0/16", "192.168.44.1", 1},
    {"10.0.0.0/8, 192.168.0.0/16", "192.169.0.1", 0},
    {"192.0.2.128/25", "192.0.2.127", 0},
    {"192.0.2.128/25", "192.0.2.200", 1},
    {"0.0.0.0/0", "8.8.8.8", 1},
    {"0.0.0.0/0", "::1", 0},            /* an IPv4 range does not cover IPv6 */
    {"127.0.0.0/8", "::ffff:127.0.0.1", 1}, /* an IPv4-mapped address is its IPv4 address */
    {"::1", "::1", 1},
    {"::1", "::2", 0},
    {"2001:db8::/32", "2001:db8:ffff::1", 1},
    {"2001:db8::/32", "2001:db9::1", 0},
    {"::/0", "fe80::1", 1},
    {"2001:db8::/33", "2001:db8:8000::1", 0},
    {"2001:db8::/33", "2001:db8:7fff::1", 1},
    {"", "127.0.0.1", 0},
    {"127.0.0.1", "", 0},
    {"127.0.0.1", "localhost", 0},
    {" , ,127.0.0.1 ,", "127.0.0.1", 1},
};

static const struct {
    const char *list;
    int ok;
} checks[] = {
    {"", 1},
    {"127.0.0.1", 1},
    {"127.0.0.1/32, ::1/128, 10.0.0.0/8", 1},
    {"127.0.0.1/33", 0},
    {"::1/129", 0},
    {"10.0.0.0/", 0},
    {"10.0.0.0/-1", 0},
    {"10.0.0.0/8x", 0},
    {"example.com", 0},
    {"10.0.0.0/8, nope", 0},
    {"1.2.3", 0},
    {"1.2.3.4.5", 0},
};

static void test_log_format(void)
{
    char out[256];

    log_format(out, sizeof out, 1796051069260LL, LOG_LEVEL_WARN, "comet.fcgi:short", 42, "a \"b\"\\c\nd\x01");
    CHECK(strcmp(out, "ts=2026-11-30T15:04:29.260Z level=warn prog=comet.fcgi:short pid=42 "
                      "msg=\"a \\\"b\\\"\\\\c\\nd\\x01\"") == 0,
          "%s", out);
    log_format(out, 40, 0, LOG_LEVEL_INFO, "p", 1, "a long message that does not fit");
    CHECK(strlen(out) < 40 && out[strlen(out) - 1] == '"', "truncated, still quoted: %s", out);
}

int main(void)
{
    char err[256];

    for (size_t i = 0; i < sizeof matches / sizeof matches[0]; i++)
        CHECK(cidr_list_match(matches[i].list, matches[i].addr) == matches[i].match, "%s in [%s]",
              matches[i].addr, matches[i].list);
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        err[0] = 0;
        CHECK((cidr_list_check(checks[i].list, err, sizeof err) == 0) == checks[i].ok, "[%s]: %s", checks[i].list,
              err);
        CHECK(checks[i].ok || strstr(err, "expected an IPv4 or IPv6 address"), "[%s]: %s", checks[i].list, err);
    }
    test_log_format();
    return check_done("cidr");
}
