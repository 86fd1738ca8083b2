/* multipart.c - multipart/byteranges framing (RFC 9110 14.6) around spans of a mapping. */
#include "handlers/multipart.h"

#include <inttypes.h>
#include <stdio.h>

static void make_boundary(const struct file_info *fi, const struct byte_range *r, size_t n,
                          char out[32])
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = fi->etag; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (size_t i = 0; i < n; i++)
        h = ((h ^ r[i].first) * 1099511628211ull ^ r[i].last) * 1099511628211ull;
    snprintf(out, 32, "mmapd-%016" PRIx64, h);
}

struct file_body *multipart_body(struct mapped_file *m, const struct byte_range *r, size_t n,
                                 char content_type[MULTIPART_CONTENT_TYPE_LEN])
{
    const struct file_info *fi = mapped_file_info(m);
    char boundary[32];
    make_boundary(fi, r, n, boundary);
    struct file_body *b = file_body_new(m);
    if (!b)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        file_body_printf(b,
                         "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %" PRIu64
                         "-%" PRIu64 "/%" PRIu64 "\r\n\r\n",
                         i ? "\r\n" : "", boundary, fi->content_type, r[i].first, r[i].last,
                         fi->size);
        file_body_span(b, r[i].first, range_length(&r[i]));
    }
    file_body_printf(b, "\r\n--%s--\r\n", boundary);
    snprintf(content_type, MULTIPART_CONTENT_TYPE_LEN, "multipart/byteranges; boundary=%s",
             boundary);
    return b;
}
