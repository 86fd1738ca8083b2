/* file_body.h - a /files response body: text pieces and spans of a mapping, sent so that the
 * client never gets a byte the file did not hold and no HTTP thread waits on the disk.
 *
 * A body is a sequence of pieces, each either text (the framing of a multipart body) or a
 * span [off, off+len) of the file. A client never gets a byte the file did not hold when it
 * was read: a file truncated in place reads as zeros in the rest of its last page of a
 * mapping without any signal, so every read is checked against the file's size.
 *
 * file_body_response() makes the MHD response:
 *  - a body of at most FILE_BODY_COPY_MAX bytes (FILE_BODY_TLS_BLOCK under TLS) is read at once into one buffer with
 *    preadv2(RWF_NOWAIT): one system call per span that copies, stops at the file's end (a
 *    truncated file reads short) and checks residency (a page not in the page cache fails
 *    the read at once: BODY_COLD, and the caller hands the spans to the prefetch helpers,
 *    then asks again, or, with file_body_fill_spans(), has the helper read the spans into the
 *    body's buffer); then one size check (mapped_file_holds()), since a truncation that
 *    runs during a read can zero the tail of the folio it copies while the read still goes
 *    by the old size. Where RWF_NOWAIT is not supported, a cachestat/mincore check comes
 *    first and a plain pread(2) reads;
 *  - a larger body is read from the file's mapping by a content reader FILE_BODY_BLOCK bytes
 *    (FILE_BODY_TLS_BLOCK under TLS) at a time, under the SIGBUS guard and followed by a size check (mapped_file_holds()).
 *    Before it copies a block whose pages are not resident, it suspends the connection and
 *    hands the block (one prefetch window of it) to the prefetch helpers, which resume it
 *    when the pages are in: the HTTP thread goes on with other connections. With the class's
 *    `willneed` advice it keeps WILLNEED windows ahead of the send (given on the helpers,
 *    ADVICE_PREFETCH_WINDOWS windows of read_ahead_kb at a time, only while the next window
 *    is not resident), so a long download keeps the device busy without reading the file up
 *    front; with `dontneed` it drops this process's page table entries behind the copy, so
 *    RSS stays bounded while huge files stream through. While other requests are being
 *    answered (a short answer completed within the last FILE_BODY_OFFLOAD_LINGER blocks), a
 *    block whose pages are all in the page cache or on their way (cachestat) is not copied
 *    by the HTTP thread: a helper reads it (up to FILE_BODY_OFFLOAD_BLOCK bytes over plain
 *    HTTP) with pread(2) into libmicrohttpd's send buffer for
 *    the response (the buffer its content reader is given on every call) while the
 *    connection is suspended, and the reader hands it over, after the size check, when it is
 *    called again at that offset with that buffer (anything else: it copies the block
 *    itself). The HTTP thread then only sends, and the short requests it also serves do not
 *    wait behind a copy (docs/performance.md, Warm requests during a cold download). A failed
 *    read there ends the response early: the connection is closed and the client sees a
 *    short body.
 * With --files-zero-copy-max, a body that is one span of at most that many bytes is sent
 * straight from the mapping instead (no copy, no size check: for files replaced by rename).
 * mmapd_read_errors_total{reason="sigbus"|"short"} counts failed reads. HEAD never reads the
 * body. Functions are not thread safe on one body; a body belongs to one request.
 */
#ifndef MMAPD_FILE_BODY_H
#define MMAPD_FILE_BODY_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "filedata/file_map.h"
#include "handlers/request.h"

/* Copied at once up to here: a warm 1 MiB range takes half the server CPU it takes through
 * the content reader (docs/performance.md), at the price of up to this much heap per
 * response in flight. */
#define FILE_BODY_COPY_MAX (1024u << 10)
#define FILE_BODY_BLOCK (256u << 10)
/* The send buffer of a streamed body over plain HTTP while the offload is on: a block a
 * helper reads fills it (a quarter of the helpers' round trips of FILE_BODY_BLOCK blocks);
 * the HTTP thread's own copies fill FILE_BODY_BLOCK of it, so a download never offloaded
 * touches only that much of it. */
#define FILE_BODY_OFFLOAD_BLOCK (1024u << 10)
/* A streamed body's blocks are read by a helper into libmicrohttpd's send buffer, instead of
 * copied by the HTTP thread, while other requests are being answered: from a short answer's
 * completion until this many blocks later (file_body.c, offload()). */
#define FILE_BODY_OFFLOAD_LINGER 8u
/* A long cold stream whose request takes the stream class's `auto` measures its cost in
 * segments of this many body bytes, and each segment runs under advice_auto_pick()'s arm:
 * the first long download on a device already finds out which arm pays there
 * (docs/operating.md, Hints). */
#define FILE_BODY_SEGMENT (32u << 20)
/* Under TLS a body longer than this streams through the content reader in blocks of this
 * size: GnuTLS encrypts 16 KiB records from whatever buffer it is given, so a larger buffer
 * only holds memory while the records go out (a 1 MiB range read at once then costs 1 MiB per
 * connection for the whole send, and the heap's growth and trimming under many of them
 * costs more than the copy: docs/performance.md, HTTPS). nginx's output buffers are 2 x 32 KiB. */
#define FILE_BODY_TLS_BLOCK (64u << 10)

struct file_body;
struct prefetch_span;

/* What a body needs of the server, given when it is made (copied): the rest it asks of its
 * request (request.h: the hand-off to the helpers, the hints decided once, the counts). */
struct body_env {
    struct metrics *metrics;
    const struct advice_policy *policy; /* the stream class's dontneed and willneed */
    size_t window;        /* bytes per WILLNEED window: the device's read_ahead_kb */
    size_t zero_copy_max; /* --files-zero-copy-max */
    bool tls;             /* HTTPS: read at once up to FILE_BODY_TLS_BLOCK, then streamed */
};

/* A body over the mapping `m`, taking the caller's reference; NULL when out of memory (the
 * reference is then released). */
struct file_body *file_body_new(struct mapped_file *m, const struct body_env *env);

/* Append a piece. An allocation failure marks the body failed: file_body_response() then
 * returns NULL. */
void file_body_span(struct file_body *b, uint64_t off, uint64_t len);
void file_body_printf(struct file_body *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

uint64_t file_body_length(const struct file_body *b);

/* Whether the body will be read at once (not streamed, not sent from the mapping). */
bool file_body_copied(const struct file_body *b, const struct request *req);

/* A cold range streams as it arrives: a body that would be read at once, one span of more
 * than FILE_BODY_STREAM_MIN bytes with pages of it not in the page cache (cachestat, then
 * mincore on the mapping; without cachestat, Linux before 6.5, it is read at once), whose request
 * takes the range class's `willneed` (request_willneed(), asked here), is streamed instead,
 * so the client gets its first bytes while the disk reads the rest. The caller then hands
 * the span to the helpers as the range class, read through the descriptor: they hint its
 * first PREFETCH_SPLIT bytes and the rest as two I/Os and resume the connection once the
 * first is in. True when the body is now streamed that way. Its content reader copies the
 * resident prefix of each block and hands the rest back to the helpers while its pages are
 * still being read, so no HTTP thread waits for them. Without `willneed` the body stays one
 * read at once. */
#define FILE_BODY_STREAM_MIN (256u << 10)
bool file_body_stream_cold(struct file_body *b, struct request *req);

enum body_result {
    BODY_OK,      /* the response */
    BODY_COLD,    /* a span is not in the page cache: nothing sent, the body is the caller's */
    BODY_CHANGED, /* the file no longer holds a span (counted as a read error): nothing sent,
                     the caller may look the file up again and answer from what it holds */
    BODY_FAILED,  /* the body failed or memory ran out */
};

/* The response for `req`, taking the body (and its entry reference) in every case but
 * BODY_COLD; NULL unless BODY_OK (queueing NULL closes the connection). A request handed off
 * once (REQUEST_HANDED_OFF: its spans just brought in by a helper, or the helpers' queue was
 * full) reads a cold span anyway, waiting for the disk (counted:
 * mmapd_blocking_reads_total). */
struct MHD_Response *file_body_response(struct file_body *b, struct request *req,
                                        enum body_result *res);

void file_body_free(struct file_body *b);

/* A cold body read at once, handed to a helper that reads it straight into the response:
 * allocates the body's buffer (text pieces copied in) and writes one prefetch span per span
 * of the file into `out` (room for file_body_pieces() of them), each saying where its bytes
 * go; `*failed` is the flag the helper sets when a span was not read whole. Returns how many
 * spans, 0 when out of memory. The next file_body_response() sends that buffer after the
 * size check alone, or reads again itself when the flag is set. */
size_t file_body_pieces(const struct file_body *b);
size_t file_body_fill_spans(struct file_body *b, struct prefetch_span *out, bool **failed);
/* The entry the body reads (its reference is the body's). */
const struct mapped_file *file_body_map(const struct file_body *b);

/* A response that announces `len` body bytes and never sends any (a 304's, whose
 * Content-Length must be the 200's). */
struct MHD_Response *file_body_headers_only(uint64_t len);

#endif
