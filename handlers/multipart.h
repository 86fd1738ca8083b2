/* multipart.h - a multipart/byteranges body whose parts point into the mapping.
 *
 * multipart_response() builds an iovec response: for each range a small header chunk
 * (boundary, Content-Type, Content-Range) and a slice of the mapping, then the closing
 * boundary: 2n+1 elements, so n <= MULTIPART_MAX_PARTS keeps MHD under IOV_MAX. On success
 * the response owns the caller's mapping reference (released when MHD frees the response)
 * `content_type` holds "multipart/byteranges; boundary=..." and *body_len the body's length.
 * On failure it returns NULL
 * and the reference stays with the caller. The boundary is derived from the ETag and the
 * ranges, so the same request gives the same bytes.
 */
#ifndef MMAPD_MULTIPART_H
#define MMAPD_MULTIPART_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers/file_map.h"
#include "handlers/range.h"

#define MULTIPART_MAX_PARTS 511
#define MULTIPART_CONTENT_TYPE_LEN 80

struct MHD_Response *multipart_response(struct mapped_file *m, const struct byte_range *r,
                                        size_t n, char content_type[MULTIPART_CONTENT_TYPE_LEN],
                                        uint64_t *body_len);

#endif
