/* status_page: GET /status.html, the live status page, behind the status guard
 * (ops_status_guard). The page is compiled in (build/status_page_html.h, from
 * www/status.html with www/status.js and uPlot inlined by the Makefile), so it needs no
 * path, no web server rule and no file at run time; its numbers come over the status
 * channel, which the worker feeds (worker/status.c). */
#include "status_page.h"

#include <string.h>

#include "buf.h"
#include "ops.h"
#include "query.h"
#include "reply.h"
#include "request.h"
#include "status_page_html.h" /* generated: status_page_html */

/* Not framed by anyone else: frame-ancestors; the key may sit in the page's URL, which
 * no link or subresource request may pass on. */
#define STATUS_PAGE_HEADERS "Content-Security-Policy: frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\n"

int status_page_serve(FCGX_Request *req, const struct config *cfg, const char *cors)
{
    struct query q = {0};
    struct buf out = {0};
    char err[256];
    int ok;

    if (!request_method(req, cors, "GET"))
        return 0;
    /* The key as ?token=, the name the page hands on to comet.js (its token option). */
    if (query_parse(FCGX_GetParam("QUERY_STRING", req->envp), cfg, &q, err, sizeof err) < 0) {
        reply_error(req->out, cors, 400, NULL, "%s", err);
        query_free(&q);
        return 0;
    }
    ok = ops_status_guard(req, cfg, cors, q.token);
    query_free(&q);
    if (!ok)
        return 0;
    request_drain(req);
    reply_head(&out, 200, "text/html; charset=utf-8", 0, cors, STATUS_PAGE_HEADERS);
    buf_append(&out, status_page_html, sizeof status_page_html - 1);
    FCGX_PutStr(out.s, (int)out.len, req->out);
    buf_free(&out);
    return 0;
}
