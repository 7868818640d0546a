/* wsframe: the client side of RFC 6455 framing for the load generator: reading the
 * server's frames (unmasked, possibly several per read, possibly cut) and writing the
 * masked control frames a client answers with. Pure: it knows nothing of sockets. */
#ifndef BENCH_WSFRAME_H
#define BENCH_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

enum { WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/* Reads the frame at the start of in[0..n): returns its whole length with *op and the
 * payload (*payload, *plen, pointing into in), 0 while it is incomplete, -1 when it is
 * malformed (masked by the server, or larger than 2^31). Fragments are not joined: a
 * continuation comes with its own op (0), which the benchmark's servers never send. */
long wsframe_read(const char *in, size_t n, int *op, const char **payload, size_t *plen);

/* Writes a masked frame of op with payload[0..len) (len at most 125: control frames)
 * into out (at least len + 6 bytes); returns its length. */
size_t wsframe_control(char *out, int op, const char *payload, size_t len);

#endif
