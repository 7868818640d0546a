/* args: one Redis command's arguments, built once and sent by either form: blocking
 * (one request per process, the accept threads) or asynchronous (the event loop).
 * Owns the strings it formats; borrows the ones it is given. */
#ifndef COMET_ARGS_H
#define COMET_ARGS_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stddef.h>

#include "config.h"

struct args {
    int argc, cap;
    const char **argv;
    size_t *lens;
    char **owned; /* what args_key/args_num/args_copy formatted, freed by args_free */
    int nowned;
};

/* Appends s[0..len) (borrowed: it must outlive the sending) or the string s. */
void args_add(struct args *a, const char *s, size_t len);
void args_str(struct args *a, const char *s);

/* Appends a copy of s, the key prefix + kind + name, or a number. */
void args_copy(struct args *a, const char *s);
void args_key(struct args *a, const struct config *cfg, const char *kind, const char *name);
void args_num(struct args *a, long long n);

/* Sends a on c and waits for the reply at most timeout_ms (poll(), not the socket
 * timeout). Returns it (caller frees; an error reply too), or NULL with *sent 1 when
 * the command went out whole but no answer came (its outcome is unknown), 0 when it
 * did not go out (nothing happened). c is dead after NULL. */
redisReply *args_call(redisContext *c, const struct args *a, int timeout_ms, int *sent);

/* Runs a on c within timeout_ms, ignoring its answer, and frees a. Returns 0, or -1 on
 * an error (an error reply is logged; after no answer c is dead). */
int args_run(redisContext *c, struct args *a, int timeout_ms);

/* Queues a on ac; fn gets the reply (NULL when the connection failed). Returns 0, or
 * -1 when ac takes no more commands. */
int args_send(redisAsyncContext *ac, const struct args *a, redisCallbackFn *fn, void *priv);

void args_free(struct args *a);

#endif
