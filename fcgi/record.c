/* record: the FastCGI record header and the two record types the event loop writes. */
#include "record.h"

enum { VERSION = 1, END_REQUEST = 3, STDOUT = 6, MAX_CONTENT = 65535 };

static void header(struct frame *f, int type, int id, size_t len)
{
    char h[8] = {VERSION, (char)type, (char)(id >> 8), (char)(id & 0xff), (char)(len >> 8), (char)(len & 0xff), 0, 0};

    frame_append(f, h, sizeof h);
}

void record_stdout(struct frame *f, int id, const char *data, size_t len)
{
    while (len) {
        size_t n = len < MAX_CONTENT ? len : MAX_CONTENT;
        header(f, STDOUT, id, n);
        frame_append(f, data, n);
        data += n;
        len -= n;
    }
}

void record_end(struct frame *f, int id)
{
    static const char body[8] = {0};

    header(f, STDOUT, id, 0);
    header(f, END_REQUEST, id, sizeof body);
    frame_append(f, body, sizeof body);
}
