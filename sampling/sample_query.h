/* sample_query.h - the /sample query string, parsed and checked (pure, no I/O).
 *
 * sample_query_parse() reads the raw query: the bytes after '?', percent-escapes as the
 * client sent them (the server keeps escapes). Grammar and rules (the element and name
 * steps are http/query.h's, shared with listings):
 *   - Elements are separated by '&'; empty elements ("a=1&&b=2", a trailing '&') are skipped.
 *     Each element is NAME or NAME=VALUE, split at the first '='.
 *   - Names and values are percent-decoded here, exactly once: "%6e=8" is n=8, "n=%2531" is
 *     the value "%31" (not a number). A '%' not followed by two hex digits, or an escape
 *     that decodes to NUL, is an error ("bad percent-encoding").
 *   - '+' is a literal plus sign, never a space (RFC 3986 query; form encoding is not used
 *     here): "n=+5" is not a number. Names are case-sensitive.
 *   - Numbers are unsigned decimal, digits only, leading zeros allowed, up to 2^64 - 1. No
 *     sign, no hex ("seed=0x10" is not a number), no spaces. The server should print its own
 *     Sample-Seed in decimal too, so that it can be sent back as seed=.
 *
 * Parameters: n (required, >= 1), size (required, >= 1), align (>= 1; default: size),
 * seed (any; default: the handler's), epoch (default 0), rank and world (both or neither;
 * world >= 1, rank < world; default 0 and 1), start (default 0), replace (0 or 1; default 0),
 * format (multipart | json | raw; default multipart), lookahead (0 to SAMPLE_LOOKAHEAD_MAX:
 * pages of the shard read ahead after this one, at most the server's --sample-lookahead;
 * default: the server's).
 *
 * The first problem found is reported, scanning elements left to right and checking, in each:
 *   name encoding        "bad percent-encoding"    (param: the name as received, sanitised)
 *   empty name           "empty parameter name"    (param: "")
 *   known name           "unknown parameter"       (param: the client's name, sanitised)
 *   first occurrence     "repeated"
 *   a value is present   "empty value"             ("n" and "n=" alike)
 *   value encoding       "bad percent-encoding"
 *   numbers: "-" then digits "must not be negative"; other non-digits "not a number";
 *            more than 2^64 - 1 "too large"; n, size, align, world of 0 "must be > 0"
 *   replace: "must be 0 or 1"; format: "unknown format"; lookahead over 16 "must be at most 16"
 * then, after the last element:
 *   n, size absent       "missing"
 *   rank without world   param world, "missing (rank given)"
 *   world without rank   param rank,  "missing (world given)"
 *   rank >= world        param rank,  "must be < world"
 *   n > max_records      param n,     "exceeds --max-sample-records"
 *   size > max_bytes     param size,  "exceeds --max-sample-bytes"
 *   n * size > max_bytes param n,     "n*size exceeds --max-sample-bytes"
 * What needs the file (size > file size, n > distinct records, start past the shard) is
 * checked by sampler_init() (sampler.h), which reports in the same struct query_error.
 */
#ifndef MMAPD_SAMPLE_QUERY_H
#define MMAPD_SAMPLE_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "sampling/sampler.h"

#define SAMPLE_LOOKAHEAD_MAX 16
#define SAMPLE_LOOKAHEAD_MAX_TEXT "16"

enum sample_format {
    SAMPLE_FORMAT_MULTIPART,
    SAMPLE_FORMAT_JSON,
    SAMPLE_FORMAT_RAW,
};

struct sample_query {
    uint64_t n, size, align, seed, epoch, rank, world, start;
    bool has_seed;  /* seed was given; otherwise the handler supplies one */
    bool has_align; /* align was given; otherwise align == size */
    bool sharded;   /* rank and world were given; otherwise rank 0, world 1 */
    bool replace;
    enum sample_format format;
    unsigned lookahead;  /* lookahead=, <= SAMPLE_LOOKAHEAD_MAX */
    bool has_lookahead;  /* lookahead was given; otherwise the server's --sample-lookahead */
};

/* Parses `query` (NULL or "" means no parameters: n is then missing). true fills `q` with
 * every field set (defaults applied); false fills `err` (when not NULL) and leaves `q`
 * unspecified. Work is linear in the length of the query. */
bool sample_query_parse(const char *query, uint64_t max_records, uint64_t max_bytes,
                        struct sample_query *q, struct query_error *err);

/* The sampler's input for a parsed query on a file of `file_size` bytes; `seed` is used when
 * the query has none (the handler's choice, e.g. prng_seed_from_entropy() of getrandom()). */
void sample_query_spec(const struct sample_query *q, uint64_t file_size, uint64_t seed,
                       struct sample_spec *spec);

/* "multipart", "json" or "raw". */
const char *sample_query_format_name(enum sample_format f);

#endif
