/* check: the unit tests' one assertion macro and their closing line. Each case
 * counts once; a failed case prints where and why and the run goes on. */
#ifndef COMET_CHECK_H
#define COMET_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (cond) {                                                           \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

/* Prints "unit NAME: N passed, M failed" and returns the exit status. */
static inline int check_done(const char *name)
{
    printf("unit %s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed != 0;
}

#endif
