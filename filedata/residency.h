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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t residency_missing(const void *base, int fd, uint64_t off, uint64_t len,
                           size_t max_check);

/* What one cachestat(2) on `fd` finds of the pages of [off, off+len): every one in the page
 * cache (pages being read in count), one missing, or nothing known (len 0, `fd` -1, no
 * cachestat here). */
enum residency_cached { RESIDENCY_CACHED, RESIDENCY_MISSING, RESIDENCY_UNKNOWN };
enum residency_cached residency_span_cached(int fd, uint64_t off, uint64_t len);

/* True when one cachestat(2) on `fd` finds every page of the file's `size` bytes in the page
 * cache (pages being read in count), so that no span of it misses anything; false when a
 * page is missing, `size` is 0, `fd` is -1 or the kernel has no cachestat. Its cost grows
 * with the file's page cache entries (measured here: 0.03 us a 4 KiB folio, against 0.35 us
 * for one residency_missing()), so ask it before many spans of a small file only. */
bool residency_file_cached(int fd, uint64_t size);

/* The bytes of [off, off+len) of the mapping at `base`, from off on, whose pages mincore(2)
 * finds resident and read (a page still being read in is not): 0 up to len. A span it cannot
 * check counts as resident (len), so the caller copies it. */
uint64_t residency_resident_prefix(const void *base, uint64_t off, uint64_t len);

#endif
