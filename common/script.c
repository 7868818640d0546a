/* script: EVALSHA with the load-and-retry that NOSCRIPT asks for. */
#include "script.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "redis.h"

int script_load(redisContext *c, struct script *s)
{
    redisReply *r = redis_ok(c, 3, (const char *[]){"SCRIPT", "LOAD", s->src}, NULL);

    if (!r)
        return -1;
    snprintf(s->sha, sizeof s->sha, "%s", r->str);
    freeReplyObject(r);
    return 0;
}

/* Notes a SCRIPT LOAD's answer in the script (priv). */
static void script_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
    const redisReply *r = reply;
    struct script *s = priv;

    (void)ac;
    if (r && r->type == REDIS_REPLY_STRING && r->len == sizeof s->sha - 1)
        memcpy(s->sha, r->str, sizeof s->sha);
}

void script_load_async(redisAsyncContext *ac, struct script *s)
{
    redisAsyncCommand(ac, script_loaded, s, "SCRIPT LOAD %s", s->src);
}

redisReply *script_eval(redisContext *c, struct script *s, int argc, const char **argv, size_t *lens)
{
    redisReply *r = NULL;

    argv[0] = "EVALSHA";
    argv[1] = s->sha;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s->sha[0]) {
            if (lens) {
                lens[0] = 7;
                lens[1] = strlen(s->sha);
            }
            r = redis_cmd(c, argc, argv, lens);
            if (!r || r->type != REDIS_REPLY_ERROR || strncmp(r->str, "NOSCRIPT", 8) != 0)
                return r;
            freeReplyObject(r);
        }
        if (script_load(c, s) < 0)
            return NULL;
    }
    return NULL;
}

redisReply *script_eval_ok(redisContext *c, struct script *s, int argc, const char **argv, size_t *lens)
{
    redisReply *r = script_eval(c, s, argc, argv, lens);

    if (r && r->type == REDIS_REPLY_ERROR) {
        log_warn("script: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

void script_forget(struct script *s)
{
    s->sha[0] = 0;
}
