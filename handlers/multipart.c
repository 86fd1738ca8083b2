/* multipart.c - multipart/byteranges framing (RFC 9110 14.6) over slices of a mapping. */
#include "handlers/multipart.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct multipart_body {
    struct mapped_file *map;
    char text[]; /* part headers and closing boundary, pointed to by the iovec */
};

static void body_free(void *cls)
{
    struct multipart_body *b = cls;
    file_map_release(b->map);
    free(b);
}

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

struct MHD_Response *multipart_response(struct mapped_file *m, const struct byte_range *r,
                                        size_t n, char content_type[MULTIPART_CONTENT_TYPE_LEN],
                                        uint64_t *body_len)
{
    const struct file_info *fi = mapped_file_info(m);
    char boundary[32];
    if (n == 0 || n > MULTIPART_MAX_PARTS)
        return NULL;
    make_boundary(fi, r, n, boundary);

    /* per part: CRLF "--" boundary CRLF, two header lines, CRLF; three 20-digit numbers */
    size_t per_part = 2 + 2 + strlen(boundary) + 2 + strlen("Content-Type: ") +
                      strlen(fi->content_type) + 2 + strlen("Content-Range: bytes -/") + 60 +
                      2 + 2 + 1;
    size_t text_cap = n * per_part + strlen(boundary) + 16;
    struct multipart_body *b = malloc(sizeof *b + text_cap);
    struct MHD_IoVec *iov = malloc((2 * n + 1) * sizeof *iov);
    if (!b || !iov) {
        free(b);
        free(iov);
        return NULL;
    }

    size_t used = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += range_length(&r[i]);
        int w = snprintf(b->text + used, text_cap - used,
                         "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %" PRIu64
                         "-%" PRIu64 "/%" PRIu64 "\r\n\r\n",
                         i ? "\r\n" : "", boundary, fi->content_type, r[i].first, r[i].last,
                         fi->size);
        iov[2 * i] = (struct MHD_IoVec){b->text + used, (size_t)w};
        iov[2 * i + 1] = (struct MHD_IoVec){fi->base + r[i].first, (size_t)range_length(&r[i])};
        used += (size_t)w;
    }
    int w = snprintf(b->text + used, text_cap - used, "\r\n--%s--\r\n", boundary);
    iov[2 * n] = (struct MHD_IoVec){b->text + used, (size_t)w};
    total += used + (size_t)w;

    b->map = m;
    struct MHD_Response *resp =
        MHD_create_response_from_iovec(iov, (unsigned)(2 * n + 1), body_free, b);
    free(iov); /* MHD keeps its own copy of the array */
    if (!resp) {
        free(b);
        return NULL;
    }
    snprintf(content_type, MULTIPART_CONTENT_TYPE_LEN, "multipart/byteranges; boundary=%s",
             boundary);
    *body_len = total;
    return resp;
}
