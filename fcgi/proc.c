/* proc: the stop flag and the name counter. */
#include "proc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

volatile sig_atomic_t proc_stopping;

void proc_name(char *buf, size_t len)
{
    static atomic_ulong seq;
    char host[64] = "";

    gethostname(host, sizeof host - 1);
    snprintf(buf, len, "%.63s:%d:%lu", host, (int)getpid(), atomic_fetch_add(&seq, 1) + 1);
}
