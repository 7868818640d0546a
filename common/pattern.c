/* pattern: glob matching with "*" only, iterative so no input can make it recurse.
 * Shared: comet.fcgi's channel and origin patterns, the worker's archive filter. */
#include "pattern.h"

#include <stddef.h>
#include <string.h>

/* Matches s against p[0..plen): the classic backtrack-to-last-star loop, O(n*m). */
static int match(const char *p, size_t plen, const char *s)
{
    size_t pi = 0, star = (size_t)-1, mark = 0, si = 0;

    while (s[si]) {
        if (pi < plen && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < plen && p[pi] == s[si]) {
            pi++;
            si++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

int pattern_match(const char *p, const char *s)
{
    return match(p, strlen(p), s);
}

int pattern_list_match(const char *list, const char *s)
{
    while (list && *list) {
        const char *start = list, *end;
        while (*start == ' ')
            start++;
        end = start;
        while (*end && *end != ',')
            end++;
        list = *end ? end + 1 : end;
        while (end > start && end[-1] == ' ')
            end--;
        if (end > start && match(start, (size_t)(end - start), s))
            return 1;
    }
    return 0;
}
