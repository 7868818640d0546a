/* longpoll: GET /poll, one JSON answer per request. */
#ifndef COMET_LONGPOLL_H
#define COMET_LONGPOLL_H

#include <fcgiapp.h>

#include "config.h"

void longpoll_handle(FCGX_Request *req, const struct config *cfg);

#endif
