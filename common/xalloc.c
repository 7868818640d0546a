/* xalloc: the abort-on-failure wrappers around the C allocator. */
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

static void *check(void *p, size_t n)
{
    if (!p && n) {
        log_error("out of memory allocating %zu bytes", n);
        abort();
    }
    return p;
}

void *xmalloc(size_t n) { return check(malloc(n), n); }
void *xcalloc(size_t n, size_t size) { return check(calloc(n, size), n * size); }
void *xrealloc(void *p, size_t n) { return check(realloc(p, n), n); }
char *xstrdup(const char *s) { return check(strdup(s), strlen(s) + 1); }
