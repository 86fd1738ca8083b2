/* request.h - one request's state, from the first handler call to MHD's completion callback.
 *
 * The router allocates it on the first call, handlers fill in what the metrics need (which
 * handler, the status and body length queued, bytes found cold), and the completion callback
 * records it and frees it.
 */
#ifndef MMAPD_REQUEST_H
#define MMAPD_REQUEST_H

#include <microhttpd.h>

#include "handlers/handler_ctx.h"
#include "metrics/metrics.h"

struct request {
    struct handler_ctx *ctx;
    struct MHD_Connection *conn;
    struct request_record rec;
};

#endif
