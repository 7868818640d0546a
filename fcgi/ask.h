/* ask: a request answered by one Redis command (/stats, /metrics, /channel,
 * /channels): its arguments built on the thread that read it, its reply turned into
 * the whole answer by the kind's function, in either process model: on the thread's
 * command connection (ask_serve) or in the hub's event loop (hub_ask). */
#ifndef COMET_ASK_H
#define COMET_ASK_H

#include <fcgiapp.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "args.h"
#include "buf.h"
#include "config.h"
#include "envelope.h"

struct ask;

/* Appends the whole answer to reply r (not NULL) to out. Returns 0, or -1 when r is not
 * what the command answers (out untouched): the request then gets the 503. */
typedef int ask_answer_fn(const redisReply *r, const struct ask *k, const char *cors, struct buf *out);

struct ask {
    struct args a;              /* the command (owned) */
    ask_answer_fn *answer;
    const struct config *cfg;
    const char *patterns;       /* the asking key's channel patterns (borrowed from cfg); NULL: any */
    char channel[ENVELOPE_CHANNEL_MAX + 1]; /* the channel asked about, or "" */
    long long sent_ms;          /* clock_ms when the command went out: its round trip */
};

/* A new ask for cfg with answer (ask_free frees it and its args). */
struct ask *ask_new(const struct config *cfg, ask_answer_fn *answer);

/* What most answers are: o (taken; NULL when the reply was not what the command answers)
 * as a 200 JSON answer. Returns 0, or -1 for a NULL o. */
int ask_json(json_t *o, const char *cors, struct buf *out);
void ask_free(struct ask *k);

/* Sends k's command and answers req; takes k. external: the hub does it (returns 1:
 * the caller must not finish req); else on this thread's connection (returns 0). */
int ask_serve(FCGX_Request *req, const struct config *cfg, const char *cors, struct ask *k, int external);

#endif
