/* ws_msg: the client's ops, parsed with jansson. Leaves the publish body's own rules
 * to publish_parse and credentials to auth.c. */
#include "ws_msg.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "publish.h"
#include "xalloc.h"

static int msg_has(const struct ws_msg *m, const char *s)
{
    for (size_t k = 0; k < m->n; k++)
        if (strcmp(m->channels[k], s) == 0)
            return 1;
    return 0;
}

/* Copies the "channels" array of o into m. Returns 0, or -1 with err. */
static int msg_channels(json_t *o, const struct config *cfg, struct ws_msg *m, char *err, size_t errlen)
{
    json_t *a = json_object_get(o, "channels"), *v;
    size_t i;

    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > (size_t)cfg->max_channels) {
        snprintf(err, errlen, "channels: an array of 1 to %d channel names is required", cfg->max_channels);
        return -1;
    }
    m->channels = xcalloc(json_array_size(a), sizeof *m->channels);
    json_array_foreach(a, i, v) {
        const char *s = json_string_value(v);
        size_t len = s ? json_string_length(v) : 0;
        if (!s || len > (size_t)cfg->channel_max || !envelope_channel_valid(s, len)) {
            snprintf(err, errlen, "channels: item %zu is not a channel name", i);
            return -1;
        }
        if (!msg_has(m, s))
            m->channels[m->n++] = xstrdup(s);
    }
    return 0;
}

/* The op of object o into m. Returns 0, or -1 with err. */
static int msg_op(json_t *o, const struct config *cfg, struct ws_msg *m, char *err, size_t errlen)
{
    const char *op = json_string_value(json_object_get(o, "op"));
    json_t *since = json_object_get(o, "since");

    if (op && strcmp(op, "publish") == 0) {
        m->op = WS_PUBLISH;
        json_object_del(o, "op");
        json_object_del(o, "ref");
        m->body = json_dumps(o, JSON_COMPACT);
        return 0;
    }
    if (!op || (strcmp(op, "subscribe") != 0 && strcmp(op, "unsubscribe") != 0)) {
        snprintf(err, errlen, "op: subscribe, unsubscribe or publish");
        return -1;
    }
    m->op = op[0] == 's' ? WS_SUBSCRIBE : WS_UNSUBSCRIBE;
    if (since && (m->op != WS_SUBSCRIBE || !json_is_string(since))) {
        snprintf(err, errlen, "since: a cursor string, with subscribe only");
        return -1;
    }
    if (since)
        m->since = xstrdup(json_string_value(since));
    return msg_channels(o, cfg, m, err, errlen);
}

int ws_msg_parse(const char *text, size_t len, const struct config *cfg, struct ws_msg *m, char *err,
                 size_t errlen)
{
    json_t *o = NULL, *ref;
    int rc = -1;

    memset(m, 0, sizeof *m);
    if (!publish_depth_ok(text, len, cfg->max_depth)) {
        snprintf(err, errlen, "the message nests arrays and objects deeper than %d levels", cfg->max_depth);
        return -1;
    }
    o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        snprintf(err, errlen, "a message is a JSON object with an op");
        goto fail;
    }
    if ((ref = json_object_get(o, "ref")))
        m->ref = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
    rc = msg_op(o, cfg, m, err, errlen);
fail:
    json_decref(o);
    return rc;
}

void ws_msg_free(struct ws_msg *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->channels[i]);
    free(m->channels);
    free(m->since);
    free(m->ref);
    free(m->body);
    memset(m, 0, sizeof *m);
}
