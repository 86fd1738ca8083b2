/* file_body.c - /files bodies: read at once with preadv2(RWF_NOWAIT), or copied out of the
 * mapping under the SIGBUS guard, size-checked, streamed in blocks with the prefetch helpers
 * ahead of them. */
#include "handlers/file_body.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/strbuf.h"
#include "filedata/advice.h"
#include "filedata/advice_auto.h"
#include "filedata/prefetch_pool.h"
#include "filedata/residency.h"
#include "filedata/held_copy.h"

struct piece {
    uint64_t off, len; /* text: offset into the body's text; span: offset in the mapping */
    bool text;
};

struct file_body {
    struct body_env env;
    struct mapped_file *map;
    const unsigned char *base; /* the mapping, once a streamed body asked for it */
    int fd;
    struct piece *pieces; /* `few` until a multipart body needs more */
    size_t n, cap;
    struct piece few[3];
    struct strbuf text;
    uint64_t length;
    bool failed;
    char *filled;     /* the body, read into by a helper (file_body_fill_spans()), or NULL */
    bool fill_failed; /* ... which did not read every span whole */
    /* the content reader's state */
    struct request *req;
    size_t cursor;        /* the piece that holds body offset cursor_pos + ... */
    uint64_t cursor_pos;  /* body offset where pieces[cursor] starts */
    uint64_t resumed_at;  /* body offset a helper was asked to make resident: copy it then */
    size_t hint_piece;    /* the piece hinted_to belongs to */
    uint64_t hinted_to;   /* mapping offset up to which the read-ahead was looked after */
    bool cold_range;      /* a cold range streamed as it arrives (file_body_stream_cold()) */
    /* a block handed to a helper to read into the send buffer (offload()) */
    struct {
        char *buf;  /* the buffer it goes into, NULL: none handed */
        uint64_t pos, off;
        size_t len;
        bool failed; /* set by the helper: not read whole */
    } offloaded;
    uint64_t short_seen;  /* handler_ctx.short_answers when last looked at */
    unsigned quiet_blocks; /* blocks since it last moved */
    /* the segment of a long cold stream being measured (measure_segment()) */
    uint64_t seg_from; /* body offset where it starts (or started), UINT64_MAX: none yet */
    uint64_t seg_t0;   /* when it started, 0: not yet (the copy has not reached seg_from) */
    bool seg_arm;      /* the arm (WILLNEED or not) it runs under */
};

struct file_body *file_body_new(struct mapped_file *m, const struct body_env *env)
{
    struct file_body *b = calloc(1, sizeof *b);
    if (!b) {
        file_map_release(m);
        return NULL;
    }
    b->env = *env;
    b->map = m;
    b->pieces = b->few;
    b->cap = sizeof b->few / sizeof b->few[0];
    b->fd = mapped_file_info(m)->fd;
    b->resumed_at = UINT64_MAX;
    b->hint_piece = SIZE_MAX;
    b->seg_from = UINT64_MAX;
    return b;
}

void file_body_free(struct file_body *b)
{
    if (!b)
        return;
    file_map_release(b->map);
    free(b->filled);
    strbuf_free(&b->text);
    if (b->pieces != b->few)
        free(b->pieces);
    free(b);
}

static void add_piece(struct file_body *b, uint64_t off, uint64_t len, bool text)
{
    if (b->failed || len == 0)
        return;
    if (b->n == b->cap) {
        size_t cap = 2 * b->cap;
        struct piece *p = b->pieces == b->few ? malloc(cap * sizeof *p)
                                              : realloc(b->pieces, cap * sizeof *p);
        if (!p) {
            b->failed = true;
            return;
        }
        if (b->pieces == b->few)
            memcpy(p, b->few, sizeof b->few);
        b->pieces = p;
        b->cap = cap;
    }
    b->pieces[b->n++] = (struct piece){off, len, text};
    b->length += len;
}

void file_body_span(struct file_body *b, uint64_t off, uint64_t len)
{
    add_piece(b, off, len, false);
}

void file_body_printf(struct file_body *b, const char *fmt, ...)
{
    size_t at = b->text.len;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&b->text, fmt, ap);
    va_end(ap);
    b->failed |= b->text.failed;
    add_piece(b, at, b->text.len - at, true);
}

uint64_t file_body_length(const struct file_body *b) { return b->length; }

size_t file_body_pieces(const struct file_body *b) { return b->n; }

const struct mapped_file *file_body_map(const struct file_body *b) { return b->map; }

size_t file_body_fill_spans(struct file_body *b, struct prefetch_span *out, bool **failed)
{
    free(b->filled);
    b->fill_failed = false;
    if (b->failed || !(b->filled = malloc(b->length ? (size_t)b->length : 1)))
        return 0;
    size_t k = 0;
    uint64_t at = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct piece *p = &b->pieces[i];
        if (p->text)
            memcpy(b->filled + at, b->text.data + p->off, (size_t)p->len);
        else
            out[k++] = (struct prefetch_span){p->off, p->len, b->filled + at};
        at += p->len;
    }
    *failed = &b->fill_failed;
    return k;
}

/* Points the cursor at the piece that holds body offset `pos`. */
static void seek(struct file_body *b, uint64_t pos)
{
    if (pos < b->cursor_pos) {
        b->cursor = 0;
        b->cursor_pos = 0;
    }
    while (b->cursor < b->n && b->cursor_pos + b->pieces[b->cursor].len <= pos)
        b->cursor_pos += b->pieces[b->cursor++].len;
}

/* Suspends the connection and asks a helper to bring in the window of the mapping at `off`
 * (at most `rest` bytes, the rest of its piece): true when it took the job, and the reader
 * is called again at body offset `pos` once the helper resumed the connection. */
static bool hand_to_helpers(struct file_body *b, uint64_t pos, uint64_t off, uint64_t rest)
{
    b->resumed_at = pos; /* the next call at pos copies, whatever the helper achieved */
    struct prefetch_span span = {off, rest, NULL};
    enum access_class cls = b->cold_range ? ACCESS_RANGE : ACCESS_STREAM;
    return request_hand_off(b->req, b->map, cls, MH_FILES, b->cold_range, &span, 1, NULL);
}

/* With `willneed`: keeps WILLNEED windows ahead of the copy at mapping offset `from` within
 * the current piece (which ends at `end`), as long as less than a window of lead is left and
 * the next window is not resident. */
static void read_ahead(struct file_body *b, uint64_t from, uint64_t end)
{
    uint64_t window = b->env.window;
    if (b->cold_range || /* its helper hinted the whole span */
        !advice_may_willneed(b->env.policy, ACCESS_STREAM) ||
        (b->req->hints.decided && !b->req->hints.willneed))
        return;
    if (b->hint_piece != b->cursor || b->hinted_to < from) {
        b->hint_piece = b->cursor;
        b->hinted_to = from;
    }
    if (b->hinted_to >= end || b->hinted_to - from >= window)
        return;
    uint64_t len = end - b->hinted_to;
    if (len > (uint64_t)ADVICE_PREFETCH_WINDOWS * window)
        len = (uint64_t)ADVICE_PREFETCH_WINDOWS * window;
    if (!residency_missing(b->base, b->fd, b->hinted_to, len, window)) {
        b->hinted_to += len < window ? len : window; /* that window is in: look at the next */
        return;
    }
    uint64_t at = b->hinted_to;
    b->hinted_to += len;
    if (request_willneed(b->req, ACCESS_STREAM)) /* found cold: the request decides now */
        request_read_ahead(b->req, b->map, ACCESS_STREAM, at, len);
}

/* A truncation that ran during a read may have zeroed the tail of the page cache folio being
 * copied while the read still went by the old size: the file must still hold every byte
 * read, up to `need`, now. */
static enum body_result still_held(struct file_body *b, uint64_t need)
{
    return held_copy_holds(b->map, need, b->env.metrics) ? BODY_OK : BODY_CHANGED;
}

/* The end of the body's last byte in the file: what the file must still hold. */
static uint64_t spans_end(const struct file_body *b)
{
    uint64_t need = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!b->pieces[i].text && b->pieces[i].off + b->pieces[i].len > need)
            need = b->pieces[i].off + b->pieces[i].len;
    return need;
}

/* Reads [off, off+len) of the file into buf with pread(2): with `nowait` (RWF_NOWAIT) only
 * from the page cache. */
enum span_read { SPAN_OK, SPAN_COLD, SPAN_SHORT, SPAN_NOWAIT_UNSUPPORTED, SPAN_ERROR };
static enum span_read read_span(int fd, char *buf, uint64_t off, size_t len, bool nowait)
{
    size_t done = 0;
    while (done < len) {
        struct iovec iov = {buf + done, len - done};
        ssize_t n = preadv2(fd, &iov, 1, (off_t)(off + done), nowait ? RWF_NOWAIT : 0);
        if (n > 0)
            done += (size_t)n;
        else if (n == 0)
            return SPAN_SHORT; /* the end of the file came first: it was truncated */
        else if (errno == EAGAIN && nowait)
            return SPAN_COLD;
        else if (errno == EOPNOTSUPP && nowait)
            return SPAN_NOWAIT_UNSUPPORTED;
        else if (errno != EINTR)
            return SPAN_ERROR;
    }
    return SPAN_OK;
}

/* A cold range's part [off, off+len) read into buf with pread(2), not copied from the
 * mapping (no page table entries: the range class), then the size check; false after a
 * failed or short read or a truncation (counted). */
static bool read_held(struct file_body *b, char *buf, uint64_t off, size_t len)
{
    if (read_span(b->fd, buf, off, len, false) != SPAN_OK) {
        metrics_read_error(b->env.metrics, MRE_SHORT);
        return false;
    }
    return held_copy_holds(b->map, off + len, b->env.metrics);
}

/* Copies body bytes [pos, pos+max) into buf. `streaming` (the content reader): checks each
 * span's residency first, hands a cold one to the helpers and keeps the read-ahead going.
 * Returns the bytes copied (it stops early before a cold span when it has copied something),
 * 0 after handing a cold span to the helpers, or -1 after a failed read (counted). */
static ssize_t fill(struct file_body *b, uint64_t pos, char *buf, size_t max, bool streaming)
{
    size_t done = 0;
    struct held_copy copy = {b->base, b->map, b->env.metrics, 0};
    seek(b, pos);
    while (done < max && b->cursor < b->n) {
        const struct piece *p = &b->pieces[b->cursor];
        uint64_t in = pos + done - b->cursor_pos;
        size_t k = (size_t)(p->len - in < max - done ? p->len - in : max - done);
        if (p->text) {
            memcpy(buf + done, b->text.data + p->off + in, k);
        } else {
            uint64_t off = p->off + in;
            if (streaming && b->cold_range) {
                /* send what is in (pages still being read are not, for mincore); right
                 * after the helpers, what they read even if it is gone again (waiting) */
                uint64_t in_now = residency_resident_prefix(b->base, off, k);
                if (in_now == 0 && pos + done != b->resumed_at) {
                    if (done)
                        break;
                    if (hand_to_helpers(b, pos, off, p->len - in))
                        return 0;
                } else if (in_now) {
                    k = (size_t)in_now;
                }
                if (!read_held(b, buf + done, off, k))
                    return -1;
            } else {
                if (streaming && pos + done != b->resumed_at) {
                    uint64_t missing = residency_missing(b->base, b->fd, off, k, k);
                    if (missing && done)
                        break; /* send what is ready; the next call deals with the cold span */
                    b->req->rec.miss_bytes += missing;
                    if (missing && hand_to_helpers(b, pos, off, p->len - in))
                        return 0;
                }
                if (!held_copy(&copy, buf + done, off, k))
                    return -1;
                advice_dontneed(b->env.policy, b->env.metrics, ACCESS_STREAM, b->base, off, k);
                if (streaming)
                    read_ahead(b, off + k, p->off + p->len);
            }
        }
        done += k;
        if (in + k == p->len) {
            b->cursor_pos += p->len;
            b->cursor++;
        }
    }
    if (!held_copy_done(&copy))
        return -1;
    return done ? (ssize_t)done : -1;
}

/* --files-zero-copy-max: one span of at most that many bytes, sent from the mapping. */
static bool zero_copy(const struct file_body *b, const struct request *req)
{
    return b->n == 1 && !b->pieces[0].text && b->length > 0 &&
           b->length <= b->env.zero_copy_max && req->rec.method != MM_HEAD;
}

/* The span that holds body offset `pos` (the cursor is left on it), with `pos`'s offset in
 * the file in *off; NULL when `pos` is in a text piece or past the end. */
static const struct piece *span_at(struct file_body *b, uint64_t pos, uint64_t *off)
{
    seek(b, pos);
    if (b->cursor >= b->n || b->pieces[b->cursor].text)
        return NULL;
    const struct piece *p = &b->pieces[b->cursor];
    *off = p->off + (pos - b->cursor_pos);
    return p;
}

/* The WILLNEED lead at body offset `pos`: how far past it the read-ahead has hinted. */
static uint64_t hinted_lead(struct file_body *b, uint64_t pos)
{
    uint64_t off;
    if (!span_at(b, pos, &off) || b->hint_piece != b->cursor)
        return 0;
    return b->hinted_to > off ? b->hinted_to - off : 0;
}

/* A long cold stream under the stream class's `auto`: its cost is measured per
 * FILE_BODY_SEGMENT bytes, and each segment runs under the arm advice_auto_pick() gives, so
 * that the arms alternate within the first long download and the cheaper one serves the rest
 * of it. A segment without WILLNEED after one with it is measured from where the earlier
 * hints end, so that what they read does not count for it. Called with the body offset the
 * reader is asked for. */
static void measure_segment(struct file_body *b, uint64_t pos)
{
    struct request *req = b->req;
    if (b->cold_range || !req->hints.decided || !req->hints.automatic ||
        req->hints.cls != ACCESS_STREAM)
        return;
    uint64_t now = metrics_now_ns();
    if (b->seg_from == UINT64_MAX || (b->seg_t0 == 0 && pos >= b->seg_from)) {
        b->seg_from = pos; /* the copy got here: this segment's clock starts */
        b->seg_t0 = now;
        b->seg_arm = req->hints.willneed;
        return;
    }
    if (b->seg_t0 == 0 || pos - b->seg_from < FILE_BODY_SEGMENT)
        return;
    struct advice_auto *a = req->ctx->auto_advice;
    advice_auto_record(a, ACCESS_STREAM, b->seg_arm, now - b->seg_t0, pos - b->seg_from);
    req->hints.segmented = true;
    bool next = advice_auto_pick(a, ACCESS_STREAM, 0);
    b->seg_from = pos + (b->seg_arm && !next ? hinted_lead(b, pos) : 0);
    b->seg_t0 = 0;
    req->hints.willneed = next;
    if (b->seg_from == pos) { /* nothing to wait for: it starts now */
        b->seg_t0 = now;
        b->seg_arm = next;
    }
}

/* Read at once up to here; streamed above, in blocks of block_max(). */
static uint64_t copy_max(const struct file_body *b)
{
    return b->env.tls ? FILE_BODY_TLS_BLOCK : FILE_BODY_COPY_MAX;
}

static uint64_t block_max(const struct file_body *b)
{
    return b->env.tls ? FILE_BODY_TLS_BLOCK : FILE_BODY_BLOCK;
}

/* The streamed body's send buffer: a block, or FILE_BODY_OFFLOAD_BLOCK where blocks may be
 * offloaded (plain HTTP, not a cold range). */
static uint64_t send_buffer(const struct file_body *b)
{
    return !b->env.tls && !b->cold_range && b->req->ctx->stream_offload ? FILE_BODY_OFFLOAD_BLOCK
                                                                         : block_max(b);
}

/* Whether other requests are being answered: a short answer completed since this body last
 * looked, or within its last FILE_BODY_OFFLOAD_LINGER blocks. */
static bool others_answered(struct file_body *b)
{
    if (!b->req->ctx->stream_offload)
        return false;
    uint64_t n = atomic_load_explicit(&b->req->ctx->short_answers, memory_order_relaxed);
    if (n != b->short_seen) {
        b->short_seen = n;
        b->quiet_blocks = 0;
        return true;
    }
    if (b->quiet_blocks >= FILE_BODY_OFFLOAD_LINGER)
        return false;
    b->quiet_blocks++;
    return true;
}

/* Hands the block at body offset `pos` (of one span, at most `max` bytes) to a helper, which
 * reads it into `buf` with the connection suspended, if every page of it is in the page
 * cache or on its way (cachestat; a cold block takes the cold path, and without cachestat
 * none is handed). The read-ahead is kept going first. True when a helper took it. */
static bool offload(struct file_body *b, uint64_t pos, char *buf, size_t max)
{
    uint64_t off;
    const struct piece *p = b->cold_range ? NULL : span_at(b, pos, &off);
    if (!p)
        return false;
    uint64_t rest = p->off + p->len - off;
    size_t k = (size_t)(rest < max ? rest : max);
    if (residency_span_cached(b->fd, off, k) != RESIDENCY_CACHED)
        return false;
    read_ahead(b, off + k, p->off + p->len);
    b->offloaded.buf = buf;
    b->offloaded.pos = pos;
    b->offloaded.off = off;
    b->offloaded.len = k;
    b->offloaded.failed = false;
    if (request_read_into(b->req, b->map, off, k, buf, &b->offloaded.failed))
        return true;
    b->offloaded.buf = NULL;
    return false;
}

/* The block a helper read, when the reader is called again at its offset with its buffer:
 * its length once the file still holds it (-1: it no longer does, counted), 0 when there is
 * none to take (nothing handed, another offset or buffer, or not read whole: `*retry` set,
 * and the block is copied here). */
static ssize_t take_offloaded(struct file_body *b, uint64_t pos, const char *buf, bool *retry)
{
    char *handed = b->offloaded.buf;
    b->offloaded.buf = NULL;
    *retry = false;
    if (!handed)
        return 0;
    if (handed != buf || b->offloaded.pos != pos || b->offloaded.failed) {
        *retry = b->offloaded.pos == pos;
        return 0;
    }
    if (!held_copy_holds(b->map, b->offloaded.off + b->offloaded.len, b->env.metrics))
        return -1;
    return (ssize_t)b->offloaded.len;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct file_body *b = cls;
    metrics_handler_enter(b->env.metrics, MH_FILES); /* faults while copying count for /files */
    measure_segment(b, pos);
    bool retry;
    ssize_t n = take_offloaded(b, pos, buf, &retry);
    if (n == 0 && !retry && others_answered(b) && offload(b, pos, buf, max))
        return 0;
    if (n == 0) /* the buffer may be FILE_BODY_OFFLOAD_BLOCK: copy a block of it */
        n = fill(b, pos, buf, max < block_max(b) ? max : (size_t)block_max(b), true);
    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void reader_free(void *cls) { file_body_free(cls); }

static void release_map(void *cls) { file_map_release(cls); }

/* --files-zero-copy-max: one span short enough goes out of the mapping itself, holding the
 * entry until libmicrohttpd frees the response. Consumes b. */
static struct MHD_Response *zero_copy_response(struct file_body *b)
{
    const struct piece *p = &b->pieces[0];
    struct mapped_file *m = file_map_retain(b->map);
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
        (size_t)p->len, (void *)(b->base + p->off), release_map, m);
    if (!r)
        file_map_release(m);
    file_body_free(b);
    return r;
}

static ssize_t never_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls, (void)pos, (void)buf, (void)max;
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

struct MHD_Response *file_body_headers_only(uint64_t len)
{
    return MHD_create_response_from_callback(len, 1, never_read, NULL, NULL);
}

/* The whole body into buf: text pieces copied, spans read from the file. A read is checked
 * against the file as it is (a truncated file reads short), and the file's size after the
 * reads (a truncation during one can zero what it copies). With `nowait` a span with a page
 * not in the page cache stops it: BODY_COLD. */
static enum body_result copy_body(struct file_body *b, char *buf, bool nowait)
{
    uint64_t at = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct piece *p = &b->pieces[i];
        enum span_read r = SPAN_OK;
        if (p->text)
            memcpy(buf + at, b->text.data + p->off, (size_t)p->len);
        else
            r = read_span(b->fd, buf + at, p->off, (size_t)p->len, nowait);
        if (r == SPAN_NOWAIT_UNSUPPORTED) { /* no page-cache-only read here: look, then read */
            const unsigned char *base = mapped_file_base(b->map);
            r = base && residency_missing(base, b->fd, p->off, p->len, (size_t)p->len)
                    ? SPAN_COLD
                    : read_span(b->fd, buf + at, p->off, (size_t)p->len, false);
        }
        if (r == SPAN_COLD)
            return BODY_COLD;
        if (r == SPAN_SHORT || r == SPAN_ERROR) {
            metrics_read_error(b->env.metrics, MRE_SHORT);
            return BODY_CHANGED;
        }
        at += p->len;
    }
    return still_held(b, spans_end(b));
}

bool file_body_copied(const struct file_body *b, const struct request *req)
{
    return !b->failed && req->rec.method != MM_HEAD && b->length <= copy_max(b) &&
           !zero_copy(b, req) && !b->cold_range;
}

bool file_body_stream_cold(struct file_body *b, struct request *req)
{
    if (!file_body_copied(b, req) || b->n != 1 || b->pieces[0].text ||
        b->length <= FILE_BODY_STREAM_MIN)
        return false;
    /* one cachestat first, so that a warm body is not mapped for the look (no cachestat:
     * read at once, as every warm body is) */
    uint64_t off = b->pieces[0].off;
    if (residency_span_cached(b->fd, off, b->length) != RESIDENCY_MISSING)
        return false;
    const unsigned char *base = mapped_file_base(b->map);
    if (!base || residency_resident_prefix(base, off, b->length) == b->length)
        return false;
    /* found cold: the request takes its arm now; without WILLNEED it is read at once */
    if (!request_willneed(req, ACCESS_RANGE))
        return false;
    b->base = base;
    b->cold_range = true;
    return true;
}

struct MHD_Response *file_body_response(struct file_body *b, struct request *req,
                                        enum body_result *res)
{
    struct MHD_Response *r = NULL;
    b->req = req;
    *res = BODY_FAILED;
    if (b->failed)
        goto consumed;
    if (zero_copy(b, req) && (b->base = mapped_file_base(b->map)) != NULL) {
        *res = BODY_OK;
        return zero_copy_response(b);
    }
    if (req->rec.method == MM_HEAD || b->length > copy_max(b) || b->cold_range) {
        /* HEAD: MHD never reads the body, so no block is worth allocating */
        uint64_t buffer = send_buffer(b);
        size_t block = req->rec.method == MM_HEAD ? 1
                       : b->length < buffer       ? (size_t)b->length
                                                  : (size_t)buffer;
        if (req->rec.method != MM_HEAD && !(b->base = mapped_file_base(b->map)))
            goto consumed; /* no mapping to stream from: the connection closes */
        b->short_seen = atomic_load_explicit(&req->ctx->short_answers, memory_order_relaxed);
        b->quiet_blocks = FILE_BODY_OFFLOAD_LINGER; /* alone until a short answer completes */
        r = MHD_create_response_from_callback(b->length, block ? block : 1, reader, b,
                                              reader_free);
        if (!r)
            goto consumed;
        req->streamed = true;
        *res = BODY_OK;
        return r;
    }
    char *buf = b->filled ? b->filled : malloc(b->length ? (size_t)b->length : 1);
    bool filled = b->filled && !b->fill_failed;
    b->filled = NULL;
    if (!buf)
        goto consumed;
    /* read by a helper while the connection was suspended: only the size check is left */
    *res = filled ? still_held(b, spans_end(b)) : copy_body(b, buf, true);
    if (*res == BODY_COLD && req->phase == REQUEST_HANDED_OFF) {
        /* brought in by a helper, and evicted again since: this read waits for the disk */
        metrics_blocking_read(b->env.metrics, MH_FILES);
        *res = copy_body(b, buf, false);
    }
    if (*res == BODY_COLD) {
        free(buf);
        return NULL; /* the body stays the caller's */
    }
    if (*res == BODY_OK)
        r = MHD_create_response_from_buffer((size_t)b->length, buf, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(buf);
        *res = *res == BODY_OK ? BODY_FAILED : *res;
    }
consumed:
    file_body_free(b); /* the copy is all the response needs */
    return r;
}
