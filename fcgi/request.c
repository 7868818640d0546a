/* request: request-level plumbing shared by the handlers. */
#include "request.h"

#include <stdio.h>
#include <string.h>

#include "reply.h"

void request_endpoint(FCGX_Request *req, char *buf, size_t len)
{
    const char *uri = FCGX_GetParam("REQUEST_URI", req->envp);
    const char *end, *start;

    if (!uri)
        uri = FCGX_GetParam("SCRIPT_NAME", req->envp);
    if (!uri)
        uri = "";
    end = uri + strcspn(uri, "?");
    start = end;
    while (start > uri && start[-1] != '/')
        start--;
    snprintf(buf, len, "%.*s", (int)(end - start), start);
}

int request_method(FCGX_Request *req, const char *method)
{
    const char *m = FCGX_GetParam("REQUEST_METHOD", req->envp);
    char allow[32];

    if (m && strcmp(m, method) == 0)
        return 1;
    snprintf(allow, sizeof allow, "Allow: %s\r\n", method);
    reply_error(req->out, 405, allow, "use %s here", method);
    return 0;
}

void request_drain(FCGX_Request *req)
{
    char buf[4096];

    while (FCGX_GetStr(buf, sizeof buf, req->in) > 0)
        ;
}

int request_subscribe(FCGX_Request *req, const struct config *cfg, struct query *q)
{
    char err[256];

    if (query_parse(FCGX_GetParam("QUERY_STRING", req->envp), (size_t)cfg->max_channels, q, err,
                    sizeof err) < 0) {
        reply_error(req->out, 400, NULL, "%s", err);
        return -1;
    }
    if (q->nchannels == 0) {
        reply_error(req->out, 400, NULL, "channel: at least one channel is required");
        return -1;
    }
    return 0;
}
