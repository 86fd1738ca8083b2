/* multipart.h - the multipart/byteranges body of a multi-range response (RFC 9110 14.6).
 *
 * multipart_body() lays out, for each range, a small header part (boundary, Content-Type,
 * Content-Range) and the range's span of the mapping, then the closing boundary, as a
 * file_body (file_body.h sends it). It takes the caller's mapping reference in every case;
 * NULL when out of memory. `content_type` receives "multipart/byteranges; boundary=...". The
 * boundary is derived from the ETag and the ranges, so the same request gives the same bytes.
 * n is at most MULTIPART_MAX_PARTS (the largest --max-ranges).
 */
#ifndef MMAPD_MULTIPART_H
#define MMAPD_MULTIPART_H

#include <stddef.h>

#include "filedata/file_map.h"
#include "handlers/file_body.h"
#include "http/range.h"

#define MULTIPART_MAX_PARTS 511
#define MULTIPART_CONTENT_TYPE_LEN 80

struct file_body *multipart_body(struct mapped_file *m, const struct body_env *env,
                                 const struct byte_range *r, size_t n,
                                 char content_type[MULTIPART_CONTENT_TYPE_LEN]);

#endif
