/* sample.c - the /sample handler: query, file, sampler, hints, body shape. */
#include "handlers/sample.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "filedata/file_lookup.h"
#include "filedata/page_size.h"
#include "filedata/prefetch_pool.h"
#include "filedata/residency.h"
#include "handlers/reply.h"
#include "http/url_path.h"
#include "sampling/prng.h"
#include "sampling/sample_layout.h"
#include "sampling/sample_query.h"
#include "sampling/sample_response.h"
#include "sampling/sampler.h"

#define STR(x) #x
#define XSTR(x) STR(x)

/* A seed for a request that names none: 16 bytes of getrandom(), the clock and a counter. */
static uint64_t fresh_seed(struct handler_ctx *ctx)
{
    struct {
        unsigned char random[16];
        struct timespec now;
        uint64_t count;
    } e;
    memset(&e, 0, sizeof e);
    if (getrandom(e.random, sizeof e.random, GRND_NONBLOCK) != (ssize_t)sizeof e.random)
        memset(e.random, 0, sizeof e.random); /* the clock and the counter still differ */
    clock_gettime(CLOCK_REALTIME, &e.now);
    e.count = atomic_fetch_add_explicit(&ctx->seeds_drawn, 1, memory_order_relaxed);
    return prng_seed_from_entropy(&e, sizeof e);
}

/* Residency of every record on the first pass of a GET (counted as miss bytes), then the
 * cold records in one batch: with helper threads, the connection is suspended and they give
 * the WILLNEED hints (all of them before reading, so the device has them all in flight) and
 * read the records in, and the handler runs again once they are in: true. Without helpers
 * the hints are given here and the records are read as they are sent. */
static bool prefetch_records(struct request *req, struct mapped_file *m,
                             const unsigned char *base, const uint64_t *offsets, size_t n,
                             uint64_t size)
{
    struct handler_ctx *ctx = req->ctx;
    const struct file_info *fi = mapped_file_info(m);
    bool hint = advice_may_willneed(&ctx->policy, ACCESS_RANDOM);
    if (req->resumed || req->rec.method == MM_HEAD ||
        (!hint && !ctx->prefetch && metrics_level(ctx->metrics) != INSTRUMENT_FULL))
        return false;
    /* A file of at most 8 pages per record: one cachestat over all of it costs less than
     * one per record, and when every page is in, no record is cold. */
    uint64_t page = page_size();
    if (n && (fi->size + page - 1) / page <= 8 * (uint64_t)n &&
        residency_file_cached(fi->fd, fi->size))
        return false;
    struct prefetch_span *cold = (hint || ctx->prefetch) && n ? malloc(n * sizeof *cold) : NULL;
    size_t ncold = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t missing = residency_missing(base, fi->fd, offsets[i], size,
                                             ctx->prefetch_window);
        req->rec.miss_bytes += missing;
        if (missing && cold)
            cold[ncold++] = (struct prefetch_span){offsets[i], size, NULL};
        else if (missing && hint && request_willneed(req, ACCESS_RANDOM))
            /* no memory for the batch: hint as we go */
            advice_willneed(ctx->metrics, ACCESS_RANDOM, base, offsets[i], size,
                            ctx->prefetch_window);
    }
    bool willneed = ncold && request_willneed(req, ACCESS_RANDOM);
    if (ncold && ctx->prefetch) {
        struct prefetch_job job = {.conn = req->conn, .map = file_map_retain(m),
                                   .cls = ACCESS_RANDOM, .willneed = willneed,
                                   .handler = MH_SAMPLE, .nspans = ncold, .spans = cold};
        req->resumed = true; /* whatever happens next, the next pass serves */
        if (prefetch_pool_suspend_for(ctx->prefetch, &job)) /* else queue full: serve at once */
            metrics_cold_request(ctx->metrics, MH_SAMPLE);
        return true;
    }
    for (size_t i = 0; i < ncold && willneed; i++)
        advice_willneed(ctx->metrics, ACCESS_RANDOM, base, cold[i].off, cold[i].len,
                        ctx->prefetch_window);
    free(cold);
    return false;
}

struct sample_headers {
    const struct file_info *fi;
    const struct sampler *s;
    uint64_t seed;
    bool seed_given;
    const char *content_type;   /* NULL: none (204) */
    const char *offsets_header; /* NULL: none */
};

static bool add_header(struct MHD_Response *r, const char *name, const char *value)
{
    return MHD_add_response_header(r, name, value) == MHD_YES;
}

static bool add_sample_headers(struct MHD_Response *r, const struct sample_headers *h)
{
    char seed[24], next[24], records[24], slots[24], now[HTTP_DATE_LEN];
    snprintf(seed, sizeof seed, "%" PRIu64, h->seed);
    if (h->s->next == SAMPLE_END)
        snprintf(next, sizeof next, "end");
    else
        snprintf(next, sizeof next, "%" PRIu64, h->s->next);
    snprintf(records, sizeof records, "%" PRIu64, h->s->count);
    snprintf(slots, sizeof slots, "%" PRIu64, h->s->slots);
    const char *last_modified = h->fi->last_modified;
    time_t t = time(NULL);
    if (h->fi->mtime > t) { /* RFC 9110 8.8.2.1: never a date in the future */
        http_date_format(t, now);
        last_modified = now;
    }
    return (!h->content_type ||
            add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, h->content_type)) &&
           add_header(r, MHD_HTTP_HEADER_ETAG, h->fi->etag) &&
           add_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, last_modified) &&
           add_header(r, "Sample-Seed", seed) && add_header(r, "Sample-Next", next) &&
           add_header(r, "Sample-Records", records) && add_header(r, "Sample-Slots", slots) &&
           (!h->offsets_header || add_header(r, "Sample-Offsets", h->offsets_header)) &&
           (h->seed_given || add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store"));
}

/* The page's body as a response holding `m`; NULL (m still the caller's) when out of memory. */
static struct MHD_Response *page_response(struct request *req, const struct sample_page *page,
                                          struct mapped_file *m, char *content_type,
                                          uint64_t *len)
{
    struct record_body body;
    if (!sample_layout(page, &body, content_type))
        return NULL; /* the offsets went with it */
    bool zero_copy = page->format != SAMPLE_FORMAT_JSON && page->n <= req->ctx->sample_iovec_max;
    *len = body.length;
    struct MHD_Response *r = sample_response_create(
        &body, m, zero_copy ? SAMPLE_SHAPE_IOVEC : SAMPLE_SHAPE_READER, req->ctx->metrics);
    if (!r)
        record_body_free(&body);
    return r;
}

/* Everything after the file is mapped. Consumes the mapping reference. */
static enum MHD_Result serve(struct request *req, const char *rel, const struct sample_query *q,
                             struct mapped_file *m)
{
    const struct file_info *fi = mapped_file_info(m);
    const unsigned char *base = mapped_file_base(m);
    if (!base && fi->size) {
        file_map_release(m);
        return reply_status(req, 500); /* no mapping: out of address space or map count */
    }
    struct sample_headers h = {.fi = fi, .seed_given = q->has_seed};
    if (!q->has_seed && !req->sample_seeded) { /* picked once: the same on a resumed pass */
        req->sample_seed = fresh_seed(req->ctx);
        req->sample_seeded = true;
    }
    h.seed = q->has_seed ? q->seed : req->sample_seed;
    struct sample_spec spec;
    sample_query_spec(q, fi->size, h.seed, &spec);
    struct sampler s;
    struct query_error err;
    if (sampler_init(&s, &spec, &err) != SAMPLE_OK) {
        file_map_release(m);
        return reply_bad_parameter(req, err.param, err.reason);
    }
    h.s = &s;
    size_t n = (size_t)s.count; /* <= n <= --max-sample-records */
    uint64_t *offsets = malloc((n ? n : 1) * sizeof *offsets);
    if (!offsets) {
        file_map_release(m);
        return MHD_NO;
    }
    sampler_offsets(&s, offsets, n);
    char *offsets_header = NULL;
    if (q->format == SAMPLE_FORMAT_RAW &&
        !(offsets_header = sample_layout_offsets_header(offsets, n))) {
        free(offsets);
        file_map_release(m);
        query_error_set(&err, "format", 6,
                         "the offsets do not fit in the Sample-Offsets header ("
                         XSTR(SAMPLE_OFFSETS_HEADER_MAX) " bytes); use format=multipart or "
                         "format=json");
        return reply_bad_parameter(req, err.param, err.reason);
    }
    h.offsets_header = offsets_header;
    if (prefetch_records(req, m, base, offsets, n, q->size)) {
        free(offsets);
        free(offsets_header);
        file_map_release(m);
        return MHD_YES;
    }

    unsigned status = MHD_HTTP_OK;
    uint64_t len = 0;
    char content_type[SAMPLE_CONTENT_TYPE_LEN];
    struct MHD_Response *r;
    struct mapped_file *release_after = NULL; /* fi points into it: keep it until the end */
    if (n == 0 && q->format == SAMPLE_FORMAT_MULTIPART) {
        status = MHD_HTTP_NO_CONTENT;
        free(offsets);
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        release_after = m;
    } else {
        struct sample_page page = {q->format, rel, fi, base, h.seed, q->size, offsets, n};
        r = page_response(req, &page, m, content_type, &len);
        if (!r)
            release_after = m;
        h.content_type = content_type;
    }
    /* a response holds the mapping: fi stays valid until the response is destroyed */
    if (r && !add_sample_headers(r, &h)) {
        MHD_destroy_response(r);
        r = NULL;
    }
    if (release_after)
        file_map_release(release_after);
    free(offsets_header);
    req->rec.sample_records = n;
    return reply_queue(req, status, r, len);
}

enum MHD_Result sample_handle(struct request *req, const char *raw_path)
{
    struct handler_ctx *ctx = req->ctx;
    char rel[PATH_MAX];
    unsigned status = url_path_http_status(url_path_decode(raw_path, ctx->allow_dotfiles, rel,
                                                           sizeof rel));
    if (status)
        return reply_status(req, status);

    struct sample_query q;
    struct query_error err;
    if (!sample_query_parse(req->query, ctx->max_sample_records, ctx->max_sample_bytes, &q,
                            &err))
        return reply_bad_parameter(req, err.param, err.reason);

    struct mapped_file *m;
    unsigned open_status =
        file_lookup(ctx->root_fd, ctx->maps, ctx->paths, ctx->metrics, rel, ACCESS_RANDOM,
                    &m);
    if (open_status == 301)
        open_status = 403; /* a directory has no records to sample */
    if (open_status)
        return reply_status(req, open_status);
    return serve(req, rel, &q, m);
}
