/* writer: `comet-worker --archive`, the archive writer: moves the events that the store
 * script queued in Redis into the SQL archive, and prunes it by age. */
#ifndef COMET_WRITER_H
#define COMET_WRITER_H

#include <signal.h>

#include "config.h"

/* Writes until *stop is set or until_ms (wall clock, 0: never) passes. Returns the exit
 * status: 0. A database or a Redis that is down is waited for, never given up. */
int writer_run(const struct config *cfg, long long until_ms, volatile sig_atomic_t *stop);

/* `comet-worker --archive-init`: applies the schema unless the database has it.
 * Returns the exit status: 0 when the schema is there afterwards, 1 (logged) if not. */
int writer_init(const struct config *cfg);

#endif
