/* record_body.h - a /sample response body: text pieces around records of a mapping.
 *
 * A body of n records is T_0 D_0 T_1 D_1 ... T_{n-1} D_{n-1} T_n, where each T_i is a text
 * piece (possibly empty: multipart headers, JSON punctuation) and D_i is record i: the
 * `record_size` bytes of the mapping at `base` + offsets[i], either as they are
 * (RECORD_RAW) or base64-encoded (RECORD_BASE64, base64.h). Its exact length is known once
 * built, before anything is sent. It can be sent two ways:
 *
 *   record_body_iovec()  zero copy: the non-empty pieces as an iovec pointing into the text
 *                        and the mapping (RECORD_RAW only); at most 2n+1 elements.
 *   record_body_read()   copying: any span [pos, pos+max) into a buffer, as an MHD content
 *                        reader needs. Mapped bytes are read only through held_copy()
 *                        (`copy`, over the same mapping), so a file truncated under the body
 *                        makes the read fail, never the process die; the caller then asks
 *                        held_copy_done() whether the file still holds what was copied.
 *                        After record_body_read_through(), records are read with pread(2)
 *                        from the file's descriptor instead, and a read that comes short
 *                        (the file shrank) or fails makes record_body_read() fail; `copy`
 *                        still tracks how far it read, for held_copy_done().
 *                        Stateless: any position, any order, any thread.
 *
 * Building: record_body_init() takes ownership of `offsets` (malloc'd, n entries; freed by
 * record_body_free(), also on failure); then record_body_text() / record_body_printf()
 * append to the current piece and record_body_end_piece() closes it, n+1 times in all
 * (T_0 .. T_n), which computes the length. An allocation failure leaves the body failed:
 * record_body_end_piece() then returns false.
 */
#ifndef MMAPD_RECORD_BODY_H
#define MMAPD_RECORD_BODY_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/strbuf.h"
#include "filedata/held_copy.h"

enum record_encoding { RECORD_RAW, RECORD_BASE64 };

struct record_body {
    const unsigned char *base;
    uint64_t record_size;  /* S: bytes of each record in the mapping */
    uint64_t data_len;     /* bytes of each D_i in the body: S, or 4 * ceil(S / 3) */
    enum record_encoding enc;
    int fd;                /* >= 0: records are read from this descriptor, not the mapping */
    size_t n;
    uint64_t *offsets;
    struct strbuf text;    /* T_0 .. T_n back to back */
    size_t *text_end;      /* n + 1 entries: T_i ends at text_end[i] */
    size_t pieces_done;    /* text pieces closed so far */
    uint64_t length;       /* the whole body, valid once all n + 1 pieces are closed */
};

bool record_body_init(struct record_body *b, const unsigned char *base, uint64_t record_size,
                      enum record_encoding enc, uint64_t *offsets, size_t n);
void record_body_free(struct record_body *b);

void record_body_text(struct record_body *b, const char *s, size_t len);
void record_body_printf(struct record_body *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool record_body_end_piece(struct record_body *b);

/* Reads the records with pread(2) from `fd` (the mapped file's descriptor, which must
 * outlive the body) instead of copying them out of the mapping: for records that are in the
 * page cache but not in this process's page tables (a request that was cold), one read
 * costs a fraction of the page faults a copy takes. record_body_iovec() must not be used
 * then. */
void record_body_read_through(struct record_body *b, int fd);

/* True when all n + 1 pieces are closed and nothing failed. */
bool record_body_complete(const struct record_body *b);

/* Fills iov with the non-empty pieces in order and returns how many (0 for an empty body);
 * RECORD_RAW only, `iov` must have room for 2n+1 elements. The elements point into `b`'s
 * text and the mapping: both must outlive their use. */
size_t record_body_iovec(const struct record_body *b, struct MHD_IoVec *iov);

/* Copies body bytes [pos, pos + k) to buf with k = min(max, length - pos) and returns k
 * (0 when pos >= length); -1 when reading the mapping raised SIGBUS, or a read through the
 * descriptor failed or came short. */
ssize_t record_body_read(const struct record_body *b, struct held_copy *copy, uint64_t pos,
                         char *buf, size_t max);

#endif
