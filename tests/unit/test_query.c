/* Unit tests of subscribe query parsing: a table of query strings and what each
 * must give. */
#include <string.h>

#include "check.h"
#include "query.h"

static const struct {
    const char *qs;
    int ok;
    const char *channels; /* joined by "|" */
    const char *since;    /* "ms-n", or NULL when absent */
    int timeout;
    const char *last_event_id;
} cases[] = {
    {"channel=a", 1, "a", NULL, -1, NULL},
    {"channel=a&channel=b&channel=a", 1, "a|b", NULL, -1, NULL}, /* duplicates fold */
    {"channel=chat%2Froom%40x&since=5-1", 1, "chat/room@x", "5-1", -1, NULL},
    {"channel=a&since=0&timeout=10", 1, "a", "0-0", 10, NULL},
    {"channel=a&lastEventId=9-9&_=123", 1, "a", NULL, -1, "9-9"}, /* unknown params ignored */
    {"channel=a&lastEventId=", 1, "a", NULL, -1, NULL},           /* empty: none */
    {"", 1, "", NULL, -1, NULL},
    {NULL, 1, "", NULL, -1, NULL},
    {"channel", 0, "", NULL, -1, NULL},                          /* empty name */
    {"channel=a+b", 0, "", NULL, -1, NULL},                      /* space */
    {"channel=a%0Ab", 0, "", NULL, -1, NULL},                    /* newline */
    {"channel=a%00b", 0, "", NULL, -1, NULL},                    /* NUL */
    {"channel=a%2", 0, "", NULL, -1, NULL},                      /* cut escape */
    {"channel=a%zz", 0, "", NULL, -1, NULL},
    {"channel=a&since=x", 0, "", NULL, -1, NULL},
    {"channel=a&since=", 0, "", NULL, -1, NULL},
    {"channel=a&timeout=-1", 0, "", NULL, -1, NULL},
    {"channel=a&timeout=1x", 0, "", NULL, -1, NULL},
    {"channel=a&channel=b&channel=c&channel=d&channel=e", 0, "", NULL, -1, NULL}, /* max 4 */
    {"channel=a&&channel=b&", 1, "a|b", NULL, -1, NULL},
};

/* /history's parameters: limit, before, after; history_check's refusals are its own. */
static const struct {
    const char *qs;
    int ok, limit;
    const char *before, *after; /* "ms-n", or NULL when absent */
} pages[] = {
    {"channel=a", 1, -1, NULL, NULL},
    {"channel=a&limit=1", 1, 1, NULL, NULL},
    {"channel=a&limit=1000&before=5-1", 1, 1000, "5-1", NULL},
    {"channel=a&after=0", 1, -1, NULL, "0-0"},
    {"channel=a&before=1-1&after=2-2", 1, -1, "1-1", "2-2"}, /* both: history_check refuses */
    {"channel=a&limit=0", 0, 0, NULL, NULL},
    {"channel=a&limit=1001", 0, 0, NULL, NULL},
    {"channel=a&limit=-5", 0, 0, NULL, NULL},
    {"channel=a&limit=%2B5", 0, 0, NULL, NULL},
    {"channel=a&limit=", 0, 0, NULL, NULL},
    {"channel=a&limit=5x", 0, 0, NULL, NULL},
    {"channel=a&before=x", 0, 0, NULL, NULL},
    {"channel=a&after=01-1", 0, 0, NULL, NULL},
};

static void check_pages(const struct config *cfg)
{
    char err[256], buf[CURSOR_MAX];
    struct query q;

    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        int rc = query_parse(pages[i].qs, cfg, &q, err, sizeof err);
        CHECK((rc == 0) == pages[i].ok, "\"%s\": rc %d (%s)", pages[i].qs, rc, rc ? err : "");
        if (rc == 0 && pages[i].ok) {
            CHECK(q.limit == pages[i].limit, "\"%s\": limit %d", pages[i].qs, q.limit);
            CHECK(q.has_before == (pages[i].before != NULL) && q.has_after == (pages[i].after != NULL),
                  "\"%s\": ends", pages[i].qs);
            cursor_format(q.before, buf);
            CHECK(!q.has_before || strcmp(buf, pages[i].before) == 0, "\"%s\": before %s", pages[i].qs, buf);
            cursor_format(q.after, buf);
            CHECK(!q.has_after || strcmp(buf, pages[i].after) == 0, "\"%s\": after %s", pages[i].qs, buf);
        }
        query_free(&q);
    }
}

int main(void)
{
    const struct config cfg = {.max_channels = 4, .channel_max = 128, .max_query = 8192};
    const struct config narrow = {.max_channels = 4, .channel_max = 3, .max_query = 300};
    char err[256], joined[1024], buf[CURSOR_MAX], big[8192 + 16];
    struct query q;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = query_parse(cases[i].qs, &cfg, &q, err, sizeof err);
        CHECK((rc == 0) == cases[i].ok, "\"%s\": rc %d (%s)", cases[i].qs, rc, rc ? err : "");
        if (rc == 0 && cases[i].ok) {
            joined[0] = 0;
            for (size_t k = 0; k < q.nchannels; k++)
                snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", k ? "|" : "",
                         q.channels[k]);
            CHECK(strcmp(joined, cases[i].channels) == 0, "\"%s\": channels %s", cases[i].qs, joined);
            CHECK(q.has_since == (cases[i].since != NULL), "\"%s\": since presence", cases[i].qs);
            if (q.has_since && cases[i].since) {
                cursor_format(q.since, buf);
                CHECK(strcmp(buf, cases[i].since) == 0, "\"%s\": since %s", cases[i].qs, buf);
            }
            CHECK(q.timeout == cases[i].timeout, "\"%s\": timeout %d", cases[i].qs, q.timeout);
            CHECK(q.has_last_event_id == (cases[i].last_event_id != NULL), "\"%s\": lastEventId",
                  cases[i].qs);
        }
        query_free(&q);
    }
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(query_parse(big, &cfg, &q, err, sizeof err) == -1 && strstr(err, "longer"), "too long: %s", err);
    query_free(&q);
    big[8192] = 0;
    CHECK(query_parse(big, &cfg, &q, err, sizeof err) == 0, "8192 bytes: %s", err);
    query_free(&q);
    /* COMET_MAX_QUERY and COMET_CHANNEL_MAX lower the limits, inclusively. */
    big[301] = 0;
    CHECK(query_parse(big, &narrow, &q, err, sizeof err) == -1 && strstr(err, "300"), "above max_query: %s", err);
    query_free(&q);
    big[300] = 0;
    CHECK(query_parse(big, &narrow, &q, err, sizeof err) == 0, "at max_query: %s", err);
    query_free(&q);
    CHECK(query_parse("channel=abc", &narrow, &q, err, sizeof err) == 0, "3-byte channel: %s", err);
    query_free(&q);
    CHECK(query_parse("channel=abcd", &narrow, &q, err, sizeof err) == -1 && strstr(err, "1 to 3 bytes"),
          "4-byte channel: %s", err);
    query_free(&q);
    CHECK(query_parse("wait=1", &cfg, &q, err, sizeof err) == 0 && q.wait == 1, "wait=1");
    query_free(&q);
    CHECK(query_parse("channel=a", &cfg, &q, err, sizeof err) == 0 && q.untyped == 0, "typed by default");
    query_free(&q);
    CHECK(query_parse("typed=0", &cfg, &q, err, sizeof err) == 0 && q.untyped == 1, "typed=0");
    query_free(&q);
    CHECK(query_parse("typed=1", &cfg, &q, err, sizeof err) == 0 && q.untyped == 0, "typed=1");
    query_free(&q);
    CHECK(query_parse("typed=no", &cfg, &q, err, sizeof err) == -1 && strstr(err, "typed"), "typed=no: %s", err);
    query_free(&q);
    check_pages(&cfg);
    return check_done("query");
}
