/* memreq: a FastCGI request held in memory, so that the handlers' own checks
 * (request_waiting, publish_read, hub_room) serve requests that did not come over
 * FastCGI: a WebSocket upgrade and the ops on its socket (hub_ws.c). Its parameters
 * and body are given; what a handler answers is kept as the CGI answer it would send. */
#ifndef COMET_MEMREQ_H
#define COMET_MEMREQ_H

#include <fcgiapp.h>
#include <stddef.h>

#include "buf.h"

struct memreq {
    FCGX_Request req; /* handlers read req.envp and req.in, and write req.out */
    FCGX_Stream in, out;
    unsigned char obuf[1024];
    struct buf answer; /* what was written to req.out, once memreq_answer ran */
    char **envp;
    size_t nenv;
    char *body;
};

/* Starts m with no parameters and body[0..len) as its input (copied; NULL for none). */
void memreq_init(struct memreq *m, const char *body, size_t len);

/* Adds the parameter name=value (copied); a NULL value adds nothing. */
void memreq_param(struct memreq *m, const char *name, const char *value);

/* What handlers wrote to m's output: a CGI answer (Status: line, headers, blank line,
 * body), or nothing. Valid until memreq_free. */
const struct buf *memreq_answer(struct memreq *m);

void memreq_free(struct memreq *m);

/* Reads a CGI answer a[0..len): returns its status (200 when it names none) and points
 * *body at what follows the head (*blen bytes), or returns -1 when a holds no head. */
int memreq_status(const char *a, size_t len, const char **body, size_t *blen);

#endif
