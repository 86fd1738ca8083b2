/* listing_query.c - the listing query parser: decode once, one pass, first problem wins. */
#include "listing/listing_query.h"

#include <string.h>

#include "http/url_path.h"

#define STR(x) #x
#define XSTR(x) STR(x)

enum param_id { P_RECURSIVE, P_LIMIT, P_AFTER, P_COUNT };

static const char *const param_names[P_COUNT] = {
    [P_RECURSIVE] = "recursive", [P_LIMIT] = "limit", [P_AFTER] = "after",
};

static bool fail(struct sample_error *err, const char *param, size_t len,
                 const char *reason)
{
    sample_error_set(err, param, len, reason);
    return false;
}

static bool fail_id(struct sample_error *err, enum param_id id, const char *reason)
{
    return fail(err, param_names[id], strlen(param_names[id]), reason);
}

enum { DEC_END = -1, DEC_BAD = -2 };

/* The next byte of [*p, end) percent-decoded (0-255), DEC_END, or DEC_BAD for a bad escape
 * or a decoded NUL. */
static int next_byte(const char **p, const char *end)
{
    if (*p >= end)
        return DEC_END;
    int c = (unsigned char)*(*p)++;
    if (c != '%')
        return c;
    int hi = end - *p >= 2 ? url_hex_digit((*p)[0]) : -1;
    int lo = hi < 0 ? -1 : url_hex_digit((*p)[1]);
    if (hi < 0 || lo < 0 || hi + lo == 0)
        return DEC_BAD;
    *p += 2;
    return hi * 16 + lo;
}

/* Percent-decodes [p, end) into out (room for `cap` bytes, no terminator added); *len is the
 * full decoded length even when it exceeds cap. false on a bad escape or a decoded NUL. */
static bool decode(const char *p, const char *end, char *out, size_t cap, size_t *len)
{
    size_t n = 0;
    for (int c; (c = next_byte(&p, end)) != DEC_END; n++) {
        if (c == DEC_BAD)
            return false;
        if (n < cap)
            out[n] = (char)c;
    }
    *len = n;
    return true;
}

/* Safe when len exceeds the buffer: memcmp runs only when len == strlen(word). */
static bool word_equals(const char *buf, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(buf, word, len) == 0;
}

/* limit's value [p, end), decoded as it is read: NULL on success, else the reason. */
static const char *parse_limit(const char *p, const char *end, size_t *out)
{
    size_t v = 0;
    bool digits = false;
    for (int c; (c = next_byte(&p, end)) != DEC_END;) {
        if (c == DEC_BAD)
            return "bad percent-encoding";
        if (c < '0' || c > '9')
            return "not a number";
        digits = true;
        if (v <= LISTING_MAX_LIMIT) /* saturates just past the bound */
            v = v * 10 + (size_t)(c - '0');
    }
    if (!digits)
        return "not a number";
    if (v == 0)
        return "must be > 0";
    if (v > LISTING_MAX_LIMIT)
        return "must be at most " XSTR(LISTING_MAX_LIMIT);
    *out = v;
    return NULL;
}

static bool parse_element(const char *b, const char *e, struct listing_query *q, bool *seen,
                          struct sample_error *err)
{
    const char *eq = memchr(b, '=', (size_t)(e - b));
    const char *name_end = eq ? eq : e;

    char name[40];
    size_t name_len;
    if (!decode(b, name_end, name, sizeof name, &name_len))
        return fail(err, b, (size_t)(name_end - b), "bad percent-encoding");
    if (name_len == 0)
        return fail(err, "", 0, "empty parameter name");

    enum param_id id = P_COUNT;
    for (unsigned i = 0; i < P_COUNT; i++)
        if (word_equals(name, name_len, param_names[i]))
            id = (enum param_id)i;
    if (id == P_COUNT) /* longer than the buffer: reported cut (fail() reads 36 bytes) */
        return fail(err, name, name_len <= sizeof name ? name_len : sizeof name + 1,
                    "unknown parameter");
    if (seen[id])
        return fail_id(err, id, "repeated");
    seen[id] = true;

    if (!eq || eq + 1 == e)
        return fail_id(err, id, "empty value");
    const char *v = eq + 1;

    if (id == P_AFTER) {
        if (!decode(v, e, q->after, LISTING_MAX_AFTER, &q->after_len))
            return fail_id(err, id, "bad percent-encoding");
        if (q->after_len > LISTING_MAX_AFTER)
            return fail_id(err, id, "too long");
        q->after[q->after_len] = '\0';
        q->has_after = true;
        return true;
    }
    if (id == P_LIMIT) {
        const char *why = parse_limit(v, e, &q->limit);
        return why ? fail_id(err, id, why) : true;
    }
    char word[4];
    size_t len;
    if (!decode(v, e, word, sizeof word, &len))
        return fail_id(err, id, "bad percent-encoding");
    if (word_equals(word, len, "0"))
        q->recursive = false;
    else if (word_equals(word, len, "1"))
        q->recursive = true;
    else
        return fail_id(err, id, "must be 0 or 1");
    return true;
}

bool listing_query_parse(const char *query, struct listing_query *q,
                         struct sample_error *err)
{
    q->recursive = false;
    q->limit = LISTING_DEFAULT_LIMIT;
    q->has_after = false;
    q->after_len = 0;
    q->after[0] = '\0';
    bool seen[P_COUNT] = {false};
    const char *p = query ? query : "";
    while (*p) {
        const char *e = p + strcspn(p, "&");
        if (e > p && !parse_element(p, e, q, seen, err))
            return false;
        p = *e ? e + 1 : e;
    }
    if (q->has_after && !q->recursive && memchr(q->after, '/', q->after_len))
        return fail_id(err, P_AFTER, "contains '/': a path needs recursive=1");
    return true;
}
