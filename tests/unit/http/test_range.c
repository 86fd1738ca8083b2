/* test_range.c - range_parse() and range_coalesce() (http/range.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/range.h"

#define MAX64 UINT64_MAX

/* Parses into a heap array of exactly RANGE_SLOTS(max) elements so ASan sees any write past
 * it. */
struct parsed {
    enum range_outcome rc;
    size_t n;
    struct byte_range r[RANGE_SLOTS(600)];
};

static struct parsed parse(const char *header, uint64_t size, size_t max)
{
    struct parsed p;
    memset(&p, 0, sizeof p);
    size_t slots = RANGE_SLOTS(max);
    struct byte_range *out = calloc(slots ? slots : 1, sizeof *out);
    assert_non_null(out);
    p.n = 12345; /* must be overwritten */
    p.rc = range_parse(header, size, max, out, &p.n);
    assert_true(slots <= sizeof p.r / sizeof p.r[0]);
    memcpy(p.r, out, slots * sizeof *out);
    free(out);
    return p;
}

static void expect_ranges(const char *header, uint64_t size, size_t max, size_t n,
                          const uint64_t *pairs)
{
    struct parsed p = parse(header, size, max);
    if (p.rc != RANGE_OK)
        print_error("header '%s' size %llu: outcome %d, expected RANGE_OK\n", header,
                    (unsigned long long)size, (int)p.rc);
    assert_int_equal(p.rc, RANGE_OK);
    assert_int_equal(p.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p.r[i].first, pairs[2 * i]);
        assert_int_equal(p.r[i].last, pairs[2 * i + 1]);
    }
}

static void expect_outcome(const char *header, uint64_t size, size_t max, enum range_outcome want)
{
    struct parsed p = parse(header, size, max);
    if (p.rc != want)
        print_error("header '%s' size %llu max %zu: outcome %d, expected %d\n", header,
                    (unsigned long long)size, max, (int)p.rc, (int)want);
    assert_int_equal(p.rc, want);
    assert_int_equal(p.n, 0); /* *count is 0 unless RANGE_OK */
}

/* ---- single forms ---- */

static void test_first_last(void **state)
{
    (void)state;
    expect_ranges("bytes=0-499", 10000, 8, 1, (const uint64_t[]){0, 499});
    expect_ranges("bytes=500-999", 10000, 8, 1, (const uint64_t[]){500, 999});
    expect_ranges("bytes=0-0", 10000, 8, 1, (const uint64_t[]){0, 0});
    expect_ranges("bytes=9999-9999", 10000, 8, 1, (const uint64_t[]){9999, 9999});
    expect_ranges("bytes=0-9999", 10000, 8, 1, (const uint64_t[]){0, 9999});
    /* leading zeros are still decimal */
    expect_ranges("bytes=007-010", 10000, 8, 1, (const uint64_t[]){7, 10});
}

static void test_open_ended(void **state)
{
    (void)state;
    expect_ranges("bytes=9500-", 10000, 8, 1, (const uint64_t[]){9500, 9999});
    expect_ranges("bytes=0-", 10000, 8, 1, (const uint64_t[]){0, 9999});
    expect_ranges("bytes=9999-", 10000, 8, 1, (const uint64_t[]){9999, 9999});
}

static void test_suffix(void **state)
{
    (void)state;
    expect_ranges("bytes=-500", 10000, 8, 1, (const uint64_t[]){9500, 9999});
    expect_ranges("bytes=-1", 10000, 8, 1, (const uint64_t[]){9999, 9999});
    expect_ranges("bytes=-9999", 10000, 8, 1, (const uint64_t[]){1, 9999});
    expect_ranges("bytes=-10000", 10000, 8, 1, (const uint64_t[]){0, 9999});
}

static void test_suffix_larger_than_size(void **state)
{
    (void)state;
    expect_ranges("bytes=-20", 10, 8, 1, (const uint64_t[]){0, 9});
    expect_ranges("bytes=-11", 10, 8, 1, (const uint64_t[]){0, 9});
    expect_ranges("bytes=-1000000", 1, 8, 1, (const uint64_t[]){0, 0});
}

static void test_suffix_zero(void **state)
{
    (void)state;
    expect_outcome("bytes=-0", 10, 8, RANGE_UNSATISFIABLE);
    expect_outcome("bytes=-000", 10, 8, RANGE_UNSATISFIABLE);
    /* an unsatisfiable -0 next to a satisfiable range is just dropped */
    expect_ranges("bytes=-0,0-0", 10, 8, 1, (const uint64_t[]){0, 0});
}

static void test_clamp_to_size(void **state)
{
    (void)state;
    expect_ranges("bytes=5-1000", 10, 8, 1, (const uint64_t[]){5, 9});
    expect_ranges("bytes=0-10", 10, 8, 1, (const uint64_t[]){0, 9});
    expect_ranges("bytes=9-9", 10, 8, 1, (const uint64_t[]){9, 9});
    expect_ranges("bytes=9-10", 10, 8, 1, (const uint64_t[]){9, 9});
}

/* ---- lists ---- */

static void test_list_sorted_and_merged(void **state)
{
    (void)state;
    expect_ranges("bytes=0-0,-1", 10000, 8, 2, (const uint64_t[]){0, 0, 9999, 9999});
    expect_ranges("bytes=-1,0-0", 10000, 8, 2, (const uint64_t[]){0, 0, 9999, 9999});
    /* adjacent and overlapping ranges are merged, the rest sorted by start */
    expect_ranges("bytes=500-600,601-999", 10000, 8, 1, (const uint64_t[]){500, 999});
    expect_ranges("bytes=500-600,0-10,5-7", 10000, 8, 2, (const uint64_t[]){0, 10, 500, 600});
    expect_ranges("bytes=1-2,1-2", 10, 8, 1, (const uint64_t[]){1, 2});
    expect_ranges("bytes=8-9,0-1,4-5", 10, 8, 3, (const uint64_t[]){0, 1, 4, 5, 8, 9});
    /* a one-byte gap is kept: no gap is bridged */
    expect_ranges("bytes=0-1,3-4", 10, 8, 2, (const uint64_t[]){0, 1, 3, 4});
}

static void test_ows_around_elements(void **state)
{
    (void)state;
    expect_ranges("bytes= 0-1 ,\t3-4\t, 6-7 ", 100, 8, 3, (const uint64_t[]){0, 1, 3, 4, 6, 7});
    expect_ranges("bytes=0-1 , 3-4", 100, 8, 2, (const uint64_t[]){0, 1, 3, 4});
    expect_ranges("bytes=\t\t-5\t", 100, 8, 1, (const uint64_t[]){95, 99});
    expect_ranges("  bytes=0-1", 100, 8, 1, (const uint64_t[]){0, 1});
}

static void test_empty_elements(void **state)
{
    (void)state;
    expect_ranges("bytes=,0-1,,3-4,", 100, 8, 2, (const uint64_t[]){0, 1, 3, 4});
    expect_ranges("bytes=, ,\t,0-1", 100, 8, 1, (const uint64_t[]){0, 1});
    expect_ranges("bytes=0-1,,,", 100, 8, 1, (const uint64_t[]){0, 1});
}

static void test_unit_case_insensitive(void **state)
{
    (void)state;
    expect_ranges("BYTES=0-1", 100, 8, 1, (const uint64_t[]){0, 1});
    expect_ranges("Bytes=2-3", 100, 8, 1, (const uint64_t[]){2, 3});
    expect_ranges("bYtEs=-4", 100, 8, 1, (const uint64_t[]){96, 99});
}

static void test_unknown_unit(void **state)
{
    (void)state;
    expect_outcome("items=0-1", 100, 8, RANGE_IGNORED);
    expect_outcome("byte=0-1", 100, 8, RANGE_IGNORED);
    expect_outcome("bytesx=0-1", 100, 8, RANGE_IGNORED);
    expect_outcome("bytes 0-1", 100, 8, RANGE_IGNORED);
    expect_outcome("bytes =0-1", 100, 8, RANGE_IGNORED);
    expect_outcome("bytes", 100, 8, RANGE_IGNORED);
    expect_outcome("", 100, 8, RANGE_IGNORED);
    expect_outcome("0-1", 100, 8, RANGE_IGNORED);
    expect_outcome("=0-1", 100, 8, RANGE_IGNORED);
}

static void test_invalid_syntax(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "bytes=",        "bytes=,",        "bytes=, ,",      "bytes=-",      "bytes=1-2-3",
        "bytes=5-4",     "bytes=1-0",      "bytes=a-b",      "bytes=1-b",    "bytes=a-1",
        "bytes=-a",      "bytes=1 -2",     "bytes=1- 2",     "bytes=- 5",    "bytes=1 2-3",
        "bytes=--1",     "bytes=+1-2",     "bytes=1-+2",     "bytes=0x10-20", "bytes=1-2;3-4",
        "bytes=1",       "bytes=1-2 3-4",  "bytes=0-1,x",    "bytes=0-1,5-4", "bytes=0-1,-",
        "bytes=1.5-2",   "bytes==0-1",     "bytes=0-1\n",    "bytes=-1-2",   "bytes=1--2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_outcome(bad[i], 100, 8, RANGE_IGNORED);
    /* invalid syntax is ignored even when the file is empty or the spec count is large */
    expect_outcome("bytes=5-4", 0, 8, RANGE_IGNORED);
    expect_outcome("bytes=", 0, 8, RANGE_IGNORED);
}

/* ---- satisfiability ---- */

static void test_first_beyond_size_dropped(void **state)
{
    (void)state;
    expect_ranges("bytes=10-20,0-0", 10, 8, 1, (const uint64_t[]){0, 0});
    expect_ranges("bytes=0-0,10-,3-4", 10, 8, 2, (const uint64_t[]){0, 0, 3, 4});
    expect_outcome("bytes=10-", 10, 8, RANGE_UNSATISFIABLE);
    expect_outcome("bytes=10-10", 10, 8, RANGE_UNSATISFIABLE);
    expect_outcome("bytes=11-20", 10, 8, RANGE_UNSATISFIABLE);
}

static void test_all_unsatisfiable(void **state)
{
    (void)state;
    expect_outcome("bytes=10-20,30-,-0", 10, 8, RANGE_UNSATISFIABLE);
    expect_outcome("bytes=100-200", 100, 8, RANGE_UNSATISFIABLE);
}

static void test_size_zero_unsatisfiable(void **state)
{
    (void)state;
    static const char *const forms[] = {"bytes=0-0", "bytes=0-",  "bytes=-1",  "bytes=-0",
                                        "bytes=-100", "bytes=5-10", "bytes=0-0,-1"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        expect_outcome(forms[i], 0, 8, RANGE_UNSATISFIABLE);
}

/* ---- more ranges than max ---- */

static void test_too_many(void **state)
{
    (void)state;
    expect_ranges("bytes=0-0,2-2,4-4", 10, 3, 3, (const uint64_t[]){0, 0, 2, 2, 4, 4});
    /* four disjoint ranges, max 3: 4 of 10 bytes covered, less than half: 416 */
    expect_outcome("bytes=0-0,2-2,4-4,6-6", 10, 3, RANGE_TOO_MANY);
    /* the same four cover half of an 8-byte file: the whole file */
    expect_outcome("bytes=0-0,2-2,4-4,6-6", 8, 3, RANGE_WHOLE);
    expect_outcome("bytes=0-0,2-2", 10, 1, RANGE_TOO_MANY);
    expect_outcome("bytes=0-0,2-2", 4, 1, RANGE_WHOLE);
    expect_outcome("bytes=0-0,2-2", 5, 1, RANGE_TOO_MANY); /* 2 of 5: less than half */
    expect_ranges("bytes=0-0", 10, 1, 1, (const uint64_t[]){0, 0});
    /* the limit counts ranges once merged: overlapping and adjacent specs are one range */
    expect_ranges("bytes=0-0,1-1,2-2,3-3", 10, 1, 1, (const uint64_t[]){0, 3});
    expect_ranges("bytes=0-0,0-0,0-0,0-0,0-0", 10, 1, 1, (const uint64_t[]){0, 0});
    /* unsatisfiable specs are dropped before they count */
    expect_outcome("bytes=100-,200-,300-,400-", 10, 3, RANGE_UNSATISFIABLE);
    expect_ranges("bytes=-0,-0,-0,0-0", 10, 3, 1, (const uint64_t[]){0, 0});
    /* empty elements do not count */
    expect_ranges("bytes=,,0-0,,2-2,,4-4,,", 10, 3, 3, (const uint64_t[]){0, 0, 2, 2, 4, 4});
    /* syntax still decides, wherever the bad element is */
    expect_outcome("bytes=0-0,2-2,4-4,6-6,8-8,5-4", 10, 1, RANGE_IGNORED);
    expect_outcome("bytes=0-0,2-2,4-4,6-6,8-8,x", 10, 1, RANGE_IGNORED);
}

static void build_list(char *buf, size_t bufsz, size_t specs)
{
    size_t n = (size_t)snprintf(buf, bufsz, "bytes=");
    for (size_t i = 0; i < specs; i++)
        n += (size_t)snprintf(buf + n, bufsz - n, "%s%zu-%zu", i ? "," : "", 2 * i, 2 * i);
}

static void test_too_many_boundary_64_and_511(void **state)
{
    (void)state;
    char buf[16384];
    build_list(buf, sizeof buf, 64);
    struct parsed p = parse(buf, 10000, 64);
    assert_int_equal(p.rc, RANGE_OK);
    assert_int_equal(p.n, 64);
    assert_int_equal(p.r[63].first, 126);
    assert_int_equal(p.r[63].last, 126);
    build_list(buf, sizeof buf, 65);
    expect_outcome(buf, 10000, 64, RANGE_TOO_MANY);

    build_list(buf, sizeof buf, 511);
    p = parse(buf, 10000, 511);
    assert_int_equal(p.rc, RANGE_OK);
    assert_int_equal(p.n, 511);
    assert_int_equal(p.r[510].first, 1020);
    build_list(buf, sizeof buf, 512);
    expect_outcome(buf, 10000, 511, RANGE_TOO_MANY);
}

/* The 2011 Apache range-DoS shape: 1300 overlapping specs merge into one range, so the answer
 * is one copy of the file at most. */
static void test_many_overlapping_merge(void **state)
{
    (void)state;
    static char buf[16384];
    size_t n = (size_t)snprintf(buf, sizeof buf, "bytes=0-");
    for (size_t j = 5; j < 1300; j++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",5-%zu", j);
    assert_true(n < sizeof buf - 1);
    expect_ranges(buf, 10000, 64, 1, (const uint64_t[]){0, 9999});
    expect_ranges(buf, 10000, 1, 1, (const uint64_t[]){0, 9999});
    /* 1000 overlapping ranges in the middle: one range, no byte twice */
    n = (size_t)snprintf(buf, sizeof buf, "bytes=");
    for (size_t j = 0; j < 1000; j++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%zu-%zu", j ? "," : "", 100 + j % 7,
                              200 + j % 13);
    expect_ranges(buf, 10000, 4, 1, (const uint64_t[]){100, 212});
}

/* `out` fills up and is merged again and again: 1000 specs that fall into 4 disjoint ranges
 * fit max 4 (room for 8), however they are ordered. */
static void test_merges_as_it_fills(void **state)
{
    (void)state;
    static char buf[16384];
    size_t n = (size_t)snprintf(buf, sizeof buf, "bytes=");
    for (size_t j = 0; j < 1000; j++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%zu-%zu", j ? "," : "",
                              (j * 7 % 4) * 100 + j % 10, (j * 7 % 4) * 100 + 10 + j % 10);
    /* area 0 and 200 get the even offsets (0-10 to 8-18), 100 and 300 the odd ones */
    expect_ranges(buf, 10000, 4, 4, (const uint64_t[]){0, 18, 101, 119, 200, 218, 301, 319});
    expect_outcome(buf, 10000, 3, RANGE_TOO_MANY);
}

/* Once a merge leaves more than max, the ranges read so far decide: a later range that would
 * bridge them is not taken into account (bounded work), but one read before the merge is. */
static void test_settled_by_first_overflow(void **state)
{
    (void)state;
    /* max 2: room for 4; the fifth spec makes a merge that leaves 4 > 2 */
    expect_outcome("bytes=0-0,2-2,4-4,6-6,8-8,0-", 100, 2, RANGE_TOO_MANY);
    expect_ranges("bytes=0-0,2-2,4-4,0-,6-6,8-8", 100, 2, 1, (const uint64_t[]){0, 99});
    /* covered bytes are counted on the ranges read so far */
    expect_outcome("bytes=0-9,20-29,40-49,60-69,80-89,0-", 100, 2, RANGE_TOO_MANY);
    expect_outcome("bytes=0-19,20-39,50-69,80-99,95-", 100, 2, RANGE_WHOLE);
}

/* A long header costs time linear in its length: 100000 disjoint one-byte ranges. */
static void test_long_header_bounded(void **state)
{
    (void)state;
    size_t cap = 100000 * 14 + 32;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n = (size_t)snprintf(buf, cap, "bytes=");
    for (size_t j = 0; j < 100000; j++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%zu-%zu", j ? "," : "", 2 * j, 2 * j);
    /* they cover half of 200000 bytes, but the 1022 read when the first merge overflows
     * cover 1022: 416 */
    expect_outcome(buf, 200000, 511, RANGE_TOO_MANY);
    expect_outcome(buf, 10000000, 64, RANGE_TOO_MANY);
    /* the same after a first range of half the file: the whole file */
    n = (size_t)snprintf(buf, cap, "bytes=0-99999");
    for (size_t j = 0; j < 99000; j++)
        n += (size_t)snprintf(buf + n, cap - n, ",%zu-%zu", 100000 + 2 * j, 100000 + 2 * j);
    assert_true(n < cap - 1);
    expect_outcome(buf, 200000, 511, RANGE_WHOLE);
    free(buf);
}

/* ---- overflow and UINT64 edges ---- */

static void test_overflow_saturates(void **state)
{
    (void)state;
    expect_ranges("bytes=0-99999999999999999999999", 100, 8, 1, (const uint64_t[]){0, 99});
    expect_ranges("bytes=-99999999999999999999999", 100, 8, 1, (const uint64_t[]){0, 99});
    expect_outcome("bytes=99999999999999999999999-", 100, 8, RANGE_UNSATISFIABLE);
    /* both ends saturate to UINT64_MAX: last == first, still valid syntax */
    expect_outcome("bytes=99999999999999999999-99999999999999999998", 100, 8,
                   RANGE_UNSATISFIABLE);
    /* first saturates to UINT64_MAX, last is UINT64_MAX - 1: last < first, invalid */
    expect_outcome("bytes=99999999999999999999-18446744073709551614", 100, 8, RANGE_IGNORED);
    /* 2^64 saturates (does not wrap to 0) */
    expect_outcome("bytes=18446744073709551616-18446744073709551615", 100, 8,
                   RANGE_UNSATISFIABLE);
    expect_outcome("bytes=18446744073709551616-", 100, 8, RANGE_UNSATISFIABLE);
}

static void test_uint64_edges(void **state)
{
    (void)state;
    const uint64_t size = MAX64;
    expect_ranges("bytes=0-", size, 8, 1, (const uint64_t[]){0, MAX64 - 1});
    expect_ranges("bytes=-1", size, 8, 1, (const uint64_t[]){MAX64 - 1, MAX64 - 1});
    expect_ranges("bytes=-18446744073709551615", size, 8, 1, (const uint64_t[]){0, MAX64 - 1});
    expect_ranges("bytes=-18446744073709551614", size, 8, 1, (const uint64_t[]){1, MAX64 - 1});
    expect_ranges("bytes=0-18446744073709551615", size, 8, 1, (const uint64_t[]){0, MAX64 - 1});
    expect_ranges("bytes=18446744073709551614-", size, 8, 1,
                  (const uint64_t[]){MAX64 - 1, MAX64 - 1});
    expect_ranges("bytes=18446744073709551613-18446744073709551614", size, 8, 1,
                  (const uint64_t[]){MAX64 - 2, MAX64 - 1});
    expect_outcome("bytes=18446744073709551615-", size, 8, RANGE_UNSATISFIABLE);
    expect_outcome("bytes=18446744073709551615-18446744073709551615", size, 8,
                   RANGE_UNSATISFIABLE);
    /* size 1 */
    expect_ranges("bytes=0-18446744073709551615", 1, 8, 1, (const uint64_t[]){0, 0});
    expect_ranges("bytes=-18446744073709551615", 1, 8, 1, (const uint64_t[]){0, 0});
}

/* ---- range_coalesce ---- */

static void expect_coalesce(struct byte_range *in, size_t n, size_t want_n, const uint64_t *want)
{
    size_t got = range_coalesce(in, n);
    assert_int_equal(got, want_n);
    for (size_t i = 0; i < want_n; i++) {
        assert_int_equal(in[i].first, want[2 * i]);
        assert_int_equal(in[i].last, want[2 * i + 1]);
    }
}

static void test_coalesce_trivial(void **state)
{
    (void)state;
    struct byte_range r[1] = {{3, 7}};
    assert_int_equal(range_coalesce(r, 0), 0);
    expect_coalesce(r, 1, 1, (const uint64_t[]){3, 7});
}

static void test_coalesce_overlapping(void **state)
{
    (void)state;
    struct byte_range a[] = {{0, 10}, {5, 15}};
    expect_coalesce(a, 2, 1, (const uint64_t[]){0, 15});
    struct byte_range b[] = {{5, 15}, {0, 10}};
    expect_coalesce(b, 2, 1, (const uint64_t[]){0, 15});
    struct byte_range c[] = {{0, 10}, {10, 20}}; /* share one byte */
    expect_coalesce(c, 2, 1, (const uint64_t[]){0, 20});
}

static void test_coalesce_adjacent(void **state)
{
    (void)state;
    struct byte_range a[] = {{0, 9}, {10, 19}};
    expect_coalesce(a, 2, 1, (const uint64_t[]){0, 19});
    struct byte_range b[] = {{4, 5}, {2, 3}, {0, 1}};
    expect_coalesce(b, 3, 1, (const uint64_t[]){0, 5});
    /* a one-byte gap is not adjacent */
    struct byte_range c[] = {{0, 9}, {11, 19}};
    expect_coalesce(c, 2, 2, (const uint64_t[]){0, 9, 11, 19});
}

static void test_coalesce_out_of_order(void **state)
{
    (void)state;
    struct byte_range a[] = {{20, 29}, {0, 9}, {10, 15}};
    expect_coalesce(a, 3, 2, (const uint64_t[]){0, 15, 20, 29});
    struct byte_range b[] = {{90, 99}, {50, 59}, {10, 19}, {70, 79}, {30, 39}};
    expect_coalesce(b, 5, 5, (const uint64_t[]){10, 19, 30, 39, 50, 59, 70, 79, 90, 99});
}

static void test_coalesce_contained(void **state)
{
    (void)state;
    struct byte_range a[] = {{0, 100}, {10, 20}};
    expect_coalesce(a, 2, 1, (const uint64_t[]){0, 100});
    struct byte_range b[] = {{10, 20}, {0, 100}, {50, 60}};
    expect_coalesce(b, 3, 1, (const uint64_t[]){0, 100});
    struct byte_range c[] = {{0, 5}, {0, 10}};
    expect_coalesce(c, 2, 1, (const uint64_t[]){0, 10});
    struct byte_range d[] = {{0, 10}, {0, 5}};
    expect_coalesce(d, 2, 1, (const uint64_t[]){0, 10});
    /* a contained range must not shrink the one that contains it, nor bridge a gap */
    struct byte_range e[] = {{0, 100}, {5, 6}, {200, 300}};
    expect_coalesce(e, 3, 2, (const uint64_t[]){0, 100, 200, 300});
}

static void test_coalesce_duplicates(void **state)
{
    (void)state;
    struct byte_range a[] = {{5, 5}, {5, 5}, {5, 5}};
    expect_coalesce(a, 3, 1, (const uint64_t[]){5, 5});
    struct byte_range b[] = {{1, 2}, {8, 9}, {1, 2}, {8, 9}};
    expect_coalesce(b, 4, 2, (const uint64_t[]){1, 2, 8, 9});
}

static void test_coalesce_uint64_edges(void **state)
{
    (void)state;
    /* the largest ranges range_parse can produce (size UINT64_MAX: last <= UINT64_MAX - 1) */
    struct byte_range a[] = {{MAX64 - 1, MAX64 - 1}, {0, MAX64 - 2}};
    expect_coalesce(a, 2, 1, (const uint64_t[]){0, MAX64 - 1});
    struct byte_range b[] = {{MAX64 - 1, MAX64 - 1}, {0, 0}};
    expect_coalesce(b, 2, 2, (const uint64_t[]){0, 0, MAX64 - 1, MAX64 - 1});
    struct byte_range c[] = {{MAX64 - 2, MAX64 - 1}, {MAX64 - 1, MAX64 - 1}};
    expect_coalesce(c, 2, 1, (const uint64_t[]){MAX64 - 2, MAX64 - 1});
    struct byte_range d[] = {{0, MAX64 - 1}, {0, MAX64 - 1}};
    expect_coalesce(d, 2, 1, (const uint64_t[]){0, MAX64 - 1});
}

/* range_coalesce's contract has no precondition on `last`; a range ending at UINT64_MAX
 * must still absorb the ranges it contains. */
static void test_coalesce_last_uint64_max(void **state)
{
    (void)state;
    struct byte_range a[] = {{0, MAX64}, {5, 10}};
    expect_coalesce(a, 2, 1, (const uint64_t[]){0, MAX64});
    struct byte_range b[] = {{MAX64, MAX64}, {MAX64, MAX64}};
    expect_coalesce(b, 2, 1, (const uint64_t[]){MAX64, MAX64});
}

static void test_parse_then_coalesce(void **state)
{
    (void)state;
    struct parsed p = parse("bytes=-5, 0-1, 2-3, 50-60, 55-", 100, 8);
    assert_int_equal(p.rc, RANGE_OK);
    assert_int_equal(p.n, 2);
    size_t n = range_coalesce(p.r, p.n); /* range_parse's output is already merged */
    assert_int_equal(n, 2);
    assert_int_equal(p.r[0].first, 0);
    assert_int_equal(p.r[0].last, 3);
    assert_int_equal(p.r[1].first, 50);
    assert_int_equal(p.r[1].last, 99);
    assert_int_equal(range_length(&p.r[0]), 4);
    assert_int_equal(range_length(&p.r[1]), 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_last),
        cmocka_unit_test(test_open_ended),
        cmocka_unit_test(test_suffix),
        cmocka_unit_test(test_suffix_larger_than_size),
        cmocka_unit_test(test_suffix_zero),
        cmocka_unit_test(test_clamp_to_size),
        cmocka_unit_test(test_list_sorted_and_merged),
        cmocka_unit_test(test_ows_around_elements),
        cmocka_unit_test(test_empty_elements),
        cmocka_unit_test(test_unit_case_insensitive),
        cmocka_unit_test(test_unknown_unit),
        cmocka_unit_test(test_invalid_syntax),
        cmocka_unit_test(test_first_beyond_size_dropped),
        cmocka_unit_test(test_all_unsatisfiable),
        cmocka_unit_test(test_size_zero_unsatisfiable),
        cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_too_many_boundary_64_and_511),
        cmocka_unit_test(test_many_overlapping_merge),
        cmocka_unit_test(test_merges_as_it_fills),
        cmocka_unit_test(test_settled_by_first_overflow),
        cmocka_unit_test(test_long_header_bounded),
        cmocka_unit_test(test_overflow_saturates),
        cmocka_unit_test(test_uint64_edges),
        cmocka_unit_test(test_coalesce_trivial),
        cmocka_unit_test(test_coalesce_overlapping),
        cmocka_unit_test(test_coalesce_adjacent),
        cmocka_unit_test(test_coalesce_out_of_order),
        cmocka_unit_test(test_coalesce_contained),
        cmocka_unit_test(test_coalesce_duplicates),
        cmocka_unit_test(test_coalesce_uint64_edges),
        cmocka_unit_test(test_coalesce_last_uint64_max),
        cmocka_unit_test(test_parse_then_coalesce),
    };
    return cmocka_run_group_tests_name("range", tests, NULL, NULL);
}
