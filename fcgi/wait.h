/* wait: what long-poll and SSE share: subscribe to the channels, then read the
 * retained history after a cursor, then hand out new events as they are published,
 * each exactly once and in id order, while watching the client and the stop flag. */
#ifndef COMET_WAIT_H
#define COMET_WAIT_H

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stddef.h>

#include "config.h"
#include "cursor.h"

/* Set by the signal handler: every wait returns WAIT_STOP as soon as it sees it. */
extern volatile sig_atomic_t wait_stopping;

enum wait_status {
    WAIT_EVENT,   /* an event is ready */
    WAIT_TIMEOUT, /* the deadline passed with nothing new */
    WAIT_GONE,    /* the web server closed the request: the client left */
    WAIT_STOP,    /* the process is stopping */
    WAIT_ERROR    /* Redis failed */
};

struct waiter;

/* Subscribes to channels on a connection of its own, then reads what cmd's store holds
 * after *since (NULL: only events published from now on), and counts itself as name
 * (see wait_name) among the waiting requests until wait_close or until_ms (wall
 * clock). client_fd is the FastCGI connection, watched for hang-up; its stdin must
 * have been read to EOF. addr, when not NULL, is the client address whose waiting set
 * already holds name (request_admit): wait_close takes it out. addr is borrowed for
 * the waiter's life. Returns a new waiter, or NULL when Redis failed (cmd may then be
 * dead; name is then out of addr's set). */
struct waiter *wait_open(const struct config *cfg, redisContext *cmd, char *const *channels,
                         size_t n, const struct cursor *since, int client_fd, long long until_ms,
                         const char *name, const char *addr);

#define WAIT_NAME_MAX 128

/* Writes a name unique across nodes, processes and requests into buf (at least
 * WAIT_NAME_MAX bytes), for the store's waiting sets. Thread-safe. */
void wait_name(char *buf, size_t len);

/* 1 when events after the starting cursor may have been trimmed away. */
int wait_truncated(const struct waiter *w);

/* The cursor a client should resume from: the last event handed out, or the
 * starting point once everything retained has been handed out. */
struct cursor wait_cursor(const struct waiter *w);

/* Waits until deadline_ms (monotonic; a past deadline only takes what is ready).
 * On WAIT_EVENT, env and len hold the envelope, valid until the next call. */
enum wait_status wait_next(struct waiter *w, long long deadline_ms, const char **env, size_t *len);

/* Closes the subscription, leaves the waiting set and frees w. */
void wait_close(struct waiter *w);

/* Monotonic milliseconds, the clock of deadlines. */
long long wait_clock_ms(void);

#endif
