/* listing_text.c - UTF-8 repair, HTML escaping, href percent-encoding, Accept, RFC 3339. */
#include "http/listing_text.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD in UTF-8 */

static bool in(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

size_t listing_text_utf8_seq_len(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    /* RFC 3629 section 4: the second byte's range depends on the first */
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    if (in(c, 0xC2, 0xDF))
        len = 2;
    else if (in(c, 0xE0, 0xEF)) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (in(c, 0xF0, 0xF4)) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* no overlong forms */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else
        return 0;
    if (n < len || !in(s[1], lo, hi))
        return 0;
    for (size_t i = 2; i < len; i++)
        if (!in(s[i], 0x80, 0xBF))
            return 0;
    return len;
}

void listing_text_put_utf8(struct strbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t run = i; /* copy valid stretches in one append */
        size_t len;
        while (run < n && (len = listing_text_utf8_seq_len(p + run, n - run)) > 0)
            run += len;
        strbuf_append(b, s + i, run - i);
        i = run;
        if (i < n) {
            strbuf_append(b, REPLACEMENT, sizeof REPLACEMENT - 1);
            i++;
        }
    }
}

void listing_text_put_html(struct strbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t len = listing_text_utf8_seq_len(p + i, n - i);
        if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7F))) {
            strbuf_append(b, REPLACEMENT, sizeof REPLACEMENT - 1);
            i++;
            continue;
        }
        if (len == 1) {
            switch (p[i]) {
            case '&': strbuf_puts(b, "&amp;"); break;
            case '<': strbuf_puts(b, "&lt;"); break;
            case '>': strbuf_puts(b, "&gt;"); break;
            case '"': strbuf_puts(b, "&quot;"); break;
            case '\'': strbuf_puts(b, "&#39;"); break;
            default: strbuf_append(b, s + i, 1); break;
            }
        } else
            strbuf_append(b, s + i, len);
        i += len;
    }
}

static bool unreserved_or_slash(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

void listing_text_put_href(struct strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved_or_slash(c)) {
            strbuf_append(b, s + i, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            strbuf_append(b, esc, sizeof esc);
        }
    }
}

/* --- Accept ------------------------------------------------------------------------------ */

static bool ows(char c) { return c == ' ' || c == '\t'; }

/* A qvalue (RFC 9110 12.4.2: "0" to "1" with up to three decimals) in thousandths; -1 when
 * malformed. */
static int parse_qvalue(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1)
        return q;
    if (s[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* The quality of the media range whose parameters are params[0..n) (";q=0.5;..."): 1000
 * without a q parameter, 0 for a malformed one (the range then counts for nothing). */
static int range_quality(const char *params, size_t n)
{
    const char *p = params, *end = params + n;
    while (p < end) {
        if (*p == ';' || ows(*p)) {
            p++;
            continue;
        }
        size_t len = 0;
        while (p + len < end && p[len] != ';')
            len++;
        if (len >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            size_t vlen = len - 2;
            while (vlen > 0 && ows(p[2 + vlen - 1]))
                vlen--;
            int q = parse_qvalue(p + 2, vlen);
            return q < 0 ? 0 : q;
        }
        p += len;
    }
    return 1000;
}

struct preference {
    int specificity; /* 0: no range matched yet; 1 any type; 2 type wildcard; 3 exact */
    int quality;     /* thousandths */
};

/* Folds the media range type/subtype (lengths tl, sl) with `quality` into the preference for
 * the media type want_type/want_sub. */
static void consider(struct preference *pref, const char *type, size_t tl, const char *sub,
                     size_t sl, int quality, const char *want_type, const char *want_sub)
{
    int spec;
    bool type_star = tl == 1 && type[0] == '*', sub_star = sl == 1 && sub[0] == '*';
    bool type_eq = tl == strlen(want_type) && strncasecmp(type, want_type, tl) == 0;
    bool sub_eq = sl == strlen(want_sub) && strncasecmp(sub, want_sub, sl) == 0;
    if (type_star && sub_star)
        spec = 1;
    else if (type_eq && sub_star)
        spec = 2;
    else if (type_eq && sub_eq)
        spec = 3;
    else
        return;
    if (spec > pref->specificity || (spec == pref->specificity && quality > pref->quality)) {
        pref->specificity = spec;
        pref->quality = quality;
    }
}

bool listing_text_wants_html(const char *accept)
{
    if (!accept)
        return false;
    struct preference html = {0, 0}, json = {0, 0};
    const char *p = accept;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *end = p + len, *t = p;
        while (t < end && ows(*t))
            t++;
        size_t mlen = strcspn(t, ";,");
        const char *params = t + mlen;
        while (mlen > 0 && ows(t[mlen - 1]))
            mlen--;
        const char *slash = memchr(t, '/', mlen);
        if (slash) {
            size_t tl = (size_t)(slash - t), sl = mlen - tl - 1;
            int q = range_quality(params, (size_t)(end - params));
            consider(&html, t, tl, slash + 1, sl, q, "text", "html");
            consider(&json, t, tl, slash + 1, sl, q, "application", "json");
        }
        p = *end == ',' ? end + 1 : end;
    }
    return html.quality > 0 && html.quality > json.quality;
}

/* --- dates ------------------------------------------------------------------------------- */

void listing_text_rfc3339(time_t t, char out[LISTING_RFC3339_LEN])
{
    static const char first[] = "0000-01-01T00:00:00Z", last[] = "9999-12-31T23:59:59Z";
    struct tm tm;
    const char *clamped = NULL;
    if (!gmtime_r(&t, &tm))
        clamped = t < 0 ? first : last;
    else if (tm.tm_year < -1900)
        clamped = first;
    else if (tm.tm_year > 9999 - 1900)
        clamped = last;
    if (clamped) {
        memcpy(out, clamped, sizeof first);
        return;
    }
    snprintf(out, LISTING_RFC3339_LEN, "%04u-%02u-%02uT%02u:%02u:%02uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u);
}
