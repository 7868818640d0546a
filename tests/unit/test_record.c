/* Unit tests of FastCGI record encoding. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "record.h"

int main(void)
{
    struct buf f = {0};
    char *big = malloc(70000);
    const unsigned char *p;

    record_stdout(&f, 1, "hi", 2);
    CHECK(f.len == 10 && memcmp(f.s, "\x01\x06\x00\x01\x00\x02\x00\x00hi", 10) == 0, "one small record");
    buf_reset(&f);
    record_stdout(&f, 0x1234, "", 0);
    CHECK(f.len == 0, "nothing for no data: an empty record would end the stream");
    memset(big, 'x', 70000);
    record_stdout(&f, 0x1234, big, 70000);
    p = (const unsigned char *)f.s;
    CHECK(f.len == 70016 && p[2] == 0x12 && p[3] == 0x34 && p[4] == 0xff && p[5] == 0xff, "split at 65535");
    p += 8 + 65535;
    CHECK(p[1] == 6 && (p[4] << 8 | p[5]) == 70000 - 65535, "second record holds the rest");
    /* In place: what is appended between open and close becomes the same records. */
    buf_reset(&f);
    buf_append(&f, "pre", 3);
    record_close(&f, record_open(&f), 9);
    CHECK(f.len == 3, "open then close with nothing between leaves nothing");
    {
        size_t at = record_open(&f);
        struct buf want = {0};
        buf_append(&f, "hi", 2);
        record_close(&f, at, 1);
        CHECK(f.len == 13 && memcmp(f.s + 3, "\x01\x06\x00\x01\x00\x02\x00\x00hi", 10) == 0,
              "in place: one small record after what was there");
        buf_reset(&f);
        at = record_open(&f);
        buf_append(&f, big, 70000);
        record_close(&f, at, 0x1234);
        record_stdout(&want, 0x1234, big, 70000);
        CHECK(f.len == want.len && memcmp(f.s, want.s, want.len) == 0, "in place: split like record_stdout");
        buf_free(&want);
    }
    buf_reset(&f);
    record_end(&f, 7);
    CHECK(f.len == 24 && memcmp(f.s, "\x01\x06\x00\x07\x00\x00\x00\x00\x01\x03\x00\x07\x00\x08\x00\x00", 16) == 0 &&
              memcmp(f.s + 16, "\0\0\0\0\0\0\0\0", 8) == 0, "end of request");
    buf_free(&f);
    free(big);
    return check_done("record");
}
