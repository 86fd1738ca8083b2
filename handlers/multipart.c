/* multipart.c - multipart/byteranges framing (RFC 9110 14.6) around spans of a mapping. */
#include "handlers/multipart.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/fnv.h"

static void make_boundary(const struct file_info *fi, const struct byte_range *r, size_t n,
                          char out[32])
{
    uint64_t h = fnv1a(FNV1A_START, fi->etag, strlen(fi->etag));
    for (size_t i = 0; i < n; i++)
        h = fnv1a_u64(fnv1a_u64(h, r[i].first), r[i].last);
    snprintf(out, 32, "mmapd-%016" PRIx64, h);
}

struct file_body *multipart_body(struct mapped_file *m, const struct body_env *env,
                                 const struct byte_range *r, size_t n,
                                 char content_type[MULTIPART_CONTENT_TYPE_LEN])
{
    const struct file_info *fi = mapped_file_info(m);
    char boundary[32];
    make_boundary(fi, r, n, boundary);
    struct file_body *b = file_body_new(m, env);
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
