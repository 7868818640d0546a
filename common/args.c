/* args: growable argv/lens arrays and the strings they own. */
#include "args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis.h"
#include "store.h"
#include "xalloc.h"

void args_add(struct args *a, const char *s, size_t len)
{
    if (a->argc == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->argv = xrealloc(a->argv, (size_t)a->cap * sizeof *a->argv);
        a->lens = xrealloc(a->lens, (size_t)a->cap * sizeof *a->lens);
    }
    a->argv[a->argc] = s;
    a->lens[a->argc++] = len;
}

void args_str(struct args *a, const char *s)
{
    args_add(a, s, strlen(s));
}

/* Takes s (malloc'd) as an argument the args own. */
static void args_take(struct args *a, char *s)
{
    a->owned = xrealloc(a->owned, (size_t)(a->nowned + 1) * sizeof *a->owned);
    a->owned[a->nowned++] = s;
    args_str(a, s);
}

void args_copy(struct args *a, const char *s)
{
    args_take(a, xstrdup(s));
}

void args_key(struct args *a, const struct config *cfg, const char *kind, const char *name)
{
    char *key = xmalloc(STORE_KEY_MAX);

    store_key(cfg, kind, name, key);
    args_take(a, key);
}

void args_num(struct args *a, long long n)
{
    char *s = xmalloc(24);

    snprintf(s, 24, "%lld", n);
    args_take(a, s);
}

redisReply *args_call(redisContext *c, const struct args *a, int timeout_ms, int *sent)
{
    return redis_cmd_within(c, a->argc, a->argv, a->lens, timeout_ms, sent);
}

int args_send(redisAsyncContext *ac, const struct args *a, redisCallbackFn *fn, void *priv)
{
    return redisAsyncCommandArgv(ac, fn, priv, a->argc, a->argv, a->lens) == REDIS_OK ? 0 : -1;
}

void args_free(struct args *a)
{
    for (int i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->argv);
    free(a->lens);
    memset(a, 0, sizeof *a);
}

int args_run(redisContext *c, struct args *a, int timeout_ms)
{
    int sent;
    redisReply *r = args_call(c, a, timeout_ms, &sent);
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;

    if (r && rc < 0)
        log_warn("redis %s: %s", a->argv[0], r->str);
    if (r)
        freeReplyObject(r);
    args_free(a);
    return rc;
}
