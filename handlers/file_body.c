/* file_body.c - /files bodies copied out of the mapping under the SIGBUS guard, size-checked,
 * streamed in blocks with the prefetch helpers ahead of them. */
#include "handlers/file_body.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/advice.h"
#include "handlers/prefetch_pool.h"
#include "handlers/residency.h"
#include "handlers/sigbus_guard.h"
#include "metrics/strbuf.h"

struct piece {
    uint64_t off, len; /* text: offset into the body's text; span: offset in the mapping */
    bool text;
};

struct file_body {
    struct mapped_file *map;
    const unsigned char *base;
    int cachestat_fd;
    struct piece *pieces; /* `few` until a multipart body needs more */
    size_t n, cap;
    struct piece few[3];
    struct strbuf text;
    uint64_t length;
    bool failed;
    /* the content reader's state */
    struct request *req;
    size_t cursor;        /* the piece that holds body offset cursor_pos + ... */
    uint64_t cursor_pos;  /* body offset where pieces[cursor] starts */
    uint64_t resumed_at;  /* body offset a helper was asked to make resident: copy it then */
    size_t hint_piece;    /* the piece hinted_to belongs to */
    uint64_t hinted_to;   /* mapping offset up to which the read-ahead was looked after */
    bool cold_counted;
};

struct file_body *file_body_new(struct mapped_file *m)
{
    struct file_body *b = calloc(1, sizeof *b);
    if (!b) {
        file_map_release(m);
        return NULL;
    }
    b->map = m;
    b->pieces = b->few;
    b->cap = sizeof b->few / sizeof b->few[0];
    b->base = mapped_file_info(m)->base;
    b->cachestat_fd = mapped_file_info(m)->cachestat_fd;
    b->resumed_at = UINT64_MAX;
    b->hint_piece = SIZE_MAX;
    return b;
}

void file_body_free(struct file_body *b)
{
    if (!b)
        return;
    file_map_release(b->map);
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
    struct handler_ctx *ctx = b->req->ctx;
    b->resumed_at = pos; /* the next call at pos copies, whatever the helper achieved */
    if (!ctx->prefetch) {
        advice_willneed(&ctx->policy, ctx->metrics, ACCESS_STREAM, b->base, off, rest,
                        ctx->prefetch_window);
        return false;
    }
    struct prefetch_job job = {.conn = b->req->conn, .map = file_map_retain(b->map),
                               .cls = ACCESS_STREAM, .handler = MH_FILES, .nspans = 1,
                               .one = {off, rest}};
    if (!prefetch_pool_suspend_for(ctx->prefetch, &job)) /* queue full: copy at once */
        return false;
    if (!b->cold_counted)
        metrics_cold_request(ctx->metrics, MH_FILES);
    b->cold_counted = true;
    return true;
}

/* With `willneed`: keeps WILLNEED windows ahead of the copy at mapping offset `from` within
 * the current piece (which ends at `end`), as long as less than a window of lead is left and
 * the next window is not resident. */
static void read_ahead(struct file_body *b, uint64_t from, uint64_t end)
{
    struct handler_ctx *ctx = b->req->ctx;
    uint64_t window = ctx->prefetch_window;
    if (!advice_wants(&ctx->policy, ACCESS_STREAM, ADVICE_WILLNEED))
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
    if (!residency_missing(b->base, b->cachestat_fd, b->hinted_to, len, window)) {
        b->hinted_to += len < window ? len : window; /* that window is in: look at the next */
        return;
    }
    uint64_t at = b->hinted_to;
    b->hinted_to += len;
    if (ctx->prefetch) { /* a full queue drops it: no read-ahead this time */
        struct prefetch_job job = {.map = file_map_retain(b->map), .cls = ACCESS_STREAM,
                                   .handler = MH_FILES, .nspans = 1, .one = {at, len}};
        prefetch_pool_submit(ctx->prefetch, &job);
        return;
    }
    advice_willneed(&ctx->policy, ctx->metrics, ACCESS_STREAM, b->base, at, len, window);
}

/* Copies body bytes [pos, pos+max) into buf. `streaming` (the content reader): checks each
 * span's residency first, hands a cold one to the helpers and keeps the read-ahead going.
 * Returns the bytes copied (it stops early before a cold span when it has copied something),
 * 0 after handing a cold span to the helpers, or -1 after a failed read (counted). */
static ssize_t fill(struct file_body *b, uint64_t pos, char *buf, size_t max, bool streaming)
{
    struct handler_ctx *ctx = b->req->ctx;
    size_t done = 0;
    uint64_t need = 0; /* the file must still hold this many bytes after the copy */
    seek(b, pos);
    while (done < max && b->cursor < b->n) {
        const struct piece *p = &b->pieces[b->cursor];
        uint64_t in = pos + done - b->cursor_pos;
        size_t k = (size_t)(p->len - in < max - done ? p->len - in : max - done);
        if (p->text) {
            memcpy(buf + done, b->text.data + p->off + in, k);
        } else {
            uint64_t off = p->off + in;
            if (streaming && pos + done != b->resumed_at) {
                uint64_t missing = residency_missing(b->base, b->cachestat_fd, off, k, k);
                if (missing && done)
                    break; /* send what is ready; the next call deals with the cold span */
                b->req->rec.miss_bytes += missing;
                if (missing && hand_to_helpers(b, pos, off, p->len - in))
                    return 0;
            }
            if (!sigbus_guard_copy(buf + done, b->base + off, k)) {
                metrics_read_error(ctx->metrics, MRE_SIGBUS);
                return -1;
            }
            if (off + k > need)
                need = off + k;
            advice_dontneed(&ctx->policy, ctx->metrics, ACCESS_STREAM, b->base, off, k);
            if (streaming)
                read_ahead(b, off + k, p->off + p->len);
        }
        done += k;
        if (in + k == p->len) {
            b->cursor_pos += p->len;
            b->cursor++;
        }
    }
    if (need && !mapped_file_holds(b->map, need)) {
        metrics_read_error(ctx->metrics, MRE_SHORT);
        return -1;
    }
    return done ? (ssize_t)done : -1;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct file_body *b = cls;
    struct handler_ctx *ctx = b->req->ctx;
    metrics_handler_enter(ctx->metrics, MH_FILES); /* faults while copying count for /files */
    ssize_t n = fill(b, pos, buf, max, true);
    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void reader_free(void *cls) { file_body_free(cls); }

static void release_map(void *cls) { file_map_release(cls); }

struct MHD_Response *file_span_response(struct mapped_file *m, uint64_t off, uint64_t len)
{
    const unsigned char *base = mapped_file_info(m)->base;
    void *body = len ? (void *)(base + off) : (void *)""; /* an empty file has no mapping */
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback_cls((size_t)len, body, release_map, m);
    if (!r)
        file_map_release(m);
    return r;
}

/* --files-zero-copy-max: one span short enough goes out of the mapping itself. Consumes b. */
static struct MHD_Response *zero_copy_response(struct file_body *b)
{
    const struct piece *p = &b->pieces[0];
    struct MHD_Response *r = file_span_response(file_map_retain(b->map), p->off, p->len);
    file_body_free(b);
    return r;
}

struct MHD_Response *file_body_response(struct file_body *b, struct request *req,
                                        bool *read_failed)
{
    struct MHD_Response *r = NULL;
    b->req = req;
    *read_failed = false;
    if (b->failed) {
        file_body_free(b);
        return NULL;
    }
    const struct handler_ctx *ctx = req->ctx;
    if (b->n == 1 && !b->pieces[0].text && b->length > 0 &&
        b->length <= ctx->files_zero_copy_max && req->rec.method != MM_HEAD)
        return zero_copy_response(b);
    if (req->rec.method == MM_HEAD || b->length > FILE_BODY_COPY_MAX) {
        /* HEAD: MHD never reads the body, so no block is worth allocating */
        size_t block = req->rec.method == MM_HEAD           ? 1
                       : b->length < FILE_BODY_BLOCK ? (size_t)b->length
                                                     : FILE_BODY_BLOCK;
        r = MHD_create_response_from_callback(b->length, block ? block : 1, reader, b,
                                              reader_free);
        if (!r)
            file_body_free(b);
        return r;
    }
    char *buf = malloc(b->length ? (size_t)b->length : 1);
    if (buf && b->length && fill(b, 0, buf, (size_t)b->length, false) != (ssize_t)b->length)
        *read_failed = true;
    else if (buf)
        r = MHD_create_response_from_buffer((size_t)b->length, buf, MHD_RESPMEM_MUST_FREE);
    if (!r)
        free(buf);
    file_body_free(b); /* the copy is all the response needs */
    return r;
}
