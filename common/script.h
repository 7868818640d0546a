/* script: Lua scripts run by their SHA-1 (EVALSHA), loaded on first use and again
 * after Redis forgot them (a restart, SCRIPT FLUSH). The store's scripts are
 * static struct script objects; what they do is store*.c's business. */
#ifndef COMET_SCRIPT_H
#define COMET_SCRIPT_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stddef.h>

struct script {
    const char *src;
    char sha[41]; /* "" until loaded */
};

/* Loads s into Redis and notes its sha. Returns 0, or -1 (logged). */
int script_load(redisContext *c, struct script *s);

/* EVALSHA argv[0..argc): argv[0] and [1] (and their lens when lens is not NULL) are
 * filled here. Returns the reply (caller frees; an error reply other than NOSCRIPT is
 * returned as such), or NULL on an I/O error (c is then dead). */
redisReply *script_eval(redisContext *c, struct script *s, int argc, const char **argv, size_t *lens);

/* script_eval that also turns an error reply into NULL, logging it. */
redisReply *script_eval_ok(redisContext *c, struct script *s, int argc, const char **argv, size_t *lens);

/* Queues SCRIPT LOAD of s on ac; its answer sets s->sha. For an event loop's connection,
 * ahead of any use of s on it: EVALSHA after it on the same connection finds the script. */
void script_load_async(redisAsyncContext *ac, struct script *s);

/* Forgets the sha after a pipelined caller met NOSCRIPT: the next use loads it again. */
void script_forget(struct script *s);

#endif
