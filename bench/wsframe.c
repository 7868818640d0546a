/* wsframe: RFC 6455 frame headers, read and written. The mask of the frames written is
 * all zeros, which the RFC allows (the key only has to be unpredictable to a browser's
 * scripts, which this client has none of). */
#include "wsframe.h"

#include <string.h>

long wsframe_read(const char *in, size_t n, int *op, const char **payload, size_t *plen)
{
    const unsigned char *p = (const unsigned char *)in;
    uint64_t len;
    size_t head = 2;

    if (n < 2)
        return 0;
    if (p[1] & 0x80)
        return -1;
    len = p[1] & 0x7f;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        head = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 2; i < 10; i++)
            len = len << 8 | p[i];
        head = 10;
    }
    if (len > (1u << 31))
        return -1;
    if (n < head + len)
        return 0;
    *op = p[0] & 0x0f;
    *payload = in + head;
    *plen = (size_t)len;
    return (long)(head + len);
}

size_t wsframe_control(char *out, int op, const char *payload, size_t len)
{
    out[0] = (char)(0x80 | op);
    out[1] = (char)(0x80 | len);
    memset(out + 2, 0, 4);
    memcpy(out + 6, payload, len);
    return len + 6;
}
