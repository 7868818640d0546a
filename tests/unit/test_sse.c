/* Unit tests of SSE framing. */
#include <string.h>

#include "check.h"
#include "sse.h"

static const struct {
    const char *env, *frame; /* frame NULL: refused */
} cases[] = {
    {"{\"id\":\"5-1\",\"channel\":\"a\",\"event\":\"message\",\"data\":1}",
     "id: 5-1\ndata: {\"id\":\"5-1\",\"channel\":\"a\",\"event\":\"message\",\"data\":1}\n\n"},
    {"{\"id\":\"5-2\",\"channel\":\"a\",\"event\":\"score\",\"data\":\"x\"}",
     "id: 5-2\nevent: score\ndata: {\"id\":\"5-2\",\"channel\":\"a\",\"event\":\"score\",\"data\":\"x\"}\n\n"},
    {"{\"id\":\"5-3\",\"channel\":\"a\",\"event\":\"messages\",\"data\":0}",
     "id: 5-3\nevent: messages\ndata: {\"id\":\"5-3\",\"channel\":\"a\",\"event\":\"messages\",\"data\":0}\n\n"},
    /* a raw newline would end the data: line and let the rest forge fields */
    {"{\"id\":\"5-4\",\"channel\":\"a\",\"event\":\"message\",\"data\":\"\n\nid: 9-9\"}", NULL},
    {"{\"id\":\"5-4\",\"channel\":\"a\",\"event\":\"message\",\"data\":\"\r\"}", NULL},
    {"{\"id\":\"x\",\"channel\":\"a\",\"event\":\"message\",\"data\":1}", NULL},
    {"not an envelope", NULL},
};

int main(void)
{
    char buf[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = sse_frame(cases[i].env, strlen(cases[i].env), buf, sizeof buf);
        if (!cases[i].frame)
            CHECK(n == -1, "case %zu refused", i);
        else
            CHECK(n == (int)strlen(cases[i].frame) && memcmp(buf, cases[i].frame, (size_t)n) == 0,
                  "case %zu: %.*s", i, n > 0 ? n : 0, buf);
    }
    CHECK(sse_frame(cases[0].env, strlen(cases[0].env), buf, 20) == -1, "too small a buffer");
    return check_done("sse");
}
