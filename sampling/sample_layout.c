/* sample_layout.c - multipart, JSON and raw framing of a page of records. */
#include "sampling/sample_layout.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "http/listing_text.h"

static void make_boundary(const struct sample_page *p, char out[32])
{
    uint64_t h = 1469598103934665603ull;
    for (const char *s = p->fi->etag; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = (h ^ p->record_size) * 1099511628211ull;
    for (size_t i = 0; i < p->n; i++)
        h = (h ^ p->offsets[i]) * 1099511628211ull;
    snprintf(out, 32, "mmapd-%016" PRIx64, h);
}

static bool layout_multipart(const struct sample_page *p, struct record_body *b,
                             char content_type[SAMPLE_CONTENT_TYPE_LEN])
{
    char boundary[32];
    make_boundary(p, boundary);
    bool ok = true;
    for (size_t i = 0; i < p->n && ok; i++) {
        record_body_printf(b, "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %" PRIu64
                           "-%" PRIu64 "/%" PRIu64 "\r\n\r\n",
                           i ? "\r\n" : "", boundary, p->fi->content_type, p->offsets[i],
                           p->offsets[i] + p->record_size - 1, p->fi->size);
        ok = record_body_end_piece(b);
    }
    record_body_printf(b, "\r\n--%s--\r\n", boundary);
    snprintf(content_type, SAMPLE_CONTENT_TYPE_LEN, "multipart/byteranges; boundary=%s",
             boundary);
    return ok && record_body_end_piece(b);
}

/* A JSON string literal of `s` (quotes and escapes), as jansson writes it; NULL when out of
 * memory. Invalid UTF-8 becomes U+FFFD, as in listings. */
static char *json_literal(const char *s)
{
    struct strbuf utf8 = {0};
    listing_text_put_utf8(&utf8, s, strlen(s));
    size_t len = 0;
    char *text = strbuf_take(&utf8, &len);
    json_t *str = text ? json_stringn(text, len) : NULL;
    free(text);
    char *lit = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
    json_decref(str);
    return lit;
}

static bool layout_json(const struct sample_page *p, struct record_body *b,
                        char content_type[SAMPLE_CONTENT_TYPE_LEN])
{
    char *file = json_literal(p->file);
    char *etag = json_literal(p->fi->etag);
    if (file && etag)
        record_body_printf(b, "{\"file\":%s,\"etag\":%s,\"seed\":\"%" PRIu64 "\",\"records\":[",
                           file, etag, p->seed);
    else
        b->text.failed = true;
    free(file);
    free(etag);
    bool ok = true;
    for (size_t i = 0; i < p->n && ok; i++) {
        record_body_printf(b, "%s{\"offset\":%" PRIu64 ",\"data\":\"", i ? "\"}," : "",
                           p->offsets[i]);
        ok = record_body_end_piece(b);
    }
    record_body_text(b, p->n ? "\"}]}\n" : "]}\n", p->n ? 5 : 3);
    snprintf(content_type, SAMPLE_CONTENT_TYPE_LEN, "application/json");
    return ok && record_body_end_piece(b);
}

static bool layout_raw(const struct sample_page *p, struct record_body *b,
                       char content_type[SAMPLE_CONTENT_TYPE_LEN])
{
    bool ok = true;
    for (size_t i = 0; i <= p->n && ok; i++)
        ok = record_body_end_piece(b);
    snprintf(content_type, SAMPLE_CONTENT_TYPE_LEN, "application/octet-stream");
    return ok;
}

bool sample_layout(const struct sample_page *p, struct record_body *b,
                   char content_type[SAMPLE_CONTENT_TYPE_LEN])
{
    if (p->format == SAMPLE_FORMAT_MULTIPART && p->n == 0) {
        free(p->offsets);
        return false;
    }
    enum record_encoding enc = p->format == SAMPLE_FORMAT_JSON ? RECORD_BASE64 : RECORD_RAW;
    if (!record_body_init(b, p->base, p->record_size, enc, p->offsets, p->n))
        return false;
    bool ok;
    switch (p->format) {
    case SAMPLE_FORMAT_JSON: ok = layout_json(p, b, content_type); break;
    case SAMPLE_FORMAT_RAW: ok = layout_raw(p, b, content_type); break;
    case SAMPLE_FORMAT_MULTIPART:
    default: ok = layout_multipart(p, b, content_type); break;
    }
    if (!ok || !record_body_complete(b)) {
        record_body_free(b);
        return false;
    }
    return true;
}

char *sample_layout_offsets_header(const uint64_t *offsets, size_t n)
{
    struct strbuf s = {0};
    strbuf_puts(&s, "[");
    for (size_t i = 0; i < n && s.len <= SAMPLE_OFFSETS_HEADER_MAX; i++)
        strbuf_printf(&s, "%s%" PRIu64, i ? "," : "", offsets[i]);
    strbuf_puts(&s, "]");
    if (s.len > SAMPLE_OFFSETS_HEADER_MAX) {
        strbuf_free(&s);
        return NULL;
    }
    return strbuf_take(&s, NULL);
}
