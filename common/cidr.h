/* cidr: lists of address ranges, "10.0.0.0/8, 127.0.0.1, ::1, fd00::/8" (a bare
 * address is one host), and whether an address is in one. Pure: no allocation, no
 * I/O; IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 ranges. */
#ifndef COMET_CIDR_H
#define COMET_CIDR_H

#include <stddef.h>

/* 0 when every item of list (comma-separated, blanks around items ignored, "" empty)
 * is an address or address/bits; else -1 with err naming the first bad item. */
int cidr_list_check(const char *list, char *err, size_t errlen);

/* 1 when addr (a textual IPv4 or IPv6 address, as REMOTE_ADDR has it) is in a range of
 * list; 0 when not, or when addr or the item is not an address. */
int cidr_list_match(const char *list, const char *addr);

#endif
