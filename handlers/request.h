/* request.h - one request's state, from its request line to MHD's completion callback.
 *
 * The router allocates it in MHD's URI log callback (router_uri_log), when the request line
 * has been read, with a copy of the raw query string; the first access-handler call marks it
 * started (in flight, timed); handlers fill in what the metrics need (which handler, the
 * status and body length queued, bytes found cold, records sent), and the completion callback
 * records it (when started) and frees it. A request found cold is handed to the prefetch
 * helpers at most once (request_hand_off()) and goes on where it stopped when they are done
 * (`resume`): path, lookup, preconditions and ranges are never worked out twice.
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
#include "filedata/file_map.h"
#include "metrics/metrics.h"

struct prefetch_span;

enum request_phase {
    REQUEST_LOGGED,     /* request line read: not yet seen by the access handler */
    REQUEST_STARTED,    /* headers complete: in flight, timed */
    REQUEST_HANDED_OFF, /* handed to the prefetch helpers once: from now on it serves at
                           once, whatever the helpers achieved (or the queue was full) */
};

struct request {
    struct handler_ctx *ctx;
    struct MHD_Connection *conn;
    struct conn_slot *slot; /* the connection's (conn_watch.h), or NULL */
    /* tokens, --metrics-auth and CORS as they were when the request started: the connection
     * slot's snapshot, or (no slot) a reference of the request's own (`settings_owned`) */
    const struct live_settings *settings;
    struct live_settings *settings_owned;
    char *query;   /* the bytes after the first '?' of the target, as sent; NULL when none */
    enum request_phase phase;
    bool counted_cold; /* mmapd_cold_requests_total counted it */
    bool streamed;     /* its body is streamed block by block (file_body.c): not a short answer */
    /* Where a request handed to the helpers goes on: set by its handler before it suspends
     * the connection, called by the router instead of the handler when the connection is
     * resumed, with `state` (freed by state_free when the request ends, called or not). */
    struct {
        enum MHD_Result (*fn)(struct request *req, void *state);
        void *state;
        void (*state_free)(void *state);
    } resume;
    struct request_record rec;
    struct {
        bool decided;   /* request_willneed() was asked: the request was found cold */
        bool willneed;  /* ... and gives WILLNEED hints */
        bool automatic; /* ... as advice_auto picked: its cost is reported when it completes */
        bool segmented; /* ... in segments of a long stream instead (file_body.c), each
                           under its own pick: the whole request's cost is not reported */
        enum access_class cls;
    } hints;
    const char *cors_origin; /* Access-Control-Allow-Origin for this request, or NULL */
    /* What the access log needs beyond `rec` (filled only with --access-log) */
    struct {
        int64_t time_ms;          /* Unix time when the request line was read */
        uint64_t line_ns;         /* metrics_now_ns() then */
        char *target;             /* the target as received, its first ACCESS_TARGET_MAX
                                     bytes (in the request's allocation) */
        size_t target_len;
        bool target_cut;
        char method[24];          /* the first bytes of the method, "" until known */
        size_t method_len;
        bool method_cut;
        char version[12];         /* "HTTP/1.1" */
        bool has_file;            /* a file was looked up: file_size is its size */
        uint64_t file_size;
        unsigned ranges;          /* ranges served, 0: whole file or none */
        uint64_t handed_off_ns;   /* when it was suspended for the helpers, 0: not waiting */
        uint64_t prefetch_wait_ns;
        char id[ACCESS_LOG_ID_LEN > ACCESS_ID_MAX + 1 ? ACCESS_LOG_ID_LEN : ACCESS_ID_MAX + 1];
    } log;
};

/* The request id (X-Request-Id): the client's when well formed, else one made here; fixed
 * on first use. Only with --access-log. */
const char *request_id(struct request *req);

/* The file the request is about (its size goes to the access log). */
static inline void request_file(struct request *req, uint64_t size)
{
    req->log.has_file = true;
    req->log.file_size = size;
}

bool request_willneed(struct request *req, enum access_class c);

/* Hands the cold spans of `m` (its reference stays the caller's) to the prefetch helpers:
 * WILLNEED over them as request_willneed(req, cls) decides, then the pages read in (`by_read`:
 * through the descriptor, or into each span's `into`), while the connection is suspended.
 * True when a helper took them: the connection resumes once they are in (or their deadline
 * passed), counted once per request as cold for `handler`; `*into_failed` (when given) is
 * the flag the helper sets when a span with `into` was not read whole. False when the caller
 * serves now: no helpers (the hints were given here) or their queue was full. Either way the
 * request is REQUEST_HANDED_OFF afterwards. */
bool request_hand_off(struct request *req, struct mapped_file *m, enum access_class cls,
                      int handler, bool by_read, const struct prefetch_span *spans, size_t n,
                      bool *into_failed);

/* Suspends the connection and has a helper read [off, off+len) of `m`'s file into `into` (a
 * block of a streamed body), then resume it: no hints, no cold request counted, and
 * `*failed` set when the block was not read whole. False when there is no helper or their
 * queue is full: the caller copies the block itself. */
bool request_read_into(struct request *req, struct mapped_file *m, uint64_t off, uint64_t len,
                       char *into, bool *failed);

/* Read-ahead for a body being sent: WILLNEED over [off, off+len) of `m` given by a helper
 * (nobody waits for it; dropped when their queue is full), or here without helpers. */
void request_read_ahead(struct request *req, struct mapped_file *m, enum access_class cls,
                        uint64_t off, uint64_t len);

/* Sets where the request goes on after a hand-off (see `resume`); frees a previous state. */
void request_set_resume(struct request *req, enum MHD_Result (*fn)(struct request *, void *),
                        void *state, void (*state_free)(void *));
/* Frees the resume state, if any (when the request ends). */
void request_clear_resume(struct request *req);

#endif
