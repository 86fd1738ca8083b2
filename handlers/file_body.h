/* file_body.h - a /files response body: text pieces and spans of a mapping, sent so that the
 * client never gets a byte the file did not hold and no HTTP thread waits on the disk.
 *
 * A body is a sequence of pieces, each either text (the framing of a multipart body) or a
 * span [off, off+len) of the mapping. Mapped bytes are copied out of the mapping only through
 * sigbus_guard_copy(), and every copy is followed by a size check of the file
 * (mapped_file_holds()): a file truncated in place reads as zeros in the rest of its last
 * page without any signal, so a copy is sent only if the file still held all of it after the
 * copy. A failed read ends the response early: the connection is closed and the client sees
 * a short body; mmapd_read_errors_total{reason="sigbus"|"short"} counts it.
 *
 * file_body_response() makes the MHD response:
 *  - a body of at most FILE_BODY_COPY_MAX bytes is copied at once into one buffer (the
 *    caller made its pages resident first when they were cold);
 *  - a larger body is read by a content reader FILE_BODY_BLOCK bytes at a time. Before it
 *    copies a block whose pages are not resident, it suspends the connection and hands the
 *    block (one prefetch window of it) to the prefetch helpers, which resume it when the
 *    pages are in: the HTTP thread goes on with other connections. With the class's
 *    `willneed` advice it keeps WILLNEED windows ahead of the send (given on the helpers,
 *    ADVICE_PREFETCH_WINDOWS windows of read_ahead_kb at a time, only while the next window
 *    is not resident), so a long download keeps the device busy without reading the file up
 *    front; with `dontneed` it drops this process's page table entries behind the copy, so
 *    RSS stays bounded while huge files stream through.
 * With --files-zero-copy-max, a body that is one span of at most that many bytes is sent
 * straight from the mapping instead (no copy, no size check: for files replaced by rename).
 * HEAD never reads the body. Functions are not thread safe on one body; a body belongs to one
 * request.
 */
#ifndef MMAPD_FILE_BODY_H
#define MMAPD_FILE_BODY_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "handlers/file_map.h"
#include "handlers/request.h"

/* Copied at once up to here: a warm 1 MiB range takes half the server CPU it takes through
 * the content reader (README, Performance), at the price of up to this much heap per
 * response in flight. */
#define FILE_BODY_COPY_MAX (1024u << 10)
#define FILE_BODY_BLOCK (256u << 10)

struct file_body;

/* A body over the mapping `m`, taking the caller's reference; NULL when out of memory (the
 * reference is then released). */
struct file_body *file_body_new(struct mapped_file *m);

/* Append a piece. An allocation failure marks the body failed: file_body_response() then
 * returns NULL. */
void file_body_span(struct file_body *b, uint64_t off, uint64_t len);
void file_body_printf(struct file_body *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

uint64_t file_body_length(const struct file_body *b);

/* The response for `req`, taking the body (and its mapping reference) in every case; NULL
 * when the body failed, memory ran out or the copy of a body copied at once failed (counted
 * as a read error; *read_failed is then true: nothing was sent yet, so the caller may look
 * the file up again and answer from what it holds now). Queueing NULL closes the
 * connection. */
struct MHD_Response *file_body_response(struct file_body *b, struct request *req,
                                        bool *read_failed);

void file_body_free(struct file_body *b);

/* A response whose body is [off, off+len) of the mapping itself, not copied (nothing checks
 * the file's size after it), holding the caller's reference `m` until libmicrohttpd frees
 * it; NULL (the reference released) when out of memory. A span of 0 bytes needs no mapping. */
struct MHD_Response *file_span_response(struct mapped_file *m, uint64_t off, uint64_t len);

#endif
