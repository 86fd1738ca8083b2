/* test_advice.c - the madvise policy and its counted application (filedata/advice.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filedata/advice.h"
#include "filedata/residency.h"
#include "metrics/metrics.h"

#define BIT(a) (1u << (a))

static size_t ps(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* madvise calls counted in `m` for one class, advice and result (error: 1 = failed). */
static uint64_t calls(struct metrics *m, enum access_class c, enum advice a, int error)
{
    return metrics_madvise_count(m, c, a, error == 0);
}

static uint64_t total_calls(struct metrics *m)
{
    uint64_t n = 0;
    for (int c = 0; c < ACCESS_CLASS_COUNT; c++)
        for (int a = 0; a < ADVICE_COUNT; a++)
            for (int e = 0; e < 2; e++)
                n += calls(m, (enum access_class)c, (enum advice)a, e);
    return n;
}

/* What the /files handler does before sending a span (handlers/files.c): ask how much of
 * the span's first window is not resident, and give WILLNEED hints only when some is.
 * Returns whether the span was found cold. The check by cachestat on `fd` (where the kernel
 * has it) must agree with mincore alone. */
static bool prefetch(struct metrics *m, enum access_class c, const void *base, int fd,
                     uint64_t off, uint64_t len, size_t window)
{
    uint64_t missing = residency_missing(base, -1, off, len, window);
    assert_int_equal(residency_missing(base, fd, off, len, window), missing);
    if (missing)
        advice_willneed(m, c, base, off, len, window);
    return missing != 0;
}

static int metrics_setup(void **state)
{
    *state = metrics_create(INSTRUMENT_FULL);
    return *state ? 0 : -1;
}

static int metrics_teardown(void **state)
{
    metrics_destroy(*state);
    return 0;
}

#define WITH_METRICS(test) cmocka_unit_test_setup_teardown(test, metrics_setup, metrics_teardown)

static void expect_format(const struct advice_policy *p, enum access_class c, const char *want)
{
    char buf[128];
    memset(buf, 'x', sizeof buf);
    advice_policy_format(p, c, buf, sizeof buf);
    assert_string_equal(buf, want);
}

/* ---- names and defaults ---- */

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(access_class_name(ACCESS_STREAM), "stream");
    assert_string_equal(access_class_name(ACCESS_RANDOM), "random");
    assert_string_equal(access_class_name(ACCESS_RANGE), "range");
    assert_string_equal(advice_name(ADVICE_NORMAL), "normal");
    assert_string_equal(advice_name(ADVICE_SEQUENTIAL), "sequential");
    assert_string_equal(advice_name(ADVICE_RANDOM), "random");
    assert_string_equal(advice_name(ADVICE_WILLNEED), "willneed");
    assert_string_equal(advice_name(ADVICE_DONTNEED), "dontneed");
}

static void test_defaults(void **state)
{
    (void)state;
    struct advice_policy p;
    memset(&p, 0xff, sizeof p);
    advice_policy_defaults(&p);
    expect_format(&p, ACCESS_STREAM, "sequential,auto");
    expect_format(&p, ACCESS_RANDOM, "random,auto");
    expect_format(&p, ACCESS_RANGE, "auto");
    assert_int_equal(p.mask[ACCESS_STREAM], BIT(ADVICE_SEQUENTIAL));
    assert_int_equal(p.mask[ACCESS_RANDOM], BIT(ADVICE_RANDOM));
    assert_int_equal(p.mask[ACCESS_RANGE], 0);
    for (int c = 0; c < ACCESS_CLASS_COUNT; c++)
        assert_true(p.automatic[c]);
}

/* ---- advice_policy_set ---- */

static void expect_set(const char *spec, enum access_class c, const char *want_format)
{
    struct advice_policy p;
    char err[256] = "";
    advice_policy_defaults(&p);
    struct advice_policy before = p;
    if (!advice_policy_set(&p, spec, err, sizeof err))
        fail_msg("'%s' rejected: %s", spec, err);
    expect_format(&p, c, want_format);
    /* the other classes are untouched */
    for (int o = 0; o < ACCESS_CLASS_COUNT; o++)
        if (o != (int)c)
            assert_int_equal(p.mask[o], before.mask[o]);
}

static void test_set_none(void **state)
{
    (void)state;
    expect_set("stream=none", ACCESS_STREAM, "none");
    expect_set("random=none", ACCESS_RANDOM, "none");
    expect_set("random=none,none", ACCESS_RANDOM, "none");
    expect_set("range=none", ACCESS_RANGE, "none");
    expect_set("range=willneed", ACCESS_RANGE, "willneed");
    expect_set("range=auto", ACCESS_RANGE, "auto");
    expect_set("stream=auto,sequential", ACCESS_STREAM, "sequential,auto");
    expect_set("random=random,auto,dontneed", ACCESS_RANDOM, "random,dontneed,auto");
    struct advice_policy p;
    char err[256];
    advice_policy_defaults(&p);
    assert_true(advice_policy_set(&p, "stream=none", err, sizeof err));
    assert_int_equal(p.mask[ACCESS_STREAM], 0);
}

static void test_set_combos(void **state)
{
    (void)state;
    expect_set("stream=willneed", ACCESS_STREAM, "willneed");
    expect_set("stream=dontneed", ACCESS_STREAM, "dontneed");
    expect_set("stream=normal", ACCESS_STREAM, "normal");
    expect_set("random=sequential,willneed,dontneed", ACCESS_RANDOM,
               "sequential,willneed,dontneed");
    expect_set("stream=normal,willneed,dontneed", ACCESS_STREAM, "normal,willneed,dontneed");
    /* order of the list does not matter; format uses the canonical order */
    expect_set("stream=dontneed,willneed,random", ACCESS_STREAM, "random,willneed,dontneed");
    expect_set("stream=willneed,willneed", ACCESS_STREAM, "willneed");
    expect_set("random=random", ACCESS_RANDOM, "random");
}

static void expect_set_error(const char *spec, const char *msg_part)
{
    struct advice_policy p, before;
    char err[256] = "";
    advice_policy_defaults(&p);
    p.mask[ACCESS_STREAM] = BIT(ADVICE_DONTNEED);
    before = p;
    if (advice_policy_set(&p, spec, err, sizeof err))
        fail_msg("'%s' accepted", spec);
    if (!strstr(err, msg_part))
        fail_msg("'%s': message '%s' does not contain '%s'", spec, err, msg_part);
    /* a rejected spec changes nothing */
    assert_memory_equal(&p, &before, sizeof p);
}

static void test_set_errors(void **state)
{
    (void)state;
    expect_set_error("bogus=none", "unknown access class 'bogus'");
    expect_set_error("=none", "unknown access class ''");
    expect_set_error("Stream=none", "unknown access class 'Stream'");
    expect_set_error("streamx=none", "unknown access class 'streamx'");
    expect_set_error("stream=fast", "unknown advice 'fast'");
    expect_set_error("stream=WILLNEED", "unknown advice 'WILLNEED'");
    expect_set_error("stream=", "unknown advice ''");
    expect_set_error("stream=willneed,", "unknown advice ''");
    expect_set_error("stream=,willneed", "unknown advice ''");
    expect_set_error("stream= willneed", "unknown advice ' willneed'");
    expect_set_error("stream=willneedx", "unknown advice 'willneedx'");
    expect_set_error("stream=none,willneed", "'none' cannot be combined");
    expect_set_error("stream=dontneed,none", "'none' cannot be combined");
    expect_set_error("stream=normal,random", "at most one of normal, sequential, random");
    expect_set_error("stream=sequential,random,willneed", "at most one of");
    expect_set_error("random=normal,sequential", "at most one of");
    expect_set_error("stream", "is not CLASS=LIST");
    expect_set_error("", "is not CLASS=LIST");
    expect_set_error("willneed", "is not CLASS=LIST");
    expect_set_error("range=sequential", "class range takes willneed, auto or none");
    expect_set_error("range=willneed,dontneed", "class range takes willneed, auto or none");
    expect_set_error("range=random,willneed", "class range takes willneed, auto or none");
    expect_set_error("stream=auto,willneed", "'auto' decides willneed");
    expect_set_error("stream=none,auto", "'none' cannot be combined");
    expect_set_error("stream=Auto", "unknown advice 'Auto'");
}

/* ---- applying: real mappings of temporary files ---- */

struct tmp_map {
    int fd;
    unsigned char *base;
    size_t size;
};

static void map_file(struct tmp_map *m, size_t pages, bool evict)
{
    char path[] = "/tmp/mmapd-test-advice-XXXXXX";
    m->size = pages * ps();
    m->fd = mkstemp(path);
    assert_true(m->fd >= 0);
    unlink(path);
    unsigned char *buf = malloc(m->size);
    assert_non_null(buf);
    for (size_t i = 0; i < m->size; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
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

/* Number of resident pages among the first `pages` of the mapping. */
static size_t resident_pages(const struct tmp_map *m, size_t pages)
{
    unsigned char vec[1024];
    assert_true(pages <= sizeof vec);
    assert_int_equal(mincore(m->base, pages * ps(), vec), 0);
    size_t n = 0;
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    return n;
}

static void touch_all(const struct tmp_map *m, size_t bytes)
{
    volatile unsigned sum = 0;
    for (size_t i = 0; i < bytes; i++)
        sum += m->base[i];
    (void)sum;
}

/* Maps a freshly written, evicted file; skips the test when eviction did not work. */
static void map_cold_file(struct tmp_map *m, size_t pages)
{
    map_file(m, pages, true);
    size_t res = resident_pages(m, pages);
    if (res != 0) {
        print_message("eviction with POSIX_FADV_DONTNEED did not work here (%zu of %zu pages "
                      "still resident): skipping the cold-span assertions\n",
                      res, pages);
        unmap_file(m);
        skip();
    }
}

static void test_on_map_defaults(void **state)
{
    struct metrics *s = *state;
    struct advice_policy p;
    struct tmp_map m;
    advice_policy_defaults(&p);
    map_file(&m, 8, false);

    advice_on_map(&p, s, ACCESS_STREAM, m.base, m.size);
    assert_int_equal(calls(s, ACCESS_STREAM, ADVICE_SEQUENTIAL, 0), 1);
    assert_int_equal(total_calls(s), 1); /* willneed is never applied on map */

    advice_on_map(&p, s, ACCESS_RANDOM, m.base, m.size);
    assert_int_equal(calls(s, ACCESS_RANDOM, ADVICE_RANDOM, 0), 1);
    assert_int_equal(total_calls(s), 2);
    unmap_file(&m);
}

static void test_on_map_policies(void **state)
{
    struct metrics *s = *state;
    struct advice_policy p;
    struct tmp_map m;
    char err[256];
    advice_policy_defaults(&p);
    map_file(&m, 4, false);

    assert_true(advice_policy_set(&p, "stream=none", err, sizeof err));
    advice_on_map(&p, s, ACCESS_STREAM, m.base, m.size);
    assert_int_equal(total_calls(s), 0);

    assert_true(advice_policy_set(&p, "stream=willneed,dontneed", err, sizeof err));
    advice_on_map(&p, s, ACCESS_STREAM, m.base, m.size);
    assert_int_equal(total_calls(s), 0);

    assert_true(advice_policy_set(&p, "stream=normal,willneed", err, sizeof err));
    advice_on_map(&p, s, ACCESS_STREAM, m.base, m.size);
    assert_int_equal(calls(s, ACCESS_STREAM, ADVICE_NORMAL, 0), 1);
    assert_int_equal(total_calls(s), 1);

    /* an empty mapping gets nothing */
    advice_on_map(&p, s, ACCESS_STREAM, m.base, 0);
    assert_int_equal(total_calls(s), 1);
    unmap_file(&m);
}

static void test_on_map_error_counted(void **state)
{
    struct metrics *s = *state;
    struct advice_policy p;
    struct tmp_map m;
    advice_policy_defaults(&p);
    map_file(&m, 2, false);
    /* madvise needs a page-aligned address: EINVAL is counted, not fatal */
    advice_on_map(&p, s, ACCESS_RANDOM, m.base + 1, m.size - 1);
    assert_int_equal(calls(s, ACCESS_RANDOM, ADVICE_RANDOM, 1), 1);
    assert_int_equal(calls(s, ACCESS_RANDOM, ADVICE_RANDOM, 0), 0);
    assert_int_equal(total_calls(s), 1);
    unmap_file(&m);
}

/* Whether a cold request of a class may give WILLNEED: `willneed` or `auto` in its list. */
static void test_may_willneed(void **state)
{
    (void)state;
    struct advice_policy p;
    char err[256];
    advice_policy_defaults(&p);
    for (int c = 0; c < ACCESS_CLASS_COUNT; c++) {
        assert_true(p.automatic[c]);
        assert_true(advice_may_willneed(&p, (enum access_class)c));
        assert_false(advice_wants(&p, (enum access_class)c, ADVICE_WILLNEED));
    }
    assert_true(advice_policy_set(&p, "stream=sequential", err, sizeof err));
    assert_false(advice_may_willneed(&p, ACCESS_STREAM));
    assert_false(p.automatic[ACCESS_STREAM]);
    assert_true(advice_policy_set(&p, "stream=none", err, sizeof err));
    assert_false(advice_may_willneed(&p, ACCESS_STREAM));
    assert_true(advice_policy_set(&p, "stream=sequential,willneed", err, sizeof err));
    assert_true(advice_may_willneed(&p, ACCESS_STREAM));
    assert_false(p.automatic[ACCESS_STREAM]);
    assert_true(advice_policy_set(&p, "range=none", err, sizeof err));
    assert_false(advice_may_willneed(&p, ACCESS_RANGE));
    /* the other classes keep theirs */
    assert_true(p.automatic[ACCESS_RANDOM]);
}

static void test_prefetch_empty_span(void **state)
{
    struct metrics *s = *state;
    struct advice_policy p;
    struct tmp_map m;
    advice_policy_defaults(&p);
    map_file(&m, 4, true);
    assert_int_equal(residency_missing(m.base, m.fd, 0, 0, ps()), 0);
    assert_int_equal(residency_missing(m.base, m.fd, ps(), 0, ps()), 0);
    advice_willneed(s, ACCESS_STREAM, m.base, 0, 0, ps());
    advice_willneed(s, ACCESS_STREAM, m.base, ps() + 5, 0, ps());
    assert_false(prefetch(s, ACCESS_STREAM, m.base, m.fd, 0, 0, ps()));
    assert_int_equal(total_calls(s), 0);
    unmap_file(&m);
}

/* advice_willneed alone (the caller found the span cold): the window arithmetic, on a warm
 * mapping so that it does not depend on eviction working. */
static void test_willneed_windows(void **state)
{
    struct metrics *s = *state;
    struct advice_policy p;
    struct tmp_map m;
    advice_policy_defaults(&p);
    map_file(&m, 64, false);
    /* 64 pages in windows of 4 pages: capped at ADVICE_PREFETCH_WINDOWS calls */
    advice_willneed(s, ACCESS_RANGE, m.base, 0, m.size, 4 * ps());
    assert_int_equal(calls(s, ACCESS_RANGE, ADVICE_WILLNEED, 0), ADVICE_PREFETCH_WINDOWS);
    /* exactly ADVICE_PREFETCH_WINDOWS windows: no cap needed */
    advice_willneed(s, ACCESS_RANGE, m.base, 0, ADVICE_PREFETCH_WINDOWS * ps(), ps());
    assert_int_equal(calls(s, ACCESS_RANGE, ADVICE_WILLNEED, 0), 2 * ADVICE_PREFETCH_WINDOWS);
    /* 3 pages, window smaller than a page: one page per call */
    advice_willneed(s, ACCESS_RANDOM, m.base, 8 * ps(), 3 * ps(), 100);
    assert_int_equal(calls(s, ACCESS_RANDOM, ADVICE_WILLNEED, 0), 3);
    /* 20 bytes across a page boundary: from the first page's start, 2 pages at 1 page */
    advice_willneed(s, ACCESS_RANDOM, m.base, 20 * ps() - 10, 20, ps());
    assert_int_equal(calls(s, ACCESS_RANDOM, ADVICE_WILLNEED, 0), 5);
    /* the same span with a 2-page window: one call */
    advice_willneed(s, ACCESS_RANDOM, m.base, 20 * ps() - 10, 20, 2 * ps());
    assert_int_equal(calls(s, ACCESS_RANDOM, ADVICE_WILLNEED, 0), 6);
    assert_int_equal(calls(s, ACCESS_RANGE, ADVICE_WILLNEED, 1), 0);
    assert_int_equal(calls(s, ACCESS_RANDOM, ADVICE_WILLNEED, 1), 0);
    assert_int_equal(total_calls(s), 2 * ADVICE_PREFETCH_WINDOWS + 6);
    unmap_file(&m);
}

static void test_prefetch_resident_span(void **state)
{
    struct metrics *s = *state;
    struct advice_policy p;
    struct tmp_map m;
    advice_policy_defaults(&p);
    map_file(&m, 16, false);
    touch_all(&m, m.size);
    assert_int_equal(resident_pages(&m, 16), 16);
    assert_false(prefetch(s, ACCESS_STREAM, m.base, m.fd, 0, m.size, 4 * ps()));
    assert_false(prefetch(s, ACCESS_RANDOM, m.base, m.fd, 5 * ps() + 3, 100, ps()));
    assert_int_equal(calls(s, ACCESS_STREAM, ADVICE_WILLNEED, 0), 0);
    assert_int_equal(total_calls(s), 0);
    unmap_file(&m);
}

static void test_prefetch_cold_span(void **state)
{
    struct metrics *s = *state;
    struct advice_policy p;
    struct tmp_map m;
    advice_policy_defaults(&p);
    map_cold_file(&m, 64);
    /* 64 pages in windows of 4 pages: capped at ADVICE_PREFETCH_WINDOWS calls */
    assert_true(prefetch(s, ACCESS_RANGE, m.base, m.fd, 0, m.size, 4 * ps()));
    uint64_t ok = calls(s, ACCESS_RANGE, ADVICE_WILLNEED, 0);
    assert_true(ok >= 1);
    assert_true(ok <= ADVICE_PREFETCH_WINDOWS);
    assert_int_equal(ok, ADVICE_PREFETCH_WINDOWS);
    assert_int_equal(calls(s, ACCESS_RANGE, ADVICE_WILLNEED, 1), 0);
    assert_int_equal(total_calls(s), ADVICE_PREFETCH_WINDOWS);
    unmap_file(&m);
}

static void test_prefetch_cold_window_count(void **state)
{
    struct metrics *s = *state;
    struct advice_policy p;
    struct tmp_map m;
    advice_policy_defaults(&p);
    map_cold_file(&m, 256); /* spans far apart, so one hint cannot warm the next span */
    /* 2 pages, window 1 page: 2 calls */
    assert_true(prefetch(s, ACCESS_RANDOM, m.base, m.fd, 0, 2 * ps(), ps()));
    assert_int_equal(calls(s, ACCESS_RANDOM, ADVICE_WILLNEED, 0), 2);
    /* a window smaller than a page counts as one page: 3 pages, 3 calls */
    assert_true(prefetch(s, ACCESS_RANGE, m.base, m.fd, 64 * ps(), 3 * ps(), 1));
    assert_int_equal(calls(s, ACCESS_RANGE, ADVICE_WILLNEED, 0), 3);
    /* unaligned offset: the span starts at its page; 10 bytes inside one page, one call */
    assert_true(prefetch(s, ACCESS_RANGE, m.base, m.fd, 128 * ps() + 10, 10, 4 * ps()));
    assert_int_equal(calls(s, ACCESS_RANGE, ADVICE_WILLNEED, 0), 4);
    /* a window larger than the span: one call */
    assert_true(prefetch(s, ACCESS_RANGE, m.base, m.fd, 192 * ps(), 5 * ps(), 64 * ps()));
    assert_int_equal(calls(s, ACCESS_RANGE, ADVICE_WILLNEED, 0), 5);
    assert_int_equal(total_calls(s), 7);
    unmap_file(&m);
}

static void test_prefetch_warm_first_window(void **state)
{
    struct metrics *s = *state;
    struct advice_policy p;
    struct tmp_map m;
    advice_policy_defaults(&p);
    map_cold_file(&m, 32);
    /* only the first window decides: make pages 0-1 resident, the rest stays cold */
    touch_all(&m, 2 * ps());
    if (resident_pages(&m, 2) != 2)
        fail_msg("reading through the mapping did not make the pages resident");
    assert_false(prefetch(s, ACCESS_STREAM, m.base, m.fd, 0, m.size, 2 * ps()));
    assert_int_equal(total_calls(s), 0);
    unmap_file(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set_none),
        cmocka_unit_test(test_set_combos),
        cmocka_unit_test(test_set_errors),
        WITH_METRICS(test_on_map_defaults),
        WITH_METRICS(test_on_map_policies),
        WITH_METRICS(test_on_map_error_counted),
        cmocka_unit_test(test_may_willneed),
        WITH_METRICS(test_prefetch_empty_span),
        WITH_METRICS(test_willneed_windows),
        WITH_METRICS(test_prefetch_resident_span),
        WITH_METRICS(test_prefetch_cold_span),
        WITH_METRICS(test_prefetch_cold_window_count),
        WITH_METRICS(test_prefetch_warm_first_window),
    };
    return cmocka_run_group_tests_name("advice", tests, NULL, NULL);
}
