/* conditional.c - If-Match, If-None-Match, If-(Un)Modified-Since and If-Range decisions. */
#include "http/conditional.h"

#include <string.h>

#include "http/http_date.h"

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

/* etagc = %x21 / %x23-7E / obs-text */
static bool is_etagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7f); }

/* Reads one entity-tag at *pp; sets weak and the opaque-tag span (with quotes). */
static bool read_etag(const char **pp, bool *weak, const char **tag, size_t *len)
{
    const char *p = *pp;
    *weak = false;
    if (p[0] == 'W' && p[1] == '/') {
        *weak = true;
        p += 2;
    }
    if (*p != '"')
        return false;
    const char *start = p++;
    while (is_etagc((unsigned char)*p))
        p++;
    if (*p != '"')
        return false;
    p++;
    *tag = start;
    *len = (size_t)(p - start);
    *pp = p;
    return true;
}

bool conditional_etag_list_matches(const char *list, const char *etag, bool weak_compare)
{
    const char *p = list;
    while (is_ows(*p))
        p++;
    if (*p == '*') {
        p++;
        while (is_ows(*p))
            p++;
        return *p == '\0';
    }
    size_t our_len = strlen(etag);
    bool matched = false;
    for (;;) {
        while (is_ows(*p) || *p == ',')
            p++;
        if (*p == '\0')
            return matched;
        bool weak;
        const char *tag;
        size_t len;
        if (!read_etag(&p, &weak, &tag, &len))
            return false; /* malformed list: never a match */
        if (len == our_len && memcmp(tag, etag, len) == 0 && (weak_compare || !weak))
            matched = true;
        while (is_ows(*p))
            p++;
        if (*p != ',' && *p != '\0')
            return false;
    }
}

enum cond_decision conditional_evaluate(const struct preconditions *pre,
                                        const struct validators *v)
{
    time_t t;
    if (pre->if_match) {
        if (!conditional_etag_list_matches(pre->if_match, v->etag, false))
            return COND_PRECONDITION_FAILED;
    } else if (pre->if_unmodified_since && http_date_parse(pre->if_unmodified_since, v->now, &t)) {
        if (v->last_modified > t)
            return COND_PRECONDITION_FAILED;
    }
    if (pre->if_none_match) {
        if (conditional_etag_list_matches(pre->if_none_match, v->etag, true))
            return COND_NOT_MODIFIED;
    } else if (pre->if_modified_since && http_date_parse(pre->if_modified_since, v->now, &t)) {
        if (v->last_modified <= t)
            return COND_NOT_MODIFIED;
    }
    return COND_PROCEED;
}

bool conditional_if_range(const char *if_range, const struct validators *v)
{
    const char *p = if_range;
    while (is_ows(*p))
        p++;
    if (*p == '"' || (p[0] == 'W' && p[1] == '/')) {
        bool weak;
        const char *tag;
        size_t len;
        if (!read_etag(&p, &weak, &tag, &len) || weak)
            return false;
        while (is_ows(*p))
            p++;
        return *p == '\0' && len == strlen(v->etag) && memcmp(tag, v->etag, len) == 0;
    }
    time_t t; /* now - AGE, not now - last_modified: an mtime far in the past cannot overflow */
    return http_date_parse(p, v->now, &t) && t == v->last_modified &&
           v->last_modified <= v->now - COND_STRONG_DATE_AGE;
}
