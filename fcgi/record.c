/* record: the FastCGI record header and the two record types the event loop writes. */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

enum { VERSION = 1, END_REQUEST = 3, STDOUT = 6, HEADER = 8, MAX_CONTENT = 65535 };

static void header_at(char *h, int type, int id, size_t len)
{
    const char v[HEADER] = {VERSION, (char)type, (char)(id >> 8), (char)(id & 0xff),
                            (char)(len >> 8), (char)(len & 0xff), 0, 0};

    memcpy(h, v, HEADER);
}

static void header(struct buf *b, int type, int id, size_t len)
{
    char h[HEADER];

    header_at(h, type, id, len);
    buf_append(b, h, sizeof h);
}

void record_stdout(struct buf *b, int id, const char *data, size_t len)
{
    while (len) {
        size_t n = len < MAX_CONTENT ? len : MAX_CONTENT;
        header(b, STDOUT, id, n);
        buf_append(b, data, n);
        data += n;
        len -= n;
    }
}

size_t record_open(struct buf *b)
{
    static const char room[HEADER];

    buf_append(b, room, HEADER);
    return b->len - HEADER;
}

void record_close(struct buf *b, size_t at, int id)
{
    size_t len = b->len - at - HEADER;
    char *copy;

    if (len == 0) {
        b->len = at;
        b->s[at] = 0;
    } else if (len <= MAX_CONTENT) {
        header_at(b->s + at, STDOUT, id, len);
    } else {
        /* Only a long replay gets here: split from a copy. */
        copy = xmalloc(len);
        memcpy(copy, b->s + at + HEADER, len);
        b->len = at;
        record_stdout(b, id, copy, len);
        free(copy);
    }
}

void record_end(struct buf *b, int id)
{
    static const char body[8] = {0};

    header(b, STDOUT, id, 0);
    header(b, END_REQUEST, id, sizeof body);
    buf_append(b, body, sizeof body);
}
