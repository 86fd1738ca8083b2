/* page_cache.c - resident bytes of a file: cachestat(2), or mmap + mincore(2). */
#include "filedata/page_cache.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "filedata/page_size.h"

/* glibc has no wrapper and Debian 12's headers predate the call. 451 is its number on every
 * architecture that uses the unified syscall table (x86_64, arm64, riscv, ...). */
#if !defined(__NR_cachestat) && (defined(__x86_64__) || defined(__aarch64__) || \
                                 (defined(__riscv) && __riscv_xlen == 64))
#define __NR_cachestat 451
#endif

struct cachestat_range {
    uint64_t off, len; /* len 0: to the end of the file */
};

struct cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

#define MINCORE_CHUNK 4096 /* pages per mincore() call: 16 MiB of 4 KiB pages */

static uint64_t clamp(uint64_t pages, uint64_t size)
{
    uint64_t ps = page_size();
    return pages > size / ps ? size : pages * ps;
}

int page_cache_resident_mincore(int fd, uint64_t size, uint64_t *out)
{
    if (size == 0) {
        *out = 0;
        return 0;
    }
    if (size > SIZE_MAX)
        return EFBIG;
    void *base = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return errno;
    uint64_t ps = page_size(), pages = (size + ps - 1) / ps, resident = 0;
    unsigned char vec[MINCORE_CHUNK];
    int err = 0;
    for (uint64_t first = 0; first < pages; first += MINCORE_CHUNK) {
        uint64_t n = pages - first < MINCORE_CHUNK ? pages - first : MINCORE_CHUNK;
        if (mincore((unsigned char *)base + first * ps, (size_t)(n * ps), vec) != 0) {
            err = errno;
            break;
        }
        for (uint64_t i = 0; i < n; i++)
            resident += vec[i] & 1;
    }
    munmap(base, (size_t)size);
    if (err)
        return err;
    *out = clamp(resident, size);
    return 0;
}

int page_cache_cached_pages(int fd, uint64_t off, uint64_t len, uint64_t *pages)
{
#ifdef __NR_cachestat
    struct cachestat_range range = {off, len};
    struct cachestat cs = {0};
    if (len == 0)
        return EINVAL; /* cachestat would read it as "to the end of the file" */
    if (syscall(__NR_cachestat, fd, &range, &cs, 0u) != 0)
        return errno;
    *pages = cs.nr_cache;
    return 0;
#else
    (void)fd;
    (void)off;
    (void)len;
    (void)pages;
    return ENOSYS;
#endif
}

int page_cache_resident(int fd, uint64_t size, uint64_t *out)
{
    if (size == 0) {
        *out = 0;
        return 0;
    }
    uint64_t pages = 0;
    int err = page_cache_cached_pages(fd, 0, size, &pages);
    if (err == 0) {
        *out = clamp(pages, size);
        return 0;
    }
    /* ENOSYS: before Linux 6.5; EPERM: a seccomp filter (Docker's); EOPNOTSUPP: this
     * filesystem. A failed call costs next to nothing, so it is not remembered. */
    if (err != ENOSYS && err != EPERM && err != EOPNOTSUPP)
        return err;
    return page_cache_resident_mincore(fd, size, out);
}
