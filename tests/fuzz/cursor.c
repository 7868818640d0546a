/* Fuzz target: cursor and Last-Event-ID decoding (cursor_parse) and the envelope head
 * reader (envelope_head). A cursor that parses must print back to the same bytes
 * (the form is canonical), except "0", which prints as "0-0". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *type;
    char buf[CURSOR_MAX];
    struct cursor c, back;
    size_t tlen;
    int n;

    if (cursor_parse(s, size, &c) == 0) {
        n = cursor_format(c, buf);
        if (cursor_parse(buf, (size_t)n, &back) < 0 || cursor_cmp(c, back) != 0)
            abort();
        if (!(size == 1 && s[0] == '0') && ((size_t)n != size || memcmp(buf, s, size) != 0))
            abort();
    }
    if (envelope_head(s, size, &c, &type, &tlen) == 0 && (type < s || type + tlen > s + size))
        abort();
    return 0;
}
