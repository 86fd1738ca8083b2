/* files.c - the /files handler: validators, conditionals, ranges, bodies. */
#include "handlers/files.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "filedata/file_lookup.h"
#include "filedata/prefetch_pool.h"
#include "filedata/residency.h"
#include "handlers/file_body.h"
#include "handlers/multipart.h"
#include "handlers/reply.h"
#include "http/conditional.h"
#include "http/range.h"
#include "http/url_path.h"

static const char *header(struct request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* The file's validators as of now. RFC 9110 8.8.2.1: a modification time in the future is
 * replaced by now. */
static struct validators validators_of(const struct file_info *fi)
{
    time_t now = time(NULL);
    return (struct validators){fi->etag, fi->mtime <= now ? fi->mtime : now, now};
}

/* Validators every 200/206/304 carries; false when MHD ran out of memory. */
static bool add_validators(struct MHD_Response *r, const struct file_info *fi)
{
    struct validators v = validators_of(fi);
    char future[HTTP_DATE_LEN];
    const char *lm = fi->last_modified;
    if (v.last_modified != fi->mtime) {
        http_date_format(v.last_modified, future);
        lm = future;
    }
    return MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, fi->etag) == MHD_YES &&
           MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, lm) == MHD_YES;
}

static bool add_body_headers(struct MHD_Response *r, const struct file_info *fi,
                             const char *content_type)
{
    return add_validators(r, fi) &&
           MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes") == MHD_YES &&
           MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) == MHD_YES;
}

/* 304: validators and no body. The response is the whole file, which MHD never sends for a
 * 304, so that Content-Length is the 200's length as RFC 9110 8.6 requires (MHD always
 * writes one). Consumes the mapping reference. */
static enum MHD_Result send_not_modified(struct request *req, struct mapped_file *m)
{
    const struct file_info *fi = mapped_file_info(m);
    struct MHD_Response *r = file_body_headers_only(fi->size);
    if (r && !add_validators(r, fi)) {
        MHD_destroy_response(r);
        r = NULL;
    }
    file_map_release(m);
    return reply_queue(req, MHD_HTTP_NOT_MODIFIED, r, 0);
}

/* 416 with "Content-Range: bytes * /SIZE". Consumes the mapping reference. */
static enum MHD_Result send_unsatisfiable(struct request *req, struct mapped_file *m)
{
    char cr[48];
    snprintf(cr, sizeof cr, "bytes */%" PRIu64, mapped_file_info(m)->size);
    file_map_release(m);
    uint64_t len = 0;
    struct MHD_Response *r = reply_error_response(MHD_HTTP_RANGE_NOT_SATISFIABLE, &len);
    if (r && (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr) != MHD_YES ||
              MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes") != MHD_YES)) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return reply_queue(req, MHD_HTTP_RANGE_NOT_SATISFIABLE, r, len);
}

/* Adds the 200/206 headers and queues `r` (a body of `len` bytes); NULL `r` closes the
 * connection. */
static enum MHD_Result queue_body(struct request *req, unsigned status,
                                  struct MHD_Response *r, uint64_t len,
                                  const struct file_info *fi, const char *content_type,
                                  const char *content_range)
{
    if (r && (!add_body_headers(r, fi, content_type) ||
              (content_range && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE,
                                                        content_range) != MHD_YES))) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return reply_queue(req, status, r, len);
}

/* Hands the request's spans to the prefetch helpers when some of their first windows are
 * cold (counted as miss bytes): the connection is suspended, and the handler runs again once
 * the start of each span is in (the request is then marked resumed and serves at once; a long
 * body's reader looks after the rest of a span). True when a helper took it. `known_cold`: a
 * page-cache-only read just failed, so the spans go to the helpers whatever the count says
 * (that read started the kernel's read-ahead, whose pages count as cached while in flight;
 * mincore alone counts them, as not yet there). `b`: that body read at once, which the helper
 * then reads straight into its buffer (kept in req->pending while the connection is
 * suspended). Without helpers (or with their queue full), the WILLNEED hints are given here
 * and false says to serve now. */
static bool hand_cold_spans(struct request *req, const struct byte_range *spans, size_t n,
                            struct mapped_file *m, bool known_cold, struct file_body *b)
{
    struct handler_ctx *ctx = req->ctx;
    const struct file_info *fi = mapped_file_info(m);
    const unsigned char *base = mapped_file_base(m);
    /* a body that a page-cache-only read found cold is one read at once */
    enum access_class cls = known_cold ? ACCESS_RANGE : ACCESS_STREAM;
    uint64_t missing = 0;
    for (size_t i = 0; i < n && base; i++)
        missing += residency_missing(base, known_cold ? -1 : fi->fd, spans[i].first,
                                     range_length(&spans[i]), ctx->prefetch_window);
    req->rec.miss_bytes += missing;
    req->resumed = true; /* whatever happens next, the next pass serves */
    if ((!missing && !known_cold) || !base)
        return false;
    bool willneed = request_willneed(req, cls);
    size_t room = b ? file_body_pieces(b) : n;
    struct prefetch_span *sp = ctx->prefetch ? malloc((room ? room : 1) * sizeof *sp) : NULL;
    if (sp) {
        struct prefetch_job job = {.conn = req->conn, .map = file_map_retain(m),
                                   .by_read = known_cold, .cls = cls, .willneed = willneed,
                                   .handler = MH_FILES, .nspans = n, .spans = sp};
        size_t filled = b ? file_body_fill_spans(b, sp, &job.into_failed) : 0;
        if (filled)
            job.nspans = filled;
        else
            for (size_t i = 0; i < n; i++)
                sp[i] = (struct prefetch_span){spans[i].first, range_length(&spans[i]), NULL};
        if (prefetch_pool_suspend_for(ctx->prefetch, &job)) {
            metrics_cold_request(ctx->metrics, MH_FILES);
            if (filled)
                req->pending = b;
            return true;
        }
        return false; /* queue full: serve at once */
    }
    for (size_t i = 0; i < n && willneed; i++)
        advice_willneed(ctx->metrics, cls, base, spans[i].first, range_length(&spans[i]),
                        ctx->prefetch_window);
    return false;
}

/* The residency check of a body that is streamed or sent from the mapping, on the first pass
 * of a GET: such a body is not read at once, so its first windows are looked at before the
 * response is made (a body read at once finds out by reading: file_body_response()). */
static bool streamed_body_cold(struct request *req, const struct file_info *fi,
                               const struct byte_range *spans, size_t n, struct mapped_file *m)
{
    struct handler_ctx *ctx = req->ctx;
    bool hint = advice_may_willneed(&ctx->policy, ACCESS_STREAM);
    if (req->resumed || req->rec.method == MM_HEAD || fi->size == 0 ||
        (!hint && !ctx->prefetch && metrics_level(ctx->metrics) != INSTRUMENT_FULL))
        return false;
    return hand_cold_spans(req, spans, n, m, false, NULL);
}

/* Range outcomes count once per request, not again when it resumes after a prefetch or is
 * looked up again after a failed copy. */
static void count_range(struct request *req, enum metric_range kind)
{
    if (!req->resumed && !req->retried)
        metrics_range(req->ctx->metrics, kind);
}

/* Queues `b` as the 200/206 body, once the helpers made the start of its spans resident when
 * it was cold (a long body's reader brings in the rest block by block as it is sent).
 * Consumes the caller's reference `m` (kept until the headers are added) and `b`; a NULL `b`
 * (out of memory) closes the connection. */
static enum MHD_Result send_body(struct request *req, unsigned status, struct mapped_file *m,
                                 struct file_body *b, const struct byte_range *spans, size_t n,
                                 const char *content_type, const char *content_range)
{
    const struct file_info *fi = mapped_file_info(m);
    enum MHD_Result ret = MHD_YES;
    enum body_result res = BODY_FAILED;
    struct MHD_Response *r = NULL;
    uint64_t len = b ? file_body_length(b) : 0;
    if (req->pending) { /* resumed: the body a helper read, if it is of this file as it is */
        struct file_body *p = req->pending;
        req->pending = NULL;
        if (b && file_body_length(p) == len && mapped_file_same_version(file_body_map(p), m)) {
            file_body_free(b);
            b = p;
        } else {
            file_body_free(p);
        }
    }
    if (b && !file_body_copied(b, req) && streamed_body_cold(req, fi, spans, n, m)) {
        file_body_free(b);
        goto done;
    }
    if (b)
        r = file_body_response(b, req, &res);
    if (res == BODY_COLD && hand_cold_spans(req, spans, n, m, true, b)) {
        if (req->pending != b)
            file_body_free(b);
        goto done;
    }
    if (res == BODY_COLD) /* no helper took it: read it here (resumed, so waiting) */
        r = file_body_response(b, req, &res);
    if (res == BODY_CHANGED && !req->retried) {
        /* the file changed under the read: files_handle looks again, past this entry (the
         * watcher thread may not have taken in the change's event yet) */
        file_map_drop(req->ctx->maps, m);
        req->retry = true;
        goto done;
    }
    ret = queue_body(req, status, r, len, fi, content_type, content_range);
done:
    file_map_release(m);
    return ret;
}

/* 200 with the whole file. Consumes the mapping reference. */
static enum MHD_Result send_whole(struct request *req, struct mapped_file *m)
{
    const struct file_info *fi = mapped_file_info(m);
    struct byte_range all = {0, fi->size ? fi->size - 1 : 0};
    struct file_body *b = file_body_new(file_map_retain(m));
    if (b)
        file_body_span(b, 0, fi->size);
    return send_body(req, MHD_HTTP_OK, m, b, &all, 1, fi->content_type, NULL);
}

/* 206 with one range. Consumes the mapping reference. */
static enum MHD_Result send_range(struct request *req, struct mapped_file *m,
                                  const struct byte_range *span)
{
    const struct file_info *fi = mapped_file_info(m);
    char cr[80];
    snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, span->first, span->last,
             fi->size);
    struct file_body *b = file_body_new(file_map_retain(m));
    if (b)
        file_body_span(b, span->first, range_length(span));
    return send_body(req, MHD_HTTP_PARTIAL_CONTENT, m, b, span, 1, fi->content_type, cr);
}

/* 206 multipart/byteranges. Consumes the mapping reference. */
static enum MHD_Result send_multipart(struct request *req, struct mapped_file *m,
                                      const struct byte_range *r, size_t n)
{
    char content_type[MULTIPART_CONTENT_TYPE_LEN];
    struct file_body *b = multipart_body(file_map_retain(m), r, n, content_type);
    return send_body(req, MHD_HTTP_PARTIAL_CONTENT, m, b, r, n, content_type, NULL);
}

/* Decides the shape of a 2xx answer from Range and If-Range. Consumes the reference. */
static enum MHD_Result serve(struct request *req, struct mapped_file *m)
{
    struct handler_ctx *ctx = req->ctx;
    const struct file_info *fi = mapped_file_info(m);
    const char *range = header(req, MHD_HTTP_HEADER_RANGE);
    const char *if_range = header(req, MHD_HTTP_HEADER_IF_RANGE);
    struct validators v = validators_of(fi);

    if (!range)
        return send_whole(req, m);
    if (if_range && !conditional_if_range(if_range, &v)) {
        count_range(req, MR_IGNORED);
        return send_whole(req, m);
    }

    /* on the stack (16 KiB at most): a malloc of this size would make glibc consolidate its
     * free lists on every request */
    struct byte_range ranges[RANGE_SLOTS(MULTIPART_MAX_PARTS)];
    size_t n = 0;
    enum MHD_Result ret;
    size_t max = ctx->max_ranges < MULTIPART_MAX_PARTS ? ctx->max_ranges : MULTIPART_MAX_PARTS;
    switch (range_parse(range, fi->size, max, ranges, &n)) {
    case RANGE_IGNORED:
    case RANGE_WHOLE: /* more than --max-ranges, covering at least half the file */
        count_range(req, MR_IGNORED);
        ret = send_whole(req, m);
        break;
    case RANGE_UNSATISFIABLE:
    case RANGE_TOO_MANY:
        count_range(req, MR_UNSATISFIABLE);
        ret = send_unsatisfiable(req, m);
        break;
    case RANGE_OK: /* sorted, overlapping and adjacent ranges merged */
    default:
        count_range(req, n == 1 ? MR_SINGLE : MR_MULTI);
        ret = n == 1 ? send_range(req, m, &ranges[0]) : send_multipart(req, m, ranges, n);
        break;
    }
    return ret;
}

/* 301 to "/files/RAW/" (with the query as sent): a directory named without its trailing
 * slash, as nginx does. */
static enum MHD_Result redirect_to_directory(struct request *req, const char *raw_path)
{
    struct strbuf loc = {0};
    strbuf_printf(&loc, "/files/%s/%s%s", raw_path, req->query ? "?" : "",
                  req->query ? req->query : "");
    char *location = strbuf_take(&loc, NULL);
    uint64_t len = 0;
    struct MHD_Response *r = location ? reply_error_response(301, &len) : NULL;
    if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    free(location);
    return reply_queue(req, 301, r, len);
}

/* The request, answered from the file's mapping as looked up now. */
static enum MHD_Result handle(struct request *req, const char *raw_path)
{
    struct handler_ctx *ctx = req->ctx;
    char rel[PATH_MAX];
    unsigned status = url_path_http_status(url_path_decode(raw_path, ctx->allow_dotfiles, rel,
                                                           sizeof rel));
    if (status)
        return reply_status(req, status);

    struct mapped_file *m;
    unsigned status_open =
        file_lookup(ctx->root_fd, ctx->maps, ctx->paths, ctx->metrics, rel, ACCESS_STREAM, &m);
    if (status_open == 301)
        return redirect_to_directory(req, raw_path);
    if (status_open)
        return reply_status(req, status_open);

    const struct file_info *fi = mapped_file_info(m);
    struct preconditions pre = {
        .if_match = header(req, MHD_HTTP_HEADER_IF_MATCH),
        .if_none_match = header(req, MHD_HTTP_HEADER_IF_NONE_MATCH),
        .if_modified_since = header(req, MHD_HTTP_HEADER_IF_MODIFIED_SINCE),
        .if_unmodified_since = header(req, MHD_HTTP_HEADER_IF_UNMODIFIED_SINCE),
    };
    struct validators v = validators_of(fi);
    switch (conditional_evaluate(&pre, &v)) {
    case COND_PRECONDITION_FAILED:
        file_map_release(m);
        return reply_status(req, MHD_HTTP_PRECONDITION_FAILED);
    case COND_NOT_MODIFIED:
        return send_not_modified(req, m);
    case COND_PROCEED:
    default:
        return serve(req, m);
    }
}

enum MHD_Result files_handle(struct request *req, const char *raw_path)
{
    enum MHD_Result ret = handle(req, raw_path);
    if (req->retry) { /* once: a second failure closes the connection */
        req->retry = false;
        req->retried = true;
        ret = handle(req, raw_path);
    }
    return ret;
}
