/* test_residency.c - bytes of a span missing from the page cache (filedata/residency.h), on
 * real mappings of temporary files: resident, evicted, partly resident; by mincore alone and
 * by cachestat first; and whether a whole file is in the page cache. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filedata/page_cache.h"
#include "filedata/residency.h"

static uint64_t ps(void) { return (uint64_t)sysconf(_SC_PAGESIZE); }

struct tmp_map {
    int fd;
    unsigned char *base;
    size_t size;
};

/* Maps a fresh temporary file of `pages` pages; evicts it from the page cache first when
 * asked (write, fsync, POSIX_FADV_DONTNEED). */
static void map_file(struct tmp_map *m, size_t pages, bool evict)
{
    char path[] = "/tmp/mmapd-test-residency-XXXXXX";
    m->size = pages * ps();
    m->fd = mkstemp(path);
    assert_true(m->fd >= 0);
    unlink(path);
    unsigned char *buf = malloc(m->size);
    assert_non_null(buf);
    for (size_t i = 0; i < m->size; i++)
        buf[i] = (unsigned char)(i * 13 + 1);
    assert_int_equal(write(m->fd, buf, m->size), (ssize_t)m->size);
    free(buf);
    assert_int_equal(fsync(m->fd), 0);
    if (evict)
        assert_int_equal(posix_fadvise(m->fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    void *p = mmap(NULL, m->size, PROT_READ, MAP_SHARED, m->fd, 0);
    assert_true(p != MAP_FAILED);
    m->base = p;
}

static void unmap_file(struct tmp_map *m)
{
    munmap(m->base, m->size);
    close(m->fd);
}

/* Resident pages among the mapping's pages [first, first + n), per mincore. */
static size_t resident_pages(const struct tmp_map *m, size_t first, size_t n)
{
    unsigned char vec[1024];
    assert_true(n <= sizeof vec);
    assert_int_equal(mincore(m->base + first * ps(), n * ps(), vec), 0);
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r;
}

/* The bytes missing from [off, off+len), asked both ways: by mincore alone (fd -1) and by
 * cachestat first (where the kernel has it); the two must agree. */
static uint64_t missing(const struct tmp_map *m, uint64_t off, uint64_t len, size_t max_check)
{
    uint64_t by_mincore = residency_missing(m->base, -1, off, len, max_check);
    uint64_t by_cachestat = residency_missing(m->base, m->fd, off, len, max_check);
    if (by_mincore != by_cachestat)
        fail_msg("[%llu, +%llu): mincore %llu missing, cachestat first %llu",
                 (unsigned long long)off, (unsigned long long)len,
                 (unsigned long long)by_mincore, (unsigned long long)by_cachestat);
    return by_mincore;
}

/* Maps a freshly written, evicted file; skips the test when eviction did not work here. */
static void map_cold_file(struct tmp_map *m, size_t pages)
{
    map_file(m, pages, true);
    size_t res = resident_pages(m, 0, pages);
    if (res != 0) {
        print_message("eviction with POSIX_FADV_DONTNEED did not work on this filesystem "
                      "(%zu of %zu pages still resident): skipping\n",
                      res, pages);
        unmap_file(m);
        skip();
    }
}

static void resident_span(void **state)
{
    (void)state;
    struct tmp_map m;
    map_file(&m, 16, false);
    volatile unsigned sum = 0;
    for (size_t i = 0; i < m.size; i++)
        sum += m.base[i];
    (void)sum;
    assert_int_equal(resident_pages(&m, 0, 16), 16);
    assert_int_equal(missing(&m, 0, m.size, 4 * ps()), 0);
    assert_int_equal(missing(&m, 0, m.size, SIZE_MAX), 0);
    assert_int_equal(missing(&m, 3 * ps() + 7, 100, ps()), 0);
    assert_int_equal(missing(&m, m.size - 1, 1, ps()), 0);
    unmap_file(&m);
}

static void empty_span(void **state)
{
    (void)state;
    struct tmp_map m;
    map_file(&m, 4, true); /* cold or not, an empty span misses nothing */
    assert_int_equal(missing(&m, 0, 0, ps()), 0);
    assert_int_equal(missing(&m, 2 * ps() + 1, 0, SIZE_MAX), 0);
    unmap_file(&m);
}

static void cold_span_inside_window(void **state)
{
    (void)state;
    struct tmp_map m;
    map_cold_file(&m, 64);
    const uint64_t p = ps();
    /* whole pages */
    assert_int_equal(missing(&m, 0, 4 * p, 8 * p), 4 * p);
    assert_int_equal(missing(&m, 8 * p, p, p), p);
    /* the window larger than the span and the file: still only the span */
    assert_int_equal(missing(&m, 0, m.size, SIZE_MAX), m.size);
    /* partial first and last pages count by the span's bytes, not whole pages */
    assert_int_equal(missing(&m, p + 100, 2 * p, 8 * p), 2 * p);
    assert_int_equal(missing(&m, 10, 20, 8 * p), 20);
    assert_int_equal(missing(&m, 5 * p - 10, 20, 8 * p), 20); /* two pages */
    assert_int_equal(missing(&m, m.size - 1, 1, p), 1);
    /* asking changes nothing */
    assert_int_equal(resident_pages(&m, 0, 64), 0);
    unmap_file(&m);
}

static void cold_span_capped_by_window(void **state)
{
    (void)state;
    struct tmp_map m;
    map_cold_file(&m, 64);
    const uint64_t p = ps();
    /* only the first max_check bytes of the span are looked at */
    assert_int_equal(missing(&m, 0, m.size, 4 * p), 4 * p);
    assert_int_equal(missing(&m, p / 2, 10 * p, 3 * p), 3 * p);
    /* a window that is not a whole number of pages */
    assert_int_equal(missing(&m, 0, 10 * p, p + 1), p + 1);
    assert_int_equal(missing(&m, 7, 10 * p, 100), 100);
    /* never more than the window, wherever the span starts */
    for (uint64_t off = 0; off < 3 * p; off += p / 4 + 1) {
        uint64_t got = missing(&m, off, 20 * p, 2 * p);
        if (got != 2 * p)
            fail_msg("offset %llu: %llu missing, wanted %llu", (unsigned long long)off,
                     (unsigned long long)got, (unsigned long long)(2 * p));
    }
    unmap_file(&m);
}

static void partly_resident(void **state)
{
    (void)state;
    struct tmp_map m;
    map_cold_file(&m, 16);
    const uint64_t p = ps();
    /* bring page 5 alone in: no read-ahead around the fault */
    assert_int_equal(madvise(m.base, m.size, MADV_RANDOM), 0);
    volatile unsigned char c = m.base[5 * p + 1];
    (void)c;
    if (resident_pages(&m, 5, 1) != 1 || resident_pages(&m, 0, 16) != 1) {
        print_message("reading page 5 did not make exactly that page resident (%zu pages): "
                      "skipping\n",
                      resident_pages(&m, 0, 16));
        unmap_file(&m);
        skip();
    }
    /* [4p+100, 7p+100): ps-100 bytes of page 4, page 5 resident, page 6, 100 bytes of 7 */
    assert_int_equal(missing(&m, 4 * p + 100, 3 * p, 8 * p), 2 * p);
    /* inside the resident page only */
    assert_int_equal(missing(&m, 5 * p + 3, p - 3, 8 * p), 0);
    /* the window ends inside page 5: only page 4's bytes are missing */
    assert_int_equal(missing(&m, 4 * p + 100, 3 * p, p), p - 100);
    unmap_file(&m);
}

static void resident_prefix(void **state)
{
    (void)state;
    struct tmp_map m;
    map_cold_file(&m, 16);
    const uint64_t p = ps();
    assert_int_equal(residency_resident_prefix(m.base, 0, m.size), 0);
    /* pages 0-3 and 6 resident (page by page: no read-ahead around the faults) */
    assert_int_equal(madvise(m.base, m.size, MADV_RANDOM), 0);
    volatile unsigned char c;
    for (size_t i = 0; i < 4; i++)
        c = m.base[i * p];
    c = m.base[6 * p];
    (void)c;
    if (resident_pages(&m, 0, 16) != 5 || resident_pages(&m, 4, 2) != 0) {
        print_message("reading pages one by one brought in %zu of 16: skipping\n",
                      resident_pages(&m, 0, 16));
        unmap_file(&m);
        skip();
    }
    assert_int_equal(residency_resident_prefix(m.base, 0, m.size), 4 * p);
    /* from inside page 1: up to the end of page 3; a span ending before page 4: all of it */
    assert_int_equal(residency_resident_prefix(m.base, p + 100, m.size - p - 100), 3 * p - 100);
    assert_int_equal(residency_resident_prefix(m.base, 100, 2 * p), 2 * p);
    /* starting on a cold page, even one before a resident page: nothing */
    assert_int_equal(residency_resident_prefix(m.base, 5 * p, 2 * p), 0);
    assert_int_equal(residency_resident_prefix(m.base, 6 * p + 1, p - 1), p - 1);
    assert_int_equal(residency_resident_prefix(m.base, 0, 0), 0);
    unmap_file(&m);
}

static void unmapped_counts_as_warm(void **state)
{
    (void)state;
    const uint64_t p = ps();
    void *a = mmap(NULL, 4 * p, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(a != MAP_FAILED);
    assert_int_equal(munmap(a, 4 * p), 0);
    /* mincore fails (ENOMEM): a span that cannot be checked gets no hint */
    assert_int_equal(residency_missing(a, -1, 0, 4 * p, 4 * p), 0);
    assert_int_equal(residency_resident_prefix(a, 0, 4 * p), 4 * p);
}

/* Whether this kernel answers cachestat(2) for the file (a seccomp filter or an old kernel
 * may not): residency_file_cached() is then false for every file. */
static bool have_cachestat(int fd)
{
    uint64_t pages;
    return page_cache_cached_pages(fd, 0, 1, &pages) == 0;
}

static void whole_file(void **state)
{
    (void)state;
    const uint64_t p = ps();
    struct tmp_map m;
    map_file(&m, 16, false); /* just written: every page in the cache */
    bool cs = have_cachestat(m.fd);
    assert_int_equal(residency_file_cached(m.fd, m.size), cs);
    /* a size that ends inside the last page still needs only the pages it covers */
    assert_int_equal(residency_file_cached(m.fd, m.size - p / 2), cs);
    assert_false(residency_file_cached(-1, m.size));
    assert_false(residency_file_cached(m.fd, 0));
    unmap_file(&m);
    /* a cold file read in page by page, all but page 9: false until page 9 is read too */
    map_cold_file(&m, 16);
    assert_int_equal(madvise(m.base, m.size, MADV_RANDOM), 0);
    volatile unsigned char c;
    for (size_t i = 0; i < 16; i++)
        if (i != 9)
            c = m.base[i * p];
    if (resident_pages(&m, 0, 16) != 15 || resident_pages(&m, 9, 1) != 0) {
        print_message("reading pages one by one brought in %zu of 16: skipping\n",
                      resident_pages(&m, 0, 16));
        unmap_file(&m);
        skip();
    }
    assert_false(residency_file_cached(m.fd, m.size));
    assert_int_equal(missing(&m, 0, m.size, SIZE_MAX), p);
    assert_int_equal(residency_file_cached(m.fd, 9 * p), cs); /* the pages before it */
    /* a span: from inside page 8 into page 9 misses it, one ending in page 8 does not */
    enum residency_cached in = cs ? RESIDENCY_CACHED : RESIDENCY_UNKNOWN;
    enum residency_cached out = cs ? RESIDENCY_MISSING : RESIDENCY_UNKNOWN;
    assert_int_equal(residency_span_cached(m.fd, 8 * p + 1, p), out);
    assert_int_equal(residency_span_cached(m.fd, 7 * p + 1, p), in);
    assert_int_equal(residency_span_cached(m.fd, 10 * p, 6 * p), in);
    assert_int_equal(residency_span_cached(m.fd, 3 * p, 0), RESIDENCY_UNKNOWN);
    assert_int_equal(residency_span_cached(-1, 0, p), RESIDENCY_UNKNOWN);
    c = m.base[9 * p];
    (void)c;
    assert_int_equal(residency_file_cached(m.fd, m.size), cs);
    unmap_file(&m);
    map_cold_file(&m, 16);
    assert_false(residency_file_cached(m.fd, m.size));
    unmap_file(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resident_span),
        cmocka_unit_test(empty_span),
        cmocka_unit_test(cold_span_inside_window),
        cmocka_unit_test(cold_span_capped_by_window),
        cmocka_unit_test(partly_resident),
        cmocka_unit_test(resident_prefix),
        cmocka_unit_test(unmapped_counts_as_warm),
        cmocka_unit_test(whole_file),
    };
    return cmocka_run_group_tests_name("residency", tests, NULL, NULL);
}
