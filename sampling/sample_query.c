/* sample_query.c - /sample query parser: decode once, one pass, first problem wins. */
#include "sampling/sample_query.h"

#include <string.h>

#include "http/url_path.h"

enum param_id { P_N, P_SIZE, P_ALIGN, P_SEED, P_EPOCH, P_RANK, P_WORLD, P_START, P_REPLACE,
                P_FORMAT, P_COUNT };

static const char *const param_names[P_COUNT] = {
    [P_N] = "n",         [P_SIZE] = "size",   [P_ALIGN] = "align",     [P_SEED] = "seed",
    [P_EPOCH] = "epoch", [P_RANK] = "rank",   [P_WORLD] = "world",     [P_START] = "start",
    [P_REPLACE] = "replace", [P_FORMAT] = "format",
};

static const char *const format_names[] = {
    [SAMPLE_FORMAT_MULTIPART] = "multipart",
    [SAMPLE_FORMAT_JSON] = "json",
    [SAMPLE_FORMAT_RAW] = "raw",
};

const char *sample_format_name(enum sample_format f)
{
    return (unsigned)f < sizeof format_names / sizeof format_names[0] ? format_names[f] : "?";
}

static bool fail(struct sample_error *err, const char *param, size_t len, const char *reason)
{
    sample_error_set(err, param, len, reason);
    return false;
}

static bool fail_id(struct sample_error *err, enum param_id id, const char *reason)
{
    return fail(err, param_names[id], strlen(param_names[id]), reason);
}

/* ---- one pass of percent-decoding over [p, end) ---- */

struct decoder {
    const char *p, *end;
};

enum { DEC_END = -1, DEC_BAD = -2 };

/* The next decoded byte (0-255), DEC_END, or DEC_BAD for a bad escape or a decoded NUL. */
static int dec_next(struct decoder *d)
{
    if (d->p >= d->end)
        return DEC_END;
    unsigned char c = (unsigned char)*d->p++;
    if (c != '%')
        return c;
    int hi = d->end - d->p >= 2 ? url_hex_digit(d->p[0]) : -1;
    int lo = hi < 0 ? -1 : url_hex_digit(d->p[1]);
    if (hi < 0 || lo < 0)
        return DEC_BAD;
    d->p += 2;
    int v = hi * 16 + lo;
    return v == 0 ? DEC_BAD : v;
}

/* Decodes into buf (room for `cap` bytes, no terminator added); *len is the full decoded
 * length even when it exceeds cap. false on a bad escape. */
static bool dec_all(const char *p, const char *end, char *buf, size_t cap, size_t *len)
{
    struct decoder d = {p, end};
    size_t n = 0;
    for (int c; (c = dec_next(&d)) != DEC_END; n++) {
        if (c == DEC_BAD)
            return false;
        if (n < cap)
            buf[n] = (char)c;
    }
    *len = n;
    return true;
}

/* ---- values ---- */

/* Unsigned decimal; NULL on success, else the reason. */
static const char *parse_u64(const char *p, const char *end, uint64_t *out)
{
    struct decoder d = {p, end};
    bool digits = false, other = false, negative = false, overflow = false;
    uint64_t v = 0;
    bool first = true;
    for (int c; (c = dec_next(&d)) != DEC_END; first = false) {
        if (c == DEC_BAD)
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

/* Safe when len exceeds the buffer: memcmp runs only when len == strlen(word). */
static bool word_equals(const char *buf, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(buf, word, len) == 0;
}

/* ---- the query ---- */

struct seen {
    bool any[P_COUNT];
};

static bool parse_element(const char *b, const char *e, struct sample_query *q,
                          struct seen *seen, struct sample_error *err)
{
    const char *eq = memchr(b, '=', (size_t)(e - b));
    const char *name_end = eq ? eq : e;

    char name[40];
    size_t name_len;
    if (!dec_all(b, name_end, name, sizeof name, &name_len))
        return fail(err, b, (size_t)(name_end - b), "bad percent-encoding");
    if (name_len == 0)
        return fail(err, "", 0, "empty parameter name");

    enum param_id id = P_COUNT;
    for (unsigned i = 0; i < P_COUNT; i++)
        if (word_equals(name, name_len, param_names[i]))
            id = (enum param_id)i;
    if (id == P_COUNT)
        return fail(err, name, name_len <= sizeof name ? name_len : sizeof name + 1,
                    "unknown parameter");
    if (seen->any[id])
        return fail_id(err, id, "repeated");
    seen->any[id] = true;

    if (!eq || eq + 1 == e)
        return fail_id(err, id, "empty value");
    const char *v = eq + 1;

    if (id == P_REPLACE || id == P_FORMAT) {
        char word[16];
        size_t len;
        if (!dec_all(v, e, word, sizeof word, &len))
            return fail_id(err, id, "bad percent-encoding");
        if (id == P_REPLACE) {
            if (word_equals(word, len, "0"))
                q->replace = false;
            else if (word_equals(word, len, "1"))
                q->replace = true;
            else
                return fail_id(err, id, "must be 0 or 1");
            return true;
        }
        for (unsigned f = 0; f < sizeof format_names / sizeof format_names[0]; f++) {
            if (word_equals(word, len, format_names[f])) {
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
    default: break;
    }
    return true;
}

bool sample_query_parse(const char *query, uint64_t max_records, uint64_t max_bytes,
                        struct sample_query *q, struct sample_error *err)
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
