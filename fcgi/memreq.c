/* memreq: libfcgi's streams over memory. FCGX_Stream is public with its buffer
 * procedures, so a reader ends at its body and a writer empties into a buf; the rest
 * of libfcgi is not involved. */
#include "memreq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* The input ends where the body does. */
static void memreq_fill(FCGX_Stream *s)
{
    s->isClosed = 1;
}

static void memreq_empty(FCGX_Stream *s, int close)
{
    struct memreq *m = s->data;

    (void)close;
    buf_append(&m->answer, (const char *)m->obuf, (size_t)(s->wrNext - m->obuf));
    s->wrNext = m->obuf;
}

void memreq_init(struct memreq *m, const char *body, size_t len)
{
    memset(m, 0, sizeof *m);
    m->envp = xcalloc(1, sizeof *m->envp);
    m->body = xmalloc(len + 1);
    if (body)
        memcpy(m->body, body, len);
    m->in = (FCGX_Stream){.rdNext = (unsigned char *)m->body, .stop = (unsigned char *)m->body + (body ? len : 0),
                          .isReader = 1, .fillBuffProc = memreq_fill, .data = m};
    m->in.wrNext = m->in.stop;
    m->in.stopUnget = m->in.rdNext;
    m->out = (FCGX_Stream){.rdNext = m->obuf, .wrNext = m->obuf, .stop = m->obuf + sizeof m->obuf,
                           .emptyBuffProc = memreq_empty, .data = m};
    m->req.in = &m->in;
    m->req.out = &m->out;
    m->req.err = &m->out;
    m->req.envp = m->envp;
    m->req.ipcFd = -1;
}

void memreq_param(struct memreq *m, const char *name, const char *value)
{
    size_t size;

    if (!value)
        return;
    size = strlen(name) + strlen(value) + 2;
    m->envp = xrealloc(m->envp, (m->nenv + 2) * sizeof *m->envp);
    m->envp[m->nenv] = xmalloc(size);
    snprintf(m->envp[m->nenv++], size, "%s=%s", name, value);
    m->envp[m->nenv] = NULL;
    m->req.envp = m->envp;
}

const struct buf *memreq_answer(struct memreq *m)
{
    memreq_empty(&m->out, 0);
    return &m->answer;
}

void memreq_free(struct memreq *m)
{
    for (size_t i = 0; i < m->nenv; i++)
        free(m->envp[i]);
    free(m->envp);
    free(m->body);
    buf_free(&m->answer);
    memset(m, 0, sizeof *m);
}

int memreq_status(const char *a, size_t len, const char **body, size_t *blen)
{
    const char *end = a && len ? memmem(a, len, "\r\n\r\n", 4) : NULL;
    int status = 200;

    if (!end)
        return -1;
    if (len > 8 && memcmp(a, "Status: ", 8) == 0)
        status = atoi(a + 8);
    *body = end + 4;
    *blen = len - (size_t)(end + 4 - a);
    return status;
}
