/* page_cache.h - how many bytes of a file sit in the page cache.
 *
 * page_cache_resident() asks cachestat(2) (Linux 6.5+) about the whole file `fd` and stores
 * min(cached pages x page size, size) in *out. It falls back to page_cache_resident_mincore()
 * (a read-only MAP_SHARED mapping of the file, mincore(2) over it in chunks, munmap) when the
 * kernel has no cachestat (ENOSYS, or EPERM from a seccomp filter such as Docker's default;
 * tried again on every call: a refused system call costs next to nothing) or refuses it for this file
 * (EOPNOTSUPP: hugetlbfs). Neither reads the file or faults a page in. Both return 0, or an
 * errno value with *out untouched. `fd` must be open for reading, not O_PATH: cachestat
 * refuses O_PATH descriptors and mmap needs read access. A `size` of 0 gives 0 without a
 * system call.
 */
#ifndef MMAPD_PAGE_CACHE_H
#define MMAPD_PAGE_CACHE_H

#include <stdint.h>

int page_cache_resident(int fd, uint64_t size, uint64_t *out);

/* The pages of [off, off+len) of `fd` in the page cache, by one cachestat(2) call: 0 and
 * *pages, or an errno value (ENOSYS or EPERM where the kernel or a seccomp filter has no
 * cachestat, EINVAL for len 0). Pages still being read in count as cached. */
int page_cache_cached_pages(int fd, uint64_t off, uint64_t len, uint64_t *pages);
int page_cache_resident_mincore(int fd, uint64_t size, uint64_t *out);

#endif
