/* Fuzz target: the settings file's syntax (envfile_next). Every entry must lie inside
 * the text, its key must be a valid name followed by "=", its value must hold no
 * newline, NUL or backslash, and the line numbers must grow; a refusal must say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const char *s, size_t size, const struct envfile_entry *e)
{
    if (e->key < s || e->key + e->keylen > s + size || e->value < s || e->value + e->valuelen > s + size)
        abort();
    if (e->keylen == 0 || (e->key[0] >= '0' && e->key[0] <= '9'))
        abort();
    for (size_t i = 0; i < e->keylen; i++)
        if (!(e->key[i] == '_' || (e->key[i] >= '0' && e->key[i] <= '9') || (e->key[i] >= 'A' && e->key[i] <= 'Z') ||
              (e->key[i] >= 'a' && e->key[i] <= 'z')))
            abort();
    if (memchr(e->value, '\n', e->valuelen) || memchr(e->value, 0, e->valuelen) ||
        memchr(e->value, '\\', e->valuelen))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct envfile f = {0};
    struct envfile_entry e;
    int rc, last = 0;

    while ((rc = envfile_next(&f, s, size, &e)) == 1) {
        check_entry(s, size, &e);
        if (e.line <= last)
            abort();
        last = e.line;
    }
    if (rc < 0 && (!f.errstr || !*f.errstr || f.line <= 0))
        abort();
    return 0;
}
