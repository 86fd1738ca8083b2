/* range.h - RFC 9110 byte-range parsing and range-set normalisation (pure, no I/O).
 *
 * range_parse() reads a Range header value against a representation of `size` bytes and
 * says what a careful static server does with it:
 *   RANGE_IGNORED       unknown unit or invalid syntax: serve the whole file (200);
 *   RANGE_UNSATISFIABLE valid, but no range overlaps the representation (416);
 *   RANGE_OK            `*count` ranges (1 to `max`) in `out`, each clamped to the
 *                       representation, sorted by start, with overlapping and adjacent ones
 *                       merged (RFC 9110 14.6 lets a server coalesce and reorder them);
 *   RANGE_WHOLE         more than `max` ranges are left once merged, and they cover at least
 *                       half of the representation: serve the whole file (200, RFC 9110 14.2
 *                       lets a server ignore Range), one answer of at most twice the bytes
 *                       asked for;
 *   RANGE_TOO_MANY      more than `max` are left and they cover less than half: refuse (416),
 *                       so that a client which splits its request (GDAL) is told at once
 *                       instead of being sent a large file it would throw away.
 * `out` has room for RANGE_SLOTS(max) ranges, max >= 1. The work is linear in the header's
 * length whatever it holds: satisfiable ranges are merged whenever `out` fills up, and the
 * first merge that leaves more than `max` settles RANGE_WHOLE or RANGE_TOO_MANY from the
 * ranges read so far (the rest of the header is still checked for syntax, not stored), so
 * a later range that would bridge them is not taken into account. Many overlapping ranges
 * thus cost no more output than one copy of the representation.
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
    RANGE_WHOLE,
    RANGE_TOO_MANY,
};

#define RANGE_SLOTS(max) (2 * (max))

enum range_outcome range_parse(const char *header, uint64_t size, size_t max,
                               struct byte_range *out, size_t *count);

/* Sorts ranges by start and merges overlapping or adjacent ones in place; returns the new
 * count (>= 1 when n >= 1). */
size_t range_coalesce(struct byte_range *r, size_t n);

static inline uint64_t range_length(const struct byte_range *r) { return r->last - r->first + 1; }

#endif
