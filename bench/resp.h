/* resp: an incremental reader of HTTP/1.1 responses for the load generator. It is fed
 * whatever bytes a socket gave and hands back the status, the few headers the benchmark
 * needs, and the body de-chunked in pieces that point into the caller's bytes. It knows
 * nothing of sockets and allocates nothing: one struct per connection, reused per response. */
#ifndef BENCH_RESP_H
#define BENCH_RESP_H

#include <stddef.h>

/* What resp_feed found; *used bytes of the input were consumed in each case. */
enum resp_event {
    RESP_NEED, /* every byte consumed, nothing to report: feed more */
    RESP_HEAD, /* the header block is complete: status, keep_alive, etag, ... are set */
    RESP_DATA, /* *body, *blen: the next piece of the body (pointing into the input) */
    RESP_END,  /* the response is complete; resp_reset before the next one */
    RESP_BAD   /* not HTTP/1.x, or a malformed header block or chunk; the reader is dead */
};

struct resp {
    int state;
    int status;      /* 200, 404, ...: valid from RESP_HEAD on */
    int keep_alive;  /* 0 after "Connection: close", with HTTP/1.0 or a body ended by close */
    int chunked;
    long long left;  /* bytes left in the Content-Length body or the current chunk */
    size_t llen;
    char line[1024]; /* the header or chunk-size line being gathered; longer ones are cut */
    char last_modified[64], etag[64]; /* Nchan's long-poll cursor; empty when absent */
};

/* Readies r for a new response (on a new or reused connection). */
void resp_reset(struct resp *r);

/* Consumes bytes of in[0..n) up to the next event and returns it, with *used set to the
 * bytes consumed. Call again with the rest until RESP_NEED. RESP_END may come with n == 0
 * (a body of known length that just ended, or no body at all). */
enum resp_event resp_feed(struct resp *r, const char *in, size_t n, size_t *used,
                          const char **body, size_t *blen);

/* At end of input: 1 if the response was complete by then (a body delimited by the
 * connection's close), 0 if it was cut short. */
int resp_eof(const struct resp *r);

#endif
