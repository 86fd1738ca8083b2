/* listing_query.c - the listing query parser: decode once, one pass, first problem wins. */
#include "listing/listing_query.h"

#include <string.h>

#include "http/query.h"

#define STR(x) #x
#define XSTR(x) STR(x)

enum param_id { P_RECURSIVE, P_LIMIT, P_AFTER, P_COUNT };

static const char *const param_names[P_COUNT] = {
    [P_RECURSIVE] = "recursive", [P_LIMIT] = "limit", [P_AFTER] = "after",
};

static bool fail_id(struct query_error *err, enum param_id id, const char *reason)
{
    query_error_set(err, param_names[id], strlen(param_names[id]), reason);
    return false;
}

/* limit's value [p, end), decoded as it is read: NULL on success, else the reason. */
static const char *parse_limit(const char *p, const char *end, size_t *out)
{
    size_t v = 0;
    bool digits = false;
    for (int c; (c = query_next_byte(&p, end)) != QUERY_END;) {
        if (c == QUERY_BAD)
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
                          struct query_error *err)
{
    const char *v = NULL;
    int k = query_element(b, e, param_names, P_COUNT, seen, &v, err);
    if (k < 0)
        return false;
    enum param_id id = (enum param_id)k;
    if (id == P_AFTER) {
        if (!query_decode(v, e, q->after, LISTING_MAX_AFTER, &q->after_len))
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
    if (!query_decode(v, e, word, sizeof word, &len))
        return fail_id(err, id, "bad percent-encoding");
    if (query_word_equals(word, len, "0"))
        q->recursive = false;
    else if (query_word_equals(word, len, "1"))
        q->recursive = true;
    else
        return fail_id(err, id, "must be 0 or 1");
    return true;
}

bool listing_query_parse(const char *query, struct listing_query *q,
                         struct query_error *err)
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
