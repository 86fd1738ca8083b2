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

#include "access/admission.h"
#include "base/fnv.h"
#include "filedata/file_lookup.h"
#include "filedata/page_size.h"
#include "filedata/prefetch_pool.h"
#include "filedata/residency.h"
#include "handlers/reply.h"
#include "handlers/sample_lookahead.h"
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

/* A page worked out and not yet answered: kept while a helper brings its records in. */
struct sample_answer {
    struct mapped_file *m; /* a reference (NULL once a response took it); fi points into it */
    struct sampler s;
    struct sample_query q;
    uint64_t seed;
    uint64_t *offsets;     /* s.count of them */
    char *offsets_header;  /* Sample-Offsets (format=raw), or NULL */
    bool through_fd;       /* records were cold or read ahead: the body pread(2)s them */
    char rel[];            /* the path, as decoded from the URL */
};

static void sample_answer_free(void *p)
{
    struct sample_answer *a = p;
    if (!a)
        return;
    free(a->offsets);
    free(a->offsets_header);
    if (a->m)
        file_map_release(a->m);
    free(a);
}

/* Residency of every record of a GET not yet handed off (counted as miss bytes), then the
 * cold records in one hand-off (request_hand_off(): with helper threads, they give the
 * WILLNEED hints, all of them before reading, so the device has them all in flight, and read
 * the records in while the connection waits). The hints and the reads go through the file's
 * descriptor, and so does the body of a page with cold records or read ahead (`through_fd`):
 * a record that came in for this request is in the page cache but not in mmapd's page
 * tables, and mapping it costs a page fault per page (about 15 us on a VM, several times a
 * pread of the page).
 * True when a helper took them. `exact`: a page
 * read ahead, whose records may still be in flight: mincore(2), which counts a page being
 * read as missing, instead of cachestat(2), which counts it as resident, so that the request
 * waits for them on a helper and not on its HTTP thread. */
static bool hand_off_cold(struct request *req, struct sample_answer *a, bool exact)
{
    struct handler_ctx *ctx = req->ctx;
    const struct file_info *fi = mapped_file_info(a->m);
    const unsigned char *base = mapped_file_base(a->m);
    size_t n = (size_t)a->s.count;
    uint64_t size = a->q.size;
    bool hint = advice_may_willneed(&ctx->policy, ACCESS_RANDOM);
    if (req->phase != REQUEST_STARTED || req->rec.method == MM_HEAD || n == 0 ||
        (!hint && !ctx->prefetch && metrics_level(ctx->metrics) != INSTRUMENT_FULL))
        return false;
    /* A file of at most 8 pages per record: one cachestat over all of it costs less than
     * one per record, and when every page is in, no record is cold. */
    uint64_t page = page_size();
    if (!exact && (fi->size + page - 1) / page <= 8 * (uint64_t)n &&
        residency_file_cached(fi->fd, fi->size))
        return false;
    struct prefetch_span *cold = malloc(n * sizeof *cold);
    size_t ncold = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t missing = residency_missing(base, exact ? -1 : fi->fd, a->offsets[i], size,
                                             ctx->prefetch_window);
        req->rec.miss_bytes += missing;
        if (missing && cold)
            cold[ncold++] = (struct prefetch_span){a->offsets[i], size, NULL};
        else if (missing && request_willneed(req, ACCESS_RANDOM))
            /* no memory for the batch: hint as we go */
            advice_willneed(ctx->metrics, ACCESS_RANDOM, base, a->offsets[i], size,
                            ctx->prefetch_window);
    }
    a->through_fd = ncold > 0 || exact; /* a page read ahead came in for it too */
    bool taken = ncold && request_hand_off(req, a->m, ACCESS_RANDOM, MH_SAMPLE, true, cold,
                                           ncold, NULL);
    free(cold);
    return taken;
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
    const char *last_modified;
    file_info_last_modified(h->fi, time(NULL), now, &last_modified);
    return (!h->content_type ||
            add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, h->content_type)) &&
           add_header(r, MHD_HTTP_HEADER_ETAG, h->fi->etag) &&
           add_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, last_modified) &&
           add_header(r, "Sample-Seed", seed) && add_header(r, "Sample-Next", next) &&
           add_header(r, "Sample-Records", records) && add_header(r, "Sample-Slots", slots) &&
           (!h->offsets_header || add_header(r, "Sample-Offsets", h->offsets_header)) &&
           (h->seed_given || add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store"));
}

/* The page's body as a response holding `m`; NULL (m still the caller's) when out of memory.
 * `through_fd`: its records are read with pread(2), not copied out of the mapping. */
static struct MHD_Response *page_response(struct request *req, const struct sample_page *page,
                                          struct mapped_file *m, bool through_fd,
                                          char *content_type, uint64_t *len)
{
    struct record_body body;
    if (!sample_layout(page, &body, content_type))
        return NULL; /* the offsets went with it */
    if (through_fd)
        record_body_read_through(&body, mapped_file_info(m)->fd);
    bool zero_copy = page->format != SAMPLE_FORMAT_JSON && !through_fd &&
                     page->n <= req->ctx->sample_iovec_max;
    *len = body.length;
    struct MHD_Response *r = sample_response_create(
        &body, m, zero_copy ? SAMPLE_SHAPE_IOVEC : SAMPLE_SHAPE_READER, req->ctx->metrics);
    if (!r)
        record_body_free(&body);
    return r;
}

/* The answer to a page worked out by serve(), its records in or not. Consumes it. */
static enum MHD_Result respond(struct request *req, struct sample_answer *a)
{
    const struct file_info *fi = mapped_file_info(a->m);
    size_t n = (size_t)a->s.count;
    struct sample_headers h = {.fi = fi, .s = &a->s, .seed = a->seed,
                               .seed_given = a->q.has_seed,
                               .offsets_header = a->offsets_header};
    unsigned status = MHD_HTTP_OK;
    uint64_t len = 0;
    char content_type[SAMPLE_CONTENT_TYPE_LEN];
    struct MHD_Response *r;
    if (n == 0 && a->q.format == SAMPLE_FORMAT_MULTIPART) {
        status = MHD_HTTP_NO_CONTENT;
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        struct sample_page page = {a->q.format, a->rel, fi, mapped_file_base(a->m), a->seed,
                                   a->q.size, a->offsets, n};
        r = page_response(req, &page, a->m, a->through_fd, content_type, &len);
        a->offsets = NULL; /* the page's body took them */
        if (r) /* the response took the reference: it keeps fi valid until it is destroyed */
            a->m = NULL;
        h.content_type = content_type;
    }
    if (r && !add_sample_headers(r, &h)) {
        MHD_destroy_response(r);
        r = NULL;
    }
    req->rec.sample_records = n;
    sample_answer_free(a);
    return reply_queue(req, status, r, len);
}

static enum MHD_Result resume_sample(struct request *req, void *state)
{
    return respond(req, state);
}

/* A hash of the client's address: the lookahead budget's key (0 when it has none). */
static uint64_t client_of(struct request *req)
{
    struct ip_key key;
    if (!admission_connection_key(req->conn, &key))
        return 0;
    return fnv1a(FNV1A_START, key.bytes, key.len);
}

/* The page's records, after the lookahead entry of the page (if any) was claimed: handed
 * off when cold, then the following pages read ahead when this one was cold or read ahead
 * (a page found resident on its own means a warm file: no lookahead). True when handed off
 * (the answer belongs to the request's resume state). */
static bool fetch_and_look_ahead(struct request *req, struct sample_answer *a,
                                 const struct sample_spec *spec)
{
    struct handler_ctx *ctx = req->ctx;
    bool get = req->rec.method != MM_HEAD;
    enum lookahead_claim claim = LOOKAHEAD_NONE;
    if (ctx->lookahead && get && !spec->replace)
        claim = sample_lookahead_claim(ctx->lookahead,
                                       sample_lookahead_key(mapped_file_info(a->m)->etag, spec));
    bool read_ahead = claim == LOOKAHEAD_COLD || claim == LOOKAHEAD_PENDING;
    unsigned depth = sample_lookahead_depth(ctx->lookahead);
    if (a->q.has_lookahead && a->q.lookahead < depth)
        depth = a->q.lookahead;
    /* kept apart from `a`, which a helper's hand-off makes the request's */
    struct mapped_file *m = depth && get ? file_map_retain(a->m) : NULL;
    struct sampler s = a->s;
    bool taken = hand_off_cold(req, a, read_ahead);
    bool resident = req->rec.miss_bytes == 0;
    sample_lookahead_served(ctx->lookahead, claim, resident);
    if (m && (!resident || read_ahead))
        sample_lookahead_after(ctx->lookahead, m, spec, &s, depth, client_of(req));
    if (m)
        file_map_release(m);
    return taken;
}

/* Everything after the file is mapped: the sampler, the offsets, the hand-off of cold
 * records. Consumes the mapping reference. */
static enum MHD_Result serve(struct request *req, const char *rel, const struct sample_query *q,
                             struct mapped_file *m)
{
    const struct file_info *fi = mapped_file_info(m);
    request_file(req, fi->size);
    if (!mapped_file_base(m) && fi->size) {
        file_map_release(m);
        return reply_status(req, 500); /* no mapping: out of address space or map count */
    }
    size_t rel_len = strlen(rel);
    struct sample_answer *a = calloc(1, sizeof *a + rel_len + 1);
    if (!a) {
        file_map_release(m);
        return MHD_NO;
    }
    a->m = m;
    a->q = *q;
    memcpy(a->rel, rel, rel_len + 1);
    a->seed = q->has_seed ? q->seed : fresh_seed(req->ctx);
    struct sample_spec spec;
    sample_query_spec(q, fi->size, a->seed, &spec);
    struct query_error err;
    if (sampler_init(&a->s, &spec, &err) != SAMPLE_OK) {
        sample_answer_free(a);
        return reply_bad_parameter(req, err.param, err.reason);
    }
    size_t n = (size_t)a->s.count; /* <= n <= --max-sample-records */
    a->offsets = malloc((n ? n : 1) * sizeof *a->offsets);
    if (!a->offsets) {
        sample_answer_free(a);
        return MHD_NO;
    }
    sampler_offsets(&a->s, a->offsets, n);
    if (q->format == SAMPLE_FORMAT_RAW &&
        !(a->offsets_header = sample_layout_offsets_header(a->offsets, n))) {
        sample_answer_free(a);
        query_error_set(&err, "format", 6,
                         "the offsets do not fit in the Sample-Offsets header ("
                         XSTR(SAMPLE_OFFSETS_HEADER_MAX) " bytes); use format=multipart or "
                         "format=json");
        return reply_bad_parameter(req, err.param, err.reason);
    }
    if (fetch_and_look_ahead(req, a, &spec)) {
        request_set_resume(req, resume_sample, a, sample_answer_free);
        return MHD_YES;
    }
    return respond(req, a);
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
