/* sample_layout.h - the three /sample body formats, laid out as a record body (pure).
 *
 * sample_layout() fills `b` for a page of records (format, file, seed, record size, offsets;
 * it takes ownership of `offsets`, as record_body_init() does) and writes the body's
 * Content-Type to `content_type`:
 *
 *   multipart  multipart/byteranges; boundary=B. For each record a part whose headers are
 *              the file's Content-Type and "Content-Range: bytes FIRST-LAST/FILESIZE", then
 *              the record's bytes; CRLF framing as in /files (RFC 9110 14.6), closing
 *              boundary last. B is "mmapd-" and 16 hex digits hashed from the ETag, the
 *              record size and the offsets, so the same page gives the same bytes.
 *              n must be >= 1: a multipart body needs a part (RFC 2046 5.1.1).
 *   json       application/json: {"file":F,"etag":E,"seed":"SEED","records":[{"offset":O,
 *              "data":BASE64},...]} and a newline; F is the relative path (invalid UTF-8
 *              shown as U+FFFD), E the ETag with its quotes, SEED the seed as a string of
 *              decimal digits (a 64-bit seed is exact in every JSON parser only as a string:
 *              jansson refuses integers above 2^63 - 1, JavaScript rounds above 2^53).
 *   raw        application/octet-stream: the records back to back, nothing between them.
 *
 * false when out of memory (the body is then freed).
 *
 * sample_layout_offsets_header() is the raw format's Sample-Offsets value, the offsets as a JSON
 * array ("[0,4096]"); NULL when it would be longer than SAMPLE_OFFSETS_HEADER_MAX bytes (or
 * out of memory), which the handler answers with 400 naming another format.
 */
#ifndef MMAPD_SAMPLE_LAYOUT_H
#define MMAPD_SAMPLE_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filedata/file_map.h"
#include "sampling/record_body.h"
#include "sampling/sample_query.h"

#define SAMPLE_CONTENT_TYPE_LEN 80
#define SAMPLE_OFFSETS_HEADER_MAX 8000

struct sample_page {
    enum sample_format format;
    const char *file;           /* relative path, as decoded from the URL */
    const struct file_info *fi;
    const unsigned char *base; /* the file's mapping (NULL for an empty file) */
    uint64_t seed;
    uint64_t record_size;
    uint64_t *offsets;          /* n entries, malloc'd; ownership passes to the body */
    size_t n;
};

bool sample_layout(const struct sample_page *p, struct record_body *b,
                   char content_type[SAMPLE_CONTENT_TYPE_LEN]);

char *sample_layout_offsets_header(const uint64_t *offsets, size_t n);

#endif
