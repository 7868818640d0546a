/* proc: what is true of the whole comet.fcgi process rather than of one request:
 * whether it is stopping, and names unique across nodes, processes and requests. */
#ifndef COMET_PROC_H
#define COMET_PROC_H

#include <signal.h>
#include <stddef.h>

/* Set once the process should stop (a signal): every wait ends as soon as it sees it. */
extern volatile sig_atomic_t proc_stopping;

#define PROC_NAME_MAX 128

/* Writes a name unique across nodes, processes and requests into buf (at least
 * PROC_NAME_MAX bytes), for the store's waiting sets. Thread-safe. */
void proc_name(char *buf, size_t len);

#endif
