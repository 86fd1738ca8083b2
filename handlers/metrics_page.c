/* metrics_page.c - render the metrics with the gauges owned by the handlers. */
#include "handlers/metrics_page.h"

#include <stdlib.h>

#include "handlers/reply.h"
#include "handlers/sample_lookahead.h"

enum MHD_Result metrics_page(struct request *req)
{
    struct handler_ctx *ctx = req->ctx;
    struct metrics_inputs in = {
        .in_flight = atomic_load_explicit(&ctx->in_flight, memory_order_relaxed),
        .connections_open = admission_open(ctx->admission),
    };
    struct file_map_counts fc;
    file_map_counts(ctx->maps, &fc);
    in.mapped_files = fc.mapped_files;
    in.mapped_bytes = fc.mapped_bytes;
    in.open_files = fc.open_files;
    in.file_cache_entries = fc.cached;
    in.file_cache_capacity = fc.capacity;
    struct access_log_counts al;
    access_log_counts(ctx->access_log, &al);
    in.access_log_lines = al.lines;
    in.access_log_write_failures = al.write_failures;
    in.access_log_dropped = al.dropped;
    struct sample_lookahead_stats la;
    sample_lookahead_stats(ctx->lookahead, &la);
    in.lookahead.pages = la.pages;
    in.lookahead.bytes = la.bytes;
    in.lookahead.hits = la.hits;
    in.lookahead.late = la.late;
    in.lookahead.wasted_pages = la.wasted_pages;
    in.lookahead.wasted_bytes = la.wasted_bytes;
    in.lookahead.dropped_busy = la.dropped_busy;
    in.lookahead.dropped_budget = la.dropped_budget;
    in.lookahead.outstanding_bytes = la.outstanding_bytes;
    for (int c = 0; c < ACCESS_CLASS_COUNT && ctx->auto_advice; c++) {
        struct advice_auto_state st;
        advice_auto_read(ctx->auto_advice, (enum access_class)c, &st);
        in.advice_auto[c].used = ctx->policy.automatic[c];
        for (int w = 0; w < 2; w++) {
            in.advice_auto[c].cost_ns[w] = st.cost[w];
            in.advice_auto[c].costs[w] = st.costs[w];
        }
        in.advice_auto[c].serving = st.serving;
        in.advice_auto[c].changes = st.changes;
    }
    const char *accept = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_ACCEPT);
    enum exposition_format fmt = exposition_negotiate(accept);
    size_t len = 0;
    char *text = metrics_render(ctx->metrics, &in, fmt, &len);
    if (!text)
        return reply_status(req, 500);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                exposition_content_type(fmt)) != MHD_YES) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return reply_queue(req, 200, r, len);
}
