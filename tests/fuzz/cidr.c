/* Fuzz target: address lists (cidr.c). The input is split at its first NUL into a list
 * and an address; checking and matching must not crash, and a list that checks as
 * valid must match each address it names by itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *list = malloc(size + 1), err[256];
    const char *addr;
    size_t n;

    memcpy(list, data, size);
    list[size] = 0;
    n = strlen(list);
    addr = n < size ? list + n + 1 : "127.0.0.1";
    cidr_list_match(list, addr);
    /* A single valid bare address (no prefix) always covers itself. */
    if (cidr_list_check(list, err, sizeof err) == 0 && !strchr(list, ',') && !strchr(list, '/') &&
        !strchr(list, ' ') && !strchr(list, '\t') && *list && !cidr_list_match(list, list))
        abort();
    free(list);
    return 0;
}
