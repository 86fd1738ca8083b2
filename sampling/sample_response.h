/* sample_response.h - a record body as an MHD response: zero-copy iovec or copying reader.
 *
 * sample_response_create() turns a built record body (record_body.h) into a response and
 * takes ownership of the body and of the mapping reference `m` (both released when MHD
 * frees the response) on success; on failure it returns NULL and both stay with the caller.
 *
 *   SAMPLE_SHAPE_IOVEC   MHD_create_response_from_iovec() over the text pieces and the
 *                        mapping: the kernel copies straight from the page cache, no byte is
 *                        read in user space. RECORD_RAW bodies only. A file truncated in place
 *                        while it is sent can put up to a page of zeros on the wire before
 *                        the kernel's copy fails (EFAULT) and the connection is closed. MHD
 *                        copies the array into the connection's memory pool (16 B per
 *                        element) and stalls above 1024 elements under epoll, so the caller
 *                        keeps 2n+1 elements small (n <= --sample-iovec-max <= 511, checked
 *                        against --connection-memory).
 *   SAMPLE_SHAPE_READER  MHD_create_response_from_callback() with the exact length and a
 *                        SAMPLE_READER_BLOCK buffer: each call copies (or base64-encodes) the
 *                        next block with record_body_read() through held_copy.h (the SIGBUS
 *                        guard, then the check that the file still holds what was copied: a
 *                        truncation that keeps part of a page reads zeros without a signal).
 *                        A SIGBUS or a shrunk file counts
 *                        mmapd_read_errors_total{reason="sigbus"|"short"} in `metrics` and
 *                        ends the response with an error: MHD closes the connection, the
 *                        client sees a short body. A body that reads its records through
 *                        the descriptor (record_body_read_through()) always takes this
 *                        shape; a read of it that fails or comes short counts
 *                        mmapd_read_errors_total{reason="short"}. A body that copies out of
 *                        the mapping counts the page faults of each block (getrusage), and
 *                        when they reach a quarter of the block's records (records in the
 *                        page cache but not in mmapd's page tables) reads the rest through
 *                        the descriptor.
 *
 * An empty body (length 0) always becomes an empty buffer response, which also holds both.
 */
#ifndef MMAPD_SAMPLE_RESPONSE_H
#define MMAPD_SAMPLE_RESPONSE_H

#include <microhttpd.h>

#include "filedata/file_map.h"
#include "metrics/metrics.h"
#include "sampling/record_body.h"

#define SAMPLE_READER_BLOCK (256 * 1024)
/* --sample-iovec-max's default: every sample is copied, so that a file truncated in place
 * never sends zeros (docs/sample.md: two response shapes) */
#define SAMPLE_IOVEC_DEFAULT 0

enum sample_shape { SAMPLE_SHAPE_IOVEC, SAMPLE_SHAPE_READER };

struct MHD_Response *sample_response_create(struct record_body *body, struct mapped_file *m,
                                            enum sample_shape shape, struct metrics *metrics);

#endif
