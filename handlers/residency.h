/* residency.h - how much of a span of a mapping is missing from the page cache.
 *
 * residency_missing() looks at the pages of [off, off+len) of the mapping at `base` (of the
 * file open as `fd`), no more than `max_check` bytes from the start of the span, and returns
 * the bytes of the span within those pages that are not resident (0: warm). The common warm
 * case costs one cachestat(2) on `fd` (Linux 6.5+); when that finds pages missing, or `fd` is
 * -1 (no cachestat here), mincore(2) on the mapping counts the missing bytes exactly. A page
 * being read in counts as resident for cachestat. If mincore fails it returns 0: a span it
 * cannot check is treated as warm, so no hint is given for it.
 */
#ifndef MMAPD_RESIDENCY_H
#define MMAPD_RESIDENCY_H

#include <stddef.h>
#include <stdint.h>

uint64_t residency_missing(const void *base, int fd, uint64_t off, uint64_t len,
                           size_t max_check);

#endif
