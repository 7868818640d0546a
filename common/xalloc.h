/* xalloc: allocation that cannot fail. Both binaries are small restartable
 * processes, so running out of memory logs and aborts instead of being handled at
 * every call site. */
#ifndef COMET_XALLOC_H
#define COMET_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
