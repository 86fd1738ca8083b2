/* record_body.c - layout of text pieces and records; the iovec view and the copying reader. */
#include "sampling/record_body.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/base64.h"

#define B64_CHUNK_GROUPS 4096 /* 12 KiB of input per guarded copy when encoding */

bool record_body_init(struct record_body *b, const unsigned char *base, uint64_t record_size,
                      enum record_encoding enc, uint64_t *offsets, size_t n)
{
    memset(b, 0, sizeof *b);
    b->base = base;
    b->record_size = record_size;
    b->data_len = enc == RECORD_BASE64 ? base64_encoded_len(record_size) : record_size;
    b->enc = enc;
    b->fd = -1;
    b->n = n;
    b->offsets = offsets;
    b->text_end = malloc((n + 1) * sizeof *b->text_end);
    if (!b->text_end) {
        record_body_free(b);
        return false;
    }
    return true;
}

void record_body_free(struct record_body *b)
{
    free(b->offsets);
    free(b->text_end);
    strbuf_free(&b->text);
    memset(b, 0, sizeof *b);
}

void record_body_read_through(struct record_body *b, int fd)
{
    b->fd = fd;
}

void record_body_text(struct record_body *b, const char *s, size_t len)
{
    strbuf_append(&b->text, s, len);
}

void record_body_printf(struct record_body *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&b->text, fmt, ap);
    va_end(ap);
}

bool record_body_end_piece(struct record_body *b)
{
    if (b->text.failed || b->pieces_done > b->n)
        return false;
    b->text_end[b->pieces_done++] = b->text.len;
    if (b->pieces_done == b->n + 1)
        b->length = (uint64_t)b->text.len + (uint64_t)b->n * b->data_len;
    return true;
}

bool record_body_complete(const struct record_body *b)
{
    return !b->text.failed && b->text_end && b->pieces_done == b->n + 1;
}

static size_t text_begin(const struct record_body *b, size_t i)
{
    return i ? b->text_end[i - 1] : 0;
}

/* Where T_i starts in the body. */
static uint64_t text_pos(const struct record_body *b, size_t i)
{
    return (uint64_t)text_begin(b, i) + (uint64_t)i * b->data_len;
}

size_t record_body_iovec(const struct record_body *b, struct MHD_IoVec *iov)
{
    size_t k = 0;
    for (size_t i = 0; i <= b->n; i++) {
        size_t len = b->text_end[i] - text_begin(b, i);
        if (len)
            iov[k++] = (struct MHD_IoVec){b->text.data + text_begin(b, i), len};
        if (i < b->n && b->record_size)
            iov[k++] = (struct MHD_IoVec){b->base + b->offsets[i], (size_t)b->record_size};
    }
    return k;
}

/* File bytes [off, off + len) into dst: from the descriptor when the body reads through it,
 * else out of the mapping through `copy`. False when the file did not hold them all. Either
 * way `copy` remembers how far into the file it read, so that held_copy_done() checks the
 * file still holds it (a truncation in place during a read zeroes what it has not copied). */
static bool file_bytes(const struct record_body *b, struct held_copy *copy, void *dst,
                       uint64_t off, size_t len)
{
    if (b->fd < 0)
        return held_copy(copy, dst, off, len);
    if (off + len > copy->end)
        copy->end = off + len;
    char *to = dst;
    while (len > 0) {
        ssize_t k = pread(b->fd, to, len, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        to += k;
        off += (uint64_t)k;
        len -= (size_t)k;
    }
    return true;
}

/* Encoded bytes [q, q + take) of record i into out; false when its bytes could not be
 * read. */
static bool read_base64(const struct record_body *b, struct held_copy *copy, size_t i,
                        uint64_t q, char *out, size_t take)
{
    const uint64_t src = b->offsets[i];
    const uint64_t size = b->record_size;
    unsigned char in[3 * B64_CHUNK_GROUPS];
    while (take > 0) {
        uint64_t group = q / 4, skip = q % 4, at = group * 3;
        if (skip || take < 4) { /* a piece of one group */
            size_t inlen = (size_t)(size - at < 3 ? size - at : 3);
            char enc[4];
            if (!file_bytes(b, copy, in, src + at, inlen))
                return false;
            base64_encode(in, inlen, enc);
            size_t k = (size_t)(4 - skip) < take ? (size_t)(4 - skip) : take;
            memcpy(out, enc + skip, k);
            out += k;
            q += k;
            take -= k;
            continue;
        }
        size_t groups = take / 4 < B64_CHUNK_GROUPS ? take / 4 : B64_CHUNK_GROUPS;
        size_t inlen = (size_t)(size - at < 3 * (uint64_t)groups ? size - at : 3 * groups);
        if (!file_bytes(b, copy, in, src + at, inlen))
            return false;
        size_t w = base64_encode(in, inlen, out);
        out += w;
        q += w;
        take -= w;
    }
    return true;
}

ssize_t record_body_read(const struct record_body *b, struct held_copy *copy, uint64_t pos,
                         char *buf, size_t max)
{
    if (pos >= b->length || max == 0)
        return 0;
    if (max > b->length - pos)
        max = (size_t)(b->length - pos);
    if (max > SSIZE_MAX)
        max = SSIZE_MAX;
    /* the last text piece T_i that starts at or before pos */
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (text_pos(b, mid) <= pos)
            lo = mid;
        else
            hi = mid - 1;
    }
    size_t piece = 2 * lo; /* even: T_(piece/2); odd: D_(piece/2) */
    uint64_t q = pos - text_pos(b, lo);
    size_t done = 0;
    while (done < max) {
        size_t i = piece / 2;
        uint64_t len = piece % 2 ? b->data_len : b->text_end[i] - text_begin(b, i);
        if (q >= len) {
            q -= len;
            piece++;
            continue;
        }
        size_t take = len - q < max - done ? (size_t)(len - q) : max - done;
        if (piece % 2 == 0)
            memcpy(buf + done, b->text.data + text_begin(b, i) + q, take);
        else if (b->enc == RECORD_RAW) {
            if (!file_bytes(b, copy, buf + done, b->offsets[i] + q, take))
                return -1;
        } else if (!read_base64(b, copy, i, q, buf + done, take)) {
            return -1;
        }
        done += take;
        q = 0;
        piece++;
    }
    return (ssize_t)done;
}
