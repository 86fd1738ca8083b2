/* sample_query.c - /sample query parser: decode once, one pass, first problem wins. */
#include "sampling/sample_query.h"

#include <string.h>

#include "http/query.h"

enum param_id { P_N, P_SIZE, P_ALIGN, P_SEED, P_EPOCH, P_RANK, P_WORLD, P_START, P_REPLACE,
                P_FORMAT, P_LOOKAHEAD, P_COUNT };

static const char *const param_names[P_COUNT] = {
    [P_N] = "n",         [P_SIZE] = "size",   [P_ALIGN] = "align",     [P_SEED] = "seed",
    [P_EPOCH] = "epoch", [P_RANK] = "rank",   [P_WORLD] = "world",     [P_START] = "start",
    [P_REPLACE] = "replace", [P_FORMAT] = "format", [P_LOOKAHEAD] = "lookahead",
};

static const char *const format_names[] = {
    [SAMPLE_FORMAT_MULTIPART] = "multipart",
    [SAMPLE_FORMAT_JSON] = "json",
    [SAMPLE_FORMAT_RAW] = "raw",
};

const char *sample_query_format_name(enum sample_format f)
{
    return (unsigned)f < sizeof format_names / sizeof format_names[0] ? format_names[f] : "?";
}

static bool fail_id(struct query_error *err, enum param_id id, const char *reason)
{
    query_error_set(err, param_names[id], strlen(param_names[id]), reason);
    return false;
}

/* ---- values ---- */

/* Unsigned decimal; NULL on success, else the reason. */
static const char *parse_u64(const char *p, const char *end, uint64_t *out)
{
    bool digits = false, other = false, negative = false, overflow = false;
    uint64_t v = 0;
    bool first = true;
    for (int c; (c = query_next_byte(&p, end)) != QUERY_END; first = false) {
        if (c == QUERY_BAD)
            return "bad percent-encoding";
        if (c >= '0' && c <= '9') {
            unsigned digit = (unsigned)(c - '0');
            digits = true;
            if (v > (UINT64_MAX - digit) / 10)
                overflow = true;
            else
                v = v * 10 + digit;
        } else if (c == '-' && first) {
            negative = true;
        } else {
            other = true;
        }
    }
    if (other || !digits)
        return "not a number";
    if (negative)
        return "must not be negative";
    if (overflow)
        return "too large";
    *out = v;
    return NULL;
}

/* ---- the query ---- */

struct seen {
    bool any[P_COUNT];
};

static bool parse_element(const char *b, const char *e, struct sample_query *q,
                          struct seen *seen, struct query_error *err)
{
    const char *v = NULL;
    int k = query_element(b, e, param_names, P_COUNT, seen->any, &v, err);
    if (k < 0)
        return false;
    enum param_id id = (enum param_id)k;

    if (id == P_REPLACE || id == P_FORMAT) {
        char word[16];
        size_t len;
        if (!query_decode(v, e, word, sizeof word, &len))
            return fail_id(err, id, "bad percent-encoding");
        if (id == P_REPLACE) {
            if (query_word_equals(word, len, "0"))
                q->replace = false;
            else if (query_word_equals(word, len, "1"))
                q->replace = true;
            else
                return fail_id(err, id, "must be 0 or 1");
            return true;
        }
        for (unsigned f = 0; f < sizeof format_names / sizeof format_names[0]; f++) {
            if (query_word_equals(word, len, format_names[f])) {
                q->format = (enum sample_format)f;
                return true;
            }
        }
        return fail_id(err, id, "unknown format");
    }

    uint64_t x;
    const char *why = parse_u64(v, e, &x);
    if (why)
        return fail_id(err, id, why);
    if (x == 0 && (id == P_N || id == P_SIZE || id == P_ALIGN || id == P_WORLD))
        return fail_id(err, id, "must be > 0");
    switch (id) {
    case P_N: q->n = x; break;
    case P_SIZE: q->size = x; break;
    case P_ALIGN: q->align = x; q->has_align = true; break;
    case P_SEED: q->seed = x; q->has_seed = true; break;
    case P_EPOCH: q->epoch = x; break;
    case P_RANK: q->rank = x; break;
    case P_WORLD: q->world = x; break;
    case P_START: q->start = x; break;
    case P_LOOKAHEAD:
        if (x > SAMPLE_LOOKAHEAD_MAX)
            return fail_id(err, id, "must be at most " SAMPLE_LOOKAHEAD_MAX_TEXT);
        q->lookahead = (unsigned)x;
        q->has_lookahead = true;
        break;
    default: break;
    }
    return true;
}

bool sample_query_parse(const char *query, uint64_t max_records, uint64_t max_bytes,
                        struct sample_query *q, struct query_error *err)
{
    memset(q, 0, sizeof *q);
    q->world = 1;
    q->format = SAMPLE_FORMAT_MULTIPART;
    struct seen seen = {{false}};

    const char *p = query ? query : "";
    while (*p) {
        const char *e = strchr(p, '&');
        if (!e)
            e = p + strlen(p);
        if (e > p && !parse_element(p, e, q, &seen, err))
            return false;
        p = *e ? e + 1 : e;
    }

    if (!seen.any[P_N])
        return fail_id(err, P_N, "missing");
    if (!seen.any[P_SIZE])
        return fail_id(err, P_SIZE, "missing");
    if (seen.any[P_RANK] && !seen.any[P_WORLD])
        return fail_id(err, P_WORLD, "missing (rank given)");
    if (seen.any[P_WORLD] && !seen.any[P_RANK])
        return fail_id(err, P_RANK, "missing (world given)");
    if (q->rank >= q->world)
        return fail_id(err, P_RANK, "must be < world");
    q->sharded = seen.any[P_RANK];
    if (q->n > max_records)
        return fail_id(err, P_N, "exceeds --max-sample-records");
    if (q->size > max_bytes)
        return fail_id(err, P_SIZE, "exceeds --max-sample-bytes");
    if (q->n > max_bytes / q->size)
        return fail_id(err, P_N, "n*size exceeds --max-sample-bytes");
    if (!q->has_align)
        q->align = q->size;
    return true;
}

void sample_query_spec(const struct sample_query *q, uint64_t file_size, uint64_t seed,
                       struct sample_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->file_size = file_size;
    spec->size = q->size;
    spec->align = q->align;
    spec->n = q->n;
    spec->seed = q->has_seed ? q->seed : seed;
    spec->epoch = q->epoch;
    spec->rank = q->rank;
    spec->world = q->world;
    spec->start = q->start;
    spec->replace = q->replace;
}
