/* Unit tests of FastCGI record encoding. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "record.h"

int main(void)
{
    struct frame f = {0};
    char *big = malloc(70000);
    const unsigned char *p;

    record_stdout(&f, 1, "hi", 2);
    CHECK(f.len == 10 && memcmp(f.s, "\x01\x06\x00\x01\x00\x02\x00\x00hi", 10) == 0, "one small record");
    frame_reset(&f);
    record_stdout(&f, 0x1234, "", 0);
    CHECK(f.len == 0, "nothing for no data: an empty record would end the stream");
    memset(big, 'x', 70000);
    record_stdout(&f, 0x1234, big, 70000);
    p = (const unsigned char *)f.s;
    CHECK(f.len == 70016 && p[2] == 0x12 && p[3] == 0x34 && p[4] == 0xff && p[5] == 0xff, "split at 65535");
    p += 8 + 65535;
    CHECK(p[1] == 6 && (p[4] << 8 | p[5]) == 70000 - 65535, "second record holds the rest");
    frame_reset(&f);
    record_end(&f, 7);
    CHECK(f.len == 24 && memcmp(f.s, "\x01\x06\x00\x07\x00\x00\x00\x00\x01\x03\x00\x07\x00\x08\x00\x00", 16) == 0 &&
              memcmp(f.s + 16, "\0\0\0\0\0\0\0\0", 8) == 0, "end of request");
    frame_free(&f);
    free(big);
    return check_done("record");
}
