/* cidr: parses address ranges with inet_pton and compares prefixes bit by bit; every
 * address becomes 16 bytes (IPv4 as ::ffff:a.b.c.d), so one comparison serves both
 * families. Leaves where the list comes from to config.c. */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CIDR_ITEM_MAX 64

/* A textual address into 16 bytes; *v4 says it was IPv4 (or IPv4-mapped). 0 or -1. */
static int cidr_addr(const char *s, unsigned char out[16], int *v4)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (inet_pton(AF_INET, s, out + 12) == 1) {
        memcpy(out, mapped, 12);
        *v4 = 1;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out) != 1)
        return -1;
    *v4 = memcmp(out, mapped, 12) == 0;
    return 0;
}

/* One item (len bytes, trimmed) into its network and prefix length in 16-byte terms.
 * 0 or -1. */
static int cidr_item(const char *item, size_t len, unsigned char net[16], int *bits)
{
    char s[CIDR_ITEM_MAX];
    char *slash, *end;
    long n;
    int v4;

    if (len == 0 || len >= sizeof s)
        return -1;
    memcpy(s, item, len);
    s[len] = 0;
    if ((slash = strchr(s, '/')))
        *slash = 0;
    if (cidr_addr(s, net, &v4) < 0)
        return -1;
    *bits = 128;
    if (!slash)
        return 0;
    n = strtol(slash + 1, &end, 10);
    if (end == slash + 1 || *end || n < 0 || n > (v4 ? 32 : 128))
        return -1;
    *bits = (int)n + (v4 ? 96 : 0);
    return 0;
}

static int cidr_covers(const unsigned char net[16], int bits, const unsigned char a[16])
{
    int whole = bits / 8, rest = bits % 8;

    if (memcmp(net, a, (size_t)whole) != 0)
        return 0;
    return rest == 0 || ((net[whole] ^ a[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Calls each item of list (trimmed, non-empty) in turn: fn returns nonzero to stop,
 * and that value is returned; 0 after the last. */
static int cidr_each(const char *list, int (*fn)(const char *item, size_t len, void *priv), void *priv)
{
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const char *next = p + len + (p[len] == ',');
        int rc;

        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len && (rc = fn(p, len, priv)) != 0)
            return rc;
        p = next;
    }
    return 0;
}

static int cidr_bad(const char *item, size_t len, void *priv)
{
    unsigned char net[16];
    int bits;

    (void)priv;
    return cidr_item(item, len, net, &bits) < 0;
}

/* Remembers the first bad item for cidr_list_check's message. */
struct cidr_first_bad {
    const char *item;
    size_t len;
};

static int cidr_note_bad(const char *item, size_t len, void *priv)
{
    struct cidr_first_bad *b = priv;

    if (!cidr_bad(item, len, NULL))
        return 0;
    b->item = item;
    b->len = len;
    return 1;
}

int cidr_list_check(const char *list, char *err, size_t errlen)
{
    struct cidr_first_bad b = {0};

    if (cidr_each(list, cidr_note_bad, &b) == 0)
        return 0;
    snprintf(err, errlen, "%.*s: expected an IPv4 or IPv6 address, or ADDRESS/BITS",
             (int)(b.len > 64 ? 64 : b.len), b.item);
    return -1;
}

static int cidr_hit(const char *item, size_t len, void *priv)
{
    unsigned char net[16];
    int bits;

    return cidr_item(item, len, net, &bits) == 0 && cidr_covers(net, bits, priv);
}

int cidr_list_match(const char *list, const char *addr)
{
    unsigned char a[16];
    int v4;

    if (!list || !addr || cidr_addr(addr, a, &v4) < 0)
        return 0;
    return cidr_each(list, cidr_hit, a);
}
