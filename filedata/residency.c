/* residency.c - cachestat(), then mincore() over the first window of a requested span; the
 * resident prefix of a span (mincore()); and cachestat() over a span or a whole file. */
#include "filedata/residency.h"

#include <sys/mman.h>

#include "filedata/page_cache.h"
#include "filedata/page_size.h"

#define MAX_PAGES 2048 /* vector on the stack: 8 MiB of 4 KiB pages per check */

uint64_t residency_missing(const void *base, int fd, uint64_t off, uint64_t len,
                           size_t max_check)
{
    uint64_t page = page_size();
    unsigned char vec[MAX_PAGES];
    if (len == 0)
        return 0;
    if (len > max_check)
        len = max_check;
    uint64_t start = off - off % page, end = off + len;
    uint64_t pages = (end - start + page - 1) / page;
    if (pages > MAX_PAGES) {
        pages = MAX_PAGES;
        end = start + pages * page;
    }
    uint64_t cached = 0;
    if (fd >= 0 && page_cache_cached_pages(fd, start, end - start, &cached) == 0 &&
        cached >= pages)
        return 0;
    if (mincore((void *)((const unsigned char *)base + start), (size_t)(pages * page), vec) != 0)
        return 0;
    uint64_t missing = 0;
    for (uint64_t i = 0; i < pages; i++) {
        if (vec[i] & 1)
            continue;
        uint64_t lo = start + i * page, hi = lo + page;
        if (lo < off)
            lo = off;
        if (hi > end)
            hi = end;
        missing += hi - lo;
    }
    return missing;
}

enum residency_cached residency_span_cached(int fd, uint64_t off, uint64_t len)
{
    uint64_t page = page_size(), start = off - off % page, cached = 0;
    uint64_t pages = (off + len - start + page - 1) / page;
    if (fd < 0 || len == 0 || page_cache_cached_pages(fd, start, pages * page, &cached) != 0)
        return RESIDENCY_UNKNOWN;
    return cached >= pages ? RESIDENCY_CACHED : RESIDENCY_MISSING;
}

bool residency_file_cached(int fd, uint64_t size)
{
    return residency_span_cached(fd, 0, size) == RESIDENCY_CACHED;
}

uint64_t residency_resident_prefix(const void *base, uint64_t off, uint64_t len)
{
    uint64_t page = page_size();
    unsigned char vec[MAX_PAGES];
    uint64_t start = off - off % page, end = off + len, checked = 0;
    while (start < end) {
        uint64_t pages = (end - start + page - 1) / page;
        pages = pages < MAX_PAGES ? pages : MAX_PAGES;
        if (mincore((void *)((const unsigned char *)base + start), (size_t)(pages * page), vec))
            return len;
        for (uint64_t i = 0; i < pages; i++) {
            if (!(vec[i] & 1))
                return checked;
            start += page; /* the end of that page */
            checked = start - off < len ? start - off : len;
        }
    }
    return len;
}
