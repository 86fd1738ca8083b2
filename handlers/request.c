/* request.c - what a request decides once: whether it gives WILLNEED hints, and its one
 * hand-off to the prefetch helpers. */
#include "handlers/request.h"

#include <stdio.h>
#include <stdlib.h>

#include "filedata/advice_auto.h"
#include "filedata/prefetch_pool.h"

bool request_willneed(struct request *req, enum access_class c)
{
    struct handler_ctx *ctx = req->ctx;
    if (!req->hints.decided) {
        req->hints.decided = true;
        req->hints.cls = c;
        req->hints.automatic = ctx->policy.automatic[c] && ctx->auto_advice;
        req->hints.willneed = req->hints.automatic ? advice_auto_pick(ctx->auto_advice, c,
                                                                     req->rec.miss_bytes)
                                                   : advice_wants(&ctx->policy, c, ADVICE_WILLNEED);
    }
    return req->hints.willneed;
}

bool request_hand_off(struct request *req, struct mapped_file *m, enum access_class cls,
                      int handler, bool by_read, const struct prefetch_span *spans, size_t n,
                      bool *into_failed)
{
    struct handler_ctx *ctx = req->ctx;
    bool willneed = request_willneed(req, cls);
    req->phase = REQUEST_HANDED_OFF; /* whatever happens next, the next pass serves */
    struct prefetch_job job = {.conn = req->conn, .cls = cls, .willneed = willneed,
                               .by_read = by_read, .handler = handler, .nspans = n,
                               .into_failed = into_failed};
    if (ctx->prefetch && n == 1)
        job.one = spans[0];
    else if (ctx->prefetch && n > 1 && (job.spans = malloc(n * sizeof *job.spans)))
        for (size_t i = 0; i < n; i++)
            job.spans[i] = spans[i];
    if (ctx->prefetch && n && (n == 1 || job.spans)) {
        job.map = file_map_retain(m);
        if (!prefetch_pool_suspend_for(ctx->prefetch, &job))
            return false; /* queue full (into_failed set): serve at once */
        req->log.handed_off_ns = metrics_now_ns();
        if (!req->counted_cold)
            metrics_cold_request(ctx->metrics, (enum metric_handler)handler);
        req->counted_cold = true;
        return true;
    }
    const unsigned char *base = mapped_file_base(m);
    int fd = mapped_file_info(m)->fd;
    for (size_t i = 0; i < n && willneed && (base || by_read); i++) {
        if (by_read)
            advice_willneed_fd(ctx->metrics, cls, fd, spans[i].off, spans[i].len,
                               ctx->prefetch_window);
        else
            advice_willneed(ctx->metrics, cls, base, spans[i].off, spans[i].len,
                            ctx->prefetch_window);
    }
    return false;
}

const char *request_id(struct request *req)
{
    if (!req->log.id[0]) {
        const char *in = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Request-Id");
        if (access_request_id_ok(in))
            snprintf(req->log.id, sizeof req->log.id, "%s", in);
        else
            access_log_new_id(req->ctx->access_log, req->log.id);
    }
    return req->log.id;
}

bool request_read_into(struct request *req, struct mapped_file *m, uint64_t off, uint64_t len,
                       char *into, bool *failed)
{
    struct handler_ctx *ctx = req->ctx;
    if (!ctx->prefetch)
        return false;
    struct prefetch_job job = {.conn = req->conn, .map = file_map_retain(m), .by_read = true,
                               .cls = ACCESS_STREAM, .offload = true, .handler = MH_FILES,
                               .nspans = 1, .one = {off, len, into}, .into_failed = failed};
    return prefetch_pool_suspend_for(ctx->prefetch, &job);
}

void request_read_ahead(struct request *req, struct mapped_file *m, enum access_class cls,
                        uint64_t off, uint64_t len)
{
    struct handler_ctx *ctx = req->ctx;
    if (ctx->prefetch) { /* a full queue drops it: no read-ahead this time */
        struct prefetch_job job = {.map = file_map_retain(m), .cls = cls, .willneed = true,
                                   .handler = MH_FILES, .nspans = 1, .one = {off, len, NULL}};
        prefetch_pool_submit(ctx->prefetch, &job);
        return;
    }
    const unsigned char *base = mapped_file_base(m);
    if (base)
        advice_willneed(ctx->metrics, cls, base, off, len, ctx->prefetch_window);
}

void request_set_resume(struct request *req, enum MHD_Result (*fn)(struct request *, void *),
                        void *state, void (*state_free)(void *))
{
    request_clear_resume(req);
    req->resume.fn = fn;
    req->resume.state = state;
    req->resume.state_free = state_free;
}

void request_clear_resume(struct request *req)
{
    if (req->resume.state_free)
        req->resume.state_free(req->resume.state);
    req->resume.fn = NULL;
    req->resume.state = NULL;
    req->resume.state_free = NULL;
}
