/* record: FastCGI records for a request that has left libfcgi. In external mode a
 * waiting request is detached from its FCGX_Request (whose buffers cost 16 KiB) and
 * the event loop writes its response as raw records. Pure: records go into a frame. */
#ifndef COMET_RECORD_H
#define COMET_RECORD_H

#include <stddef.h>

#include "frame.h"

/* Appends data as FCGI_STDOUT records of request id (split at 65535 bytes); nothing
 * for len 0, since an empty STDOUT record ends the stream. */
void record_stdout(struct frame *f, int id, const char *data, size_t len);

/* Appends what ends request id: the empty FCGI_STDOUT record and FCGI_END_REQUEST
 * (application status 0, request complete). */
void record_end(struct frame *f, int id);

#endif
