/* range.h - RFC 9110 byte-range parsing and range-set normalisation (pure, no I/O).
 *
 * range_parse() reads a Range header value against a representation of `size` bytes and
 * says what a careful static server does with it:
 *   RANGE_IGNORED       unknown unit or invalid syntax: serve the whole file (200);
 *   RANGE_TOO_MANY      more than `max` range-specs: refuse (416), bounded work;
 *   RANGE_UNSATISFIABLE valid, but no range overlaps the representation (416);
 *   RANGE_OK            `*count` satisfiable ranges in `out` (room for `max`), in request
 *                       order, each clamped to the representation.
 * Numbers that overflow saturate at UINT64_MAX (still valid syntax). Optional whitespace is
 * accepted around list elements and empty elements are skipped, as RFC 9110 5.6.1 requires.
 */
#ifndef MMAPD_RANGE_H
#define MMAPD_RANGE_H

#include <stddef.h>
#include <stdint.h>

struct byte_range {
    uint64_t first; /* inclusive */
    uint64_t last;  /* inclusive */
};

enum range_outcome {
    RANGE_OK,
    RANGE_IGNORED,
    RANGE_UNSATISFIABLE,
    RANGE_TOO_MANY,
};

enum range_outcome range_parse(const char *header, uint64_t size, size_t max,
                               struct byte_range *out, size_t *count);

/* Sorts ranges by start and merges overlapping or adjacent ones in place; returns the new
 * count (>= 1 when n >= 1). */
size_t range_coalesce(struct byte_range *r, size_t n);

static inline uint64_t range_length(const struct byte_range *r) { return r->last - r->first + 1; }

#endif
