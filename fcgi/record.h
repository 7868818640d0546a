/* record: FastCGI records for a request that has left libfcgi. In external mode a
 * waiting request is detached from its FCGX_Request (whose buffers cost 16 KiB) and
 * the event loop writes its response as raw records. Pure: records go into a buf. */
#ifndef COMET_RECORD_H
#define COMET_RECORD_H

#include <stddef.h>

#include "buf.h"

/* Appends data as FCGI_STDOUT records of request id (split at 65535 bytes); nothing
 * for len 0, since an empty STDOUT record ends the stream. */
void record_stdout(struct buf *b, int id, const char *data, size_t len);

/* Wraps in place what is appended to b between the two calls: record_open returns
 * where the records start, record_close turns b[at..) into FCGI_STDOUT records of
 * request id (nothing when nothing was appended). Spares a copy of data written once
 * per waiting request. */
size_t record_open(struct buf *b);
void record_close(struct buf *b, size_t at, int id);

/* Appends what ends request id: the empty FCGI_STDOUT record and FCGI_END_REQUEST
 * (application status 0, request complete). */
void record_end(struct buf *b, int id);

#endif
