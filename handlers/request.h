/* request.h - one request's state, from its request line to MHD's completion callback.
 *
 * The router allocates it in MHD's URI log callback (router_uri_log), when the request line
 * has been read, with a copy of the raw query string; the first access-handler call marks it
 * started (in flight, timed); handlers fill in what the metrics need (which handler, the
 * status and body length queued, bytes found cold, records sent), and the completion callback
 * records it (when started) and frees it.
 *
 * request_willneed() decides, once per request and only for one found cold, whether it gives
 * WILLNEED hints: its class's fixed policy, or under `auto` the arm advice_auto picks (whose
 * cost router_completed() then reports).
 */
#ifndef MMAPD_REQUEST_H
#define MMAPD_REQUEST_H

#include <microhttpd.h>
#include <stdbool.h>

#include "handlers/handler_ctx.h"
#include "metrics/metrics.h"

struct file_body;

struct request {
    struct handler_ctx *ctx;
    struct MHD_Connection *conn;
    struct conn_slot *slot; /* the connection's (conn_watch.h), or NULL */
    char *query;   /* the bytes after the first '?' of the target, as sent; NULL when none */
    bool started;  /* the access handler has seen it: counted in flight, recorded at the end */
    bool resumed;  /* handed to the prefetch helpers once: the next pass serves at once */
    bool retry;    /* /files: the copy failed before anything was sent; look the file up again */
    bool retried;  /* ... which happened once already */
    struct file_body *pending; /* /files: a body a helper reads into while the connection is
                                  suspended (file_body_fill_spans()); freed with the request */
    bool sample_seeded;   /* sample_seed holds the seed /sample picked on the first pass */
    uint64_t sample_seed;
    struct request_record rec;
    struct {
        bool decided;   /* request_willneed() was asked: the request was found cold */
        bool willneed;  /* ... and gives WILLNEED hints */
        bool automatic; /* ... as advice_auto picked: its cost is reported when it completes */
        enum access_class cls;
    } hints;
    const char *cors_origin; /* Access-Control-Allow-Origin for this request, or NULL */
};

bool request_willneed(struct request *req, enum access_class c);

#endif
