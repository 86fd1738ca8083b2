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

/* The file's validators as of now (a modification time in the future counts as now). */
static struct validators validators_of(const struct file_info *fi)
{
    time_t now = time(NULL);
    char buf[HTTP_DATE_LEN];
    const char *text;
    return (struct validators){fi->etag, file_info_last_modified(fi, now, buf, &text), now};
}

/* Validators every 200/206/304 carries; false when MHD ran out of memory. */
static bool add_validators(struct MHD_Response *r, const struct file_info *fi)
{
    char buf[HTTP_DATE_LEN];
    const char *lm;
    file_info_last_modified(fi, time(NULL), buf, &lm);
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

/* A 200 or 206 under way: what the answer is, kept while a helper brings its pages in. */
struct answer {
    unsigned status;
    struct mapped_file *m;  /* a reference; fi points into it */
    struct file_body *b;
    int attempt;            /* 0, or 1 after the file changed under a read (one retry) */
    char content_type[MULTIPART_CONTENT_TYPE_LEN];
    char content_range[80]; /* "" for none */
    char raw[];             /* the path as sent, to look the file up again */
};

static void answer_free(void *p)
{
    struct answer *a = p;
    if (!a)
        return;
    file_body_free(a->b);
    file_map_release(a->m);
    free(a);
}

static enum MHD_Result handle(struct request *req, const char *raw_path, int attempt);

/* Where the answer comes from: the path as sent, and which look-up this is (0, or 1 after the
 * file changed under a read). */
struct look {
    const char *raw;
    int attempt;
};

/* Queues the response `r` (of `len` bytes; `res` as file_body_response() said), or looks
 * the file up again when it changed under the read. Consumes the answer. */
static enum MHD_Result conclude(struct request *req, struct answer *a, struct MHD_Response *r,
                                enum body_result res, uint64_t len)
{
    enum MHD_Result ret;
    if (res == BODY_CHANGED && a->attempt == 0) {
        /* the file changed under the read: look again, past this entry (the watcher thread
         * may not have taken in the change's event yet); a second failure closes */
        file_map_drop(req->ctx->maps, a->m);
        ret = handle(req, a->raw, 1);
    } else {
        ret = queue_body(req, a->status, r, len, mapped_file_info(a->m), a->content_type,
                         a->content_range[0] ? a->content_range : NULL);
    }
    answer_free(a);
    return ret;
}

/* Sends the answer's body, reading it now if it is still to be read (a request handed off
 * once waits for the disk rather than be handed off again). Consumes the answer. */
static enum MHD_Result finish(struct request *req, struct answer *a)
{
    enum body_result res = BODY_FAILED;
    uint64_t len = a->b ? file_body_length(a->b) : 0;
    struct MHD_Response *r = a->b ? file_body_response(a->b, req, &res) : NULL;
    a->b = NULL; /* taken: BODY_COLD only comes back to a request not yet handed off */
    return conclude(req, a, r, res, len);
}

static enum MHD_Result resume_answer(struct request *req, void *state)
{
    return finish(req, state);
}

/* The spans of `ranges` whose first windows are cold (their missing bytes counted), as
 * prefetch spans in `out` (room for n); how many. `known_cold`: a page-cache-only read just
 * failed, so every span goes (that read started the kernel's read-ahead, whose pages count
 * as cached while in flight: mincore alone counts them, as not yet there). */
static size_t cold_spans(struct request *req, struct mapped_file *m,
                         const struct byte_range *ranges, size_t n, bool known_cold,
                         struct prefetch_span *out)
{
    const struct file_info *fi = mapped_file_info(m);
    const unsigned char *base = mapped_file_base(m);
    size_t k = 0;
    for (size_t i = 0; i < n && base; i++) {
        uint64_t missing = residency_missing(base, known_cold ? -1 : fi->fd, ranges[i].first,
                                             range_length(&ranges[i]),
                                             req->ctx->prefetch_window);
        req->rec.miss_bytes += missing;
        if (missing || known_cold)
            out[k++] = (struct prefetch_span){ranges[i].first, range_length(&ranges[i]), NULL};
    }
    return base ? k : 0;
}

/* Hands the answer to the helpers when its body is cold: a body streamed or sent from the
 * mapping when the first windows of its spans are not resident (looked at before the response
 * is made), a body read at once when its page-cache-only read failed (the helper then reads
 * the spans straight into the body's buffer), a cold range streamed as it arrives (`by_read`
 * without `known_cold`: mincore found it cold; the helper reads its first split through the
 * descriptor). True when a helper took it: the request goes on in resume_answer(). */
static bool hand_off_cold(struct request *req, struct answer *a, const struct byte_range *ranges,
                          size_t n, bool known_cold, bool by_read)
{
    /* a body that a page-cache-only read found cold is one read at once; if no helper takes
     * it, it is read here, waiting for the disk. The class follows the body's length, not how
     * it is sent: a range that TLS streams is still a range. */
    enum access_class cls = known_cold || file_body_length(a->b) <= FILE_BODY_COPY_MAX
                                ? ACCESS_RANGE
                                : ACCESS_STREAM;
    if (known_cold)
        req->phase = REQUEST_HANDED_OFF;
    size_t room = known_cold ? file_body_pieces(a->b) : 0;
    struct prefetch_span *sp = malloc((room > n ? room : n) * sizeof *sp);
    if (!sp)
        return false;
    size_t k = cold_spans(req, a->m, ranges, n, known_cold || by_read, sp);
    bool *into_failed = NULL, taken = false;
    if (k && known_cold && req->ctx->prefetch) {
        size_t filled = file_body_fill_spans(a->b, sp, &into_failed);
        k = filled ? filled : k; /* out of memory for the buffer: bring the pages in only */
    }
    if (k)
        taken = request_hand_off(req, a->m, cls, MH_FILES, by_read, sp, k, into_failed);
    if (taken)
        request_set_resume(req, resume_answer, a, answer_free);
    free(sp);
    return taken;
}

/* Range outcomes count once per request, on its first look-up. */
static void count_range(struct request *req, const struct look *at, enum metric_range kind)
{
    if (at->attempt == 0)
        metrics_range(req->ctx->metrics, kind);
}

/* Queues `b` as the 200/206 body, once the helpers made the start of its spans resident when
 * it was cold (a long body's reader brings in the rest block by block as it is sent).
 * Consumes the caller's reference `m` (kept until the headers are added) and `b`; a NULL `b`
 * (out of memory) closes the connection. */
static enum MHD_Result send_body(struct request *req, unsigned status, struct mapped_file *m,
                                 struct file_body *b, const struct byte_range *spans, size_t n,
                                 const char *content_type, const char *content_range,
                                 const struct look *at)
{
    const char *raw = at->raw;
    struct handler_ctx *ctx = req->ctx;
    size_t rawlen = strlen(raw);
    struct answer *a = malloc(sizeof *a + rawlen + 1);
    if (!a) {
        file_body_free(b);
        file_map_release(m);
        return MHD_NO;
    }
    *a = (struct answer){.status = status, .m = m, .b = b, .attempt = at->attempt};
    snprintf(a->content_type, sizeof a->content_type, "%s", content_type);
    snprintf(a->content_range, sizeof a->content_range, "%s", content_range ? content_range : "");
    memcpy(a->raw, raw, rawlen + 1);
    if (!b || req->phase != REQUEST_STARTED || req->rec.method == MM_HEAD ||
        mapped_file_info(m)->size == 0)
        return finish(req, a); /* nothing to read, or handed off once already */
    if (!file_body_copied(b, req)) {
        /* streamed or sent from the mapping: its first windows are looked at first */
        bool look = advice_may_willneed(&ctx->policy, ACCESS_STREAM) || ctx->prefetch ||
                    metrics_level(ctx->metrics) == INSTRUMENT_FULL;
        if (look && hand_off_cold(req, a, spans, n, false, false))
            return MHD_YES;
        return finish(req, a);
    }
    /* a cold range long enough streams as it arrives; otherwise read at once: the read
     * finds out whether it is cold */
    if (ctx->prefetch && file_body_stream_cold(b, req)) {
        if (hand_off_cold(req, a, spans, n, false, true))
            return MHD_YES;
        return finish(req, a);
    }
    enum body_result res;
    uint64_t len = file_body_length(b);
    struct MHD_Response *r = file_body_response(b, req, &res);
    if (res != BODY_COLD) {
        a->b = NULL; /* taken */
        return conclude(req, a, r, res, len);
    }
    if (hand_off_cold(req, a, spans, n, true, true))
        return MHD_YES;
    return finish(req, a); /* no helper took it: read it here (handed off, so waiting) */
}

static struct body_env body_env_of(const struct handler_ctx *ctx)
{
    return (struct body_env){ctx->metrics, &ctx->policy, ctx->prefetch_window,
                             ctx->files_zero_copy_max, ctx->tls};
}

/* 200 with the whole file. Consumes the mapping reference. */
static enum MHD_Result send_whole(struct request *req, struct mapped_file *m, const struct look *at)
{
    const struct file_info *fi = mapped_file_info(m);
    struct byte_range all = {0, fi->size ? fi->size - 1 : 0};
    struct body_env env = body_env_of(req->ctx);
    struct file_body *b = file_body_new(file_map_retain(m), &env);
    if (b)
        file_body_span(b, 0, fi->size);
    return send_body(req, MHD_HTTP_OK, m, b, &all, 1, fi->content_type, NULL, at);
}

/* 206 with one range. Consumes the mapping reference. */
static enum MHD_Result send_range(struct request *req, struct mapped_file *m,
                                  const struct byte_range *span, const struct look *at)
{
    const struct file_info *fi = mapped_file_info(m);
    char cr[80];
    snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, span->first, span->last,
             fi->size);
    struct body_env env = body_env_of(req->ctx);
    struct file_body *b = file_body_new(file_map_retain(m), &env);
    if (b)
        file_body_span(b, span->first, range_length(span));
    return send_body(req, MHD_HTTP_PARTIAL_CONTENT, m, b, span, 1, fi->content_type, cr, at);
}

/* 206 multipart/byteranges. Consumes the mapping reference. */
static enum MHD_Result send_multipart(struct request *req, struct mapped_file *m,
                                      const struct byte_range *r, size_t n,
                                      const struct look *at)
{
    char content_type[MULTIPART_CONTENT_TYPE_LEN];
    struct body_env env = body_env_of(req->ctx);
    struct file_body *b = multipart_body(file_map_retain(m), &env, r, n, content_type);
    return send_body(req, MHD_HTTP_PARTIAL_CONTENT, m, b, r, n, content_type, NULL, at);
}

/* Decides the shape of a 2xx answer from Range and If-Range. Consumes the reference. */
static enum MHD_Result serve(struct request *req, struct mapped_file *m, const struct look *at)
{
    struct handler_ctx *ctx = req->ctx;
    const struct file_info *fi = mapped_file_info(m);
    const char *range = header(req, MHD_HTTP_HEADER_RANGE);
    const char *if_range = header(req, MHD_HTTP_HEADER_IF_RANGE);
    struct validators v = validators_of(fi);

    if (!range)
        return send_whole(req, m, at);
    if (if_range && !conditional_if_range(if_range, &v)) {
        count_range(req, at, MR_IGNORED);
        return send_whole(req, m, at);
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
        count_range(req, at, MR_IGNORED);
        ret = send_whole(req, m, at);
        break;
    case RANGE_UNSATISFIABLE:
    case RANGE_TOO_MANY:
        count_range(req, at, MR_UNSATISFIABLE);
        ret = send_unsatisfiable(req, m);
        break;
    case RANGE_OK: /* sorted, overlapping and adjacent ranges merged */
    default:
        count_range(req, at, n == 1 ? MR_SINGLE : MR_MULTI);
        req->log.ranges = (unsigned)n;
        ret = n == 1 ? send_range(req, m, &ranges[0], at)
                     : send_multipart(req, m, ranges, n, at);
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
static enum MHD_Result handle(struct request *req, const char *raw_path, int attempt)
{
    const struct look at = {raw_path, attempt};
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
    request_file(req, fi->size);
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
        return serve(req, m, &at);
    }
}

enum MHD_Result files_handle(struct request *req, const char *raw_path)
{
    return handle(req, raw_path, 0);
}
