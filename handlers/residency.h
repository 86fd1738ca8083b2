/* residency.h - how much of a span of a mapping is missing from the page cache.
 *
 * residency_missing() asks mincore() about the pages of [off, off+len) of the mapping at
 * `base`, looking at no more than `max_check` bytes from the start of the span, and returns
 * the bytes of the span within those pages that are not resident (0: warm). If mincore fails
 * it returns 0: a span it cannot check is treated as warm, so no hint is given for it.
 */
#ifndef MMAPD_RESIDENCY_H
#define MMAPD_RESIDENCY_H

#include <stddef.h>
#include <stdint.h>

uint64_t residency_missing(const void *base, uint64_t off, uint64_t len, size_t max_check);

#endif
