/* range.c - RFC 9110 section 14 Range header parser and range-set normalisation. */
#include "http/range.h"

#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>

enum { SPEC_INT, SPEC_SUFFIX };

struct spec {
    int kind;
    uint64_t first, last; /* SPEC_INT: last == UINT64_MAX when open ("a-") */
    uint64_t suffix;      /* SPEC_SUFFIX */
};

static bool is_ows(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads 1*DIGIT, saturating at UINT64_MAX; returns false when there is no digit. */
static bool read_number(const char **pp, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (!is_digit(*p))
        return false;
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            v = UINT64_MAX;
        else
            v = v * 10 + d;
    }
    *out = v;
    *pp = p;
    return true;
}

/* Parses one range-spec ending at ',' or end of the element (OWS already trimmed). */
static bool read_spec(const char **pp, struct spec *s)
{
    const char *p = *pp;
    if (*p == '-') {
        p++;
        s->kind = SPEC_SUFFIX;
        if (!read_number(&p, &s->suffix))
            return false;
    } else {
        s->kind = SPEC_INT;
        if (!read_number(&p, &s->first) || *p != '-')
            return false;
        p++;
        if (is_digit(*p)) {
            if (!read_number(&p, &s->last) || s->last < s->first)
                return false;
        } else {
            s->last = UINT64_MAX;
        }
    }
    *pp = p;
    return true;
}

/* Clamps a spec to the representation; false when it is not satisfiable. */
static bool resolve(const struct spec *s, uint64_t size, struct byte_range *r)
{
    if (size == 0)
        return false;
    if (s->kind == SPEC_SUFFIX) {
        if (s->suffix == 0)
            return false;
        r->first = s->suffix >= size ? 0 : size - s->suffix;
        r->last = size - 1;
        return true;
    }
    if (s->first >= size)
        return false;
    r->first = s->first;
    r->last = s->last >= size ? size - 1 : s->last;
    return true;
}

/* The ranges read so far: n of them in r (room for 2 * max), merged when r fills up. */
struct range_set {
    struct byte_range *r;
    size_t n, max;
    bool full; /* a merge left more than max: nothing more is stored */
};

static void set_add(struct range_set *set, const struct byte_range *range)
{
    if (set->full)
        return;
    if (set->n == RANGE_SLOTS(set->max)) {
        set->n = range_coalesce(set->r, set->n);
        if (set->n > set->max || set->n == RANGE_SLOTS(set->max)) { /* or max 0: no room */
            set->full = true;
            return;
        }
    }
    set->r[set->n++] = *range;
}

/* More than max ranges: the whole file when they cover at least half of it. */
static enum range_outcome too_many(const struct byte_range *r, size_t n, uint64_t size)
{
    uint64_t covered = 0; /* disjoint ranges within the representation: no overflow */
    for (size_t i = 0; i < n; i++)
        covered += range_length(&r[i]);
    return covered >= size - covered ? RANGE_WHOLE : RANGE_TOO_MANY;
}

enum range_outcome range_parse(const char *header, uint64_t size, size_t max,
                               struct byte_range *out, size_t *count)
{
    const char *p = header;
    size_t specs = 0;
    struct range_set set = {out, 0, max, false};

    *count = 0;
    while (is_ows(*p))
        p++;
    if (strncasecmp(p, "bytes", 5) != 0)
        return RANGE_IGNORED;
    p += 5;
    if (*p != '=')
        return RANGE_IGNORED;
    p++;

    for (;;) {
        while (is_ows(*p))
            p++;
        if (*p == ',') { /* empty list element */
            p++;
            continue;
        }
        if (*p == '\0')
            break;
        struct spec s;
        if (!read_spec(&p, &s))
            return RANGE_IGNORED;
        while (is_ows(*p))
            p++;
        if (*p != ',' && *p != '\0')
            return RANGE_IGNORED;
        specs++;
        struct byte_range r;
        if (resolve(&s, size, &r))
            set_add(&set, &r);
    }
    if (specs == 0)
        return RANGE_IGNORED;
    if (!set.full)
        set.n = range_coalesce(out, set.n);
    if (set.n == 0)
        return RANGE_UNSATISFIABLE;
    if (set.n > max)
        return too_many(out, set.n, size);
    *count = set.n;
    return RANGE_OK;
}

static int cmp_first(const void *a, const void *b)
{
    const struct byte_range *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

size_t range_coalesce(struct byte_range *r, size_t n)
{
    if (n < 2)
        return n;
    qsort(r, n, sizeof *r, cmp_first);
    size_t w = 0;
    for (size_t i = 1; i < n; i++) {
        /* overlapping, or adjacent (first == last + 1, which cannot wrap at UINT64_MAX) */
        if (r[w].last == UINT64_MAX || r[i].first <= r[w].last + 1) {
            if (r[i].last > r[w].last)
                r[w].last = r[i].last;
        } else {
            r[++w] = r[i];
        }
    }
    return w + 1;
}
