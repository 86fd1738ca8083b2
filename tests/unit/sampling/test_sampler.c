/* test_sampler.c - slots, validation, shards, pages and draws (sampling/sampler.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/permutation.h"
#include "sampling/prng.h"
#include "sampling/sampler.h"
#include "tests/unit/sampling/chi_square.h"

static struct sample_spec spec_of(uint64_t file_size, uint64_t size, uint64_t align, uint64_t n)
{
    struct sample_spec s;
    memset(&s, 0, sizeof s);
    s.file_size = file_size;
    s.size = size;
    s.align = align;
    s.n = n;
    s.seed = 1;
    s.world = 1;
    return s;
}

static struct sampler init_ok(const struct sample_spec *spec)
{
    struct sampler s;
    struct query_error err;
    enum sample_status st = sampler_init(&s, spec, &err);
    if (st != SAMPLE_OK)
        print_error("sampler_init: %d (%s: %s)\n", (int)st, err.param, err.reason);
    assert_int_equal(st, SAMPLE_OK);
    return s;
}

static void expect_error(const struct sample_spec *spec, enum sample_status want,
                         const char *param, const char *reason_part)
{
    struct sampler s;
    struct query_error err;
    memset(&err, 0x55, sizeof err);
    enum sample_status st = sampler_init(&s, spec, &err);
    if (st != want)
        print_error("status %d, expected %d\n", (int)st, (int)want);
    assert_int_equal(st, want);
    assert_string_equal(err.param, param);
    assert_non_null(err.reason);
    assert_non_null(strstr(err.reason, reason_part));
    /* a NULL err is allowed */
    assert_int_equal(sampler_init(&s, spec, NULL), want);
}

/* ---- slots ---- */

static void test_slot_count(void **state)
{
    (void)state;
    static const struct { uint64_t f, s, a, slots; } cases[] = {
        {100, 10, 10, 10}, {101, 10, 10, 10}, {109, 10, 10, 10}, {110, 10, 10, 11},
        {100, 10, 1, 91},  {100, 100, 7, 1},  {100, 1, 1, 100},  {100, 10, 3, 31},
        {100, 10, 1000, 1}, {100, 99, 1, 2},  {1, 1, 1, 1},
        {UINT64_C(1) << 40, 4096, 4096, UINT64_C(1) << 28},
        {(UINT64_C(1) << 40) + 4095, 4096, 4096, UINT64_C(1) << 28},
        {UINT64_MAX, 1, 1, UINT64_MAX}, {UINT64_MAX, UINT64_MAX, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sample_spec sp = spec_of(cases[i].f, cases[i].s, cases[i].a, 1);
        struct sampler s = init_ok(&sp);
        assert_true(s.slots == cases[i].slots);
        assert_true(s.shard_len == cases[i].slots);
    }
}

/* ---- validation ---- */

static void test_errors(void **state)
{
    (void)state;
    struct sample_spec sp = spec_of(100, 10, 10, 5);
    sp.n = 0;
    expect_error(&sp, SAMPLE_ZERO, "n", "must be > 0");
    sp = spec_of(100, 0, 10, 5);
    expect_error(&sp, SAMPLE_ZERO, "size", "must be > 0");
    sp = spec_of(100, 10, 0, 5);
    expect_error(&sp, SAMPLE_ZERO, "align", "must be > 0");
    sp = spec_of(100, 10, 10, 5);
    sp.world = 0;
    expect_error(&sp, SAMPLE_ZERO, "world", "must be > 0");
    sp.world = 3;
    sp.rank = 3;
    expect_error(&sp, SAMPLE_RANK_RANGE, "rank", "must be < world");
    sp.rank = UINT64_MAX;
    expect_error(&sp, SAMPLE_RANK_RANGE, "rank", "must be < world");
    sp = spec_of(100, 101, 10, 1);
    expect_error(&sp, SAMPLE_SIZE_EXCEEDS_FILE, "size", "larger than the file");
    sp = spec_of(0, 1, 1, 1); /* an empty file has no record */
    expect_error(&sp, SAMPLE_SIZE_EXCEEDS_FILE, "size", "larger than the file");
    sp.replace = true;
    expect_error(&sp, SAMPLE_SIZE_EXCEEDS_FILE, "size", "larger than the file");
    sp = spec_of(100, 10, 10, 11); /* 10 slots */
    expect_error(&sp, SAMPLE_N_EXCEEDS_SLOTS, "n", "distinct records");
    sp.replace = true; /* allowed with replacement */
    assert_true(init_ok(&sp).count == 11);
    sp = spec_of(100, 10, 10, 1);
    sp.world = 3; /* shards of 4, 3, 3 */
    sp.rank = 1;
    sp.start = 3;
    assert_true(init_ok(&sp).count == 0); /* start == shard_len: an empty last page */
    sp.start = 4;
    expect_error(&sp, SAMPLE_START_BEYOND_SHARD, "start", "beyond the end");
    sp.start = UINT64_MAX;
    expect_error(&sp, SAMPLE_START_BEYOND_SHARD, "start", "beyond the end");
}

/* The first failing check in the documented order is reported. */
static void test_error_order(void **state)
{
    (void)state;
    struct sample_spec sp = spec_of(0, 0, 0, 0);
    sp.world = 0;
    expect_error(&sp, SAMPLE_ZERO, "n", "> 0");
    sp.n = 1;
    expect_error(&sp, SAMPLE_ZERO, "size", "> 0");
    sp.size = 1;
    expect_error(&sp, SAMPLE_ZERO, "align", "> 0");
    sp.align = 1;
    expect_error(&sp, SAMPLE_ZERO, "world", "> 0");
    sp.world = 1;
    sp.rank = 1;
    expect_error(&sp, SAMPLE_RANK_RANGE, "rank", "< world");
    sp.rank = 0;
    expect_error(&sp, SAMPLE_SIZE_EXCEEDS_FILE, "size", "file");
    sp.file_size = 5;
    sp.n = 6;
    sp.start = 99;
    expect_error(&sp, SAMPLE_N_EXCEEDS_SLOTS, "n", "distinct");
    sp.n = 5;
    expect_error(&sp, SAMPLE_START_BEYOND_SHARD, "start", "shard");
}

static void test_replacement_position_limit(void **state)
{
    (void)state;
    /* world 1: record indices up to 2^64 - 2 */
    struct sample_spec sp = spec_of(100, 10, 10, 1);
    sp.replace = true;
    sp.start = UINT64_MAX - 1;
    struct sampler s = init_ok(&sp);
    assert_true(s.count == 1);
    assert_true(s.next == SAMPLE_END);
    assert_true(sampler_offset(&s, 0) <= 90);
    sp.start = UINT64_MAX;
    expect_error(&sp, SAMPLE_START_TOO_LARGE, "start", "too large");
    sp.start = UINT64_MAX - 2;
    sp.n = 2;
    s = init_ok(&sp);
    assert_true(s.next == SAMPLE_END);
    sp.n = 3;
    expect_error(&sp, SAMPLE_START_TOO_LARGE, "start", "too large");
    sp.n = 1;
    s = init_ok(&sp);
    assert_true(s.next == UINT64_MAX - 1);
    /* world 4, rank 3: k*4 + 3 <= 2^64 - 2  <=>  k <= (2^64 - 5) / 4 */
    sp.world = 4;
    sp.rank = 3;
    uint64_t kmax = (UINT64_MAX - 4) / 4;
    sp.start = kmax;
    s = init_ok(&sp);
    assert_true(s.next == SAMPLE_END);
    sp.start = kmax + 1;
    expect_error(&sp, SAMPLE_START_TOO_LARGE, "start", "too large");
}

/* ---- offsets ---- */

/* Reads the whole page and checks bounds and alignment. */
static uint64_t *read_page(const struct sampler *s, const struct sample_spec *sp)
{
    uint64_t *out = malloc((size_t)(s->count ? s->count : 1) * sizeof *out);
    assert_non_null(out);
    size_t got = sampler_offsets(s, out, (size_t)s->count);
    assert_int_equal(got, s->count);
    for (size_t i = 0; i < got; i++) {
        assert_true(out[i] % sp->align == 0);
        assert_true(out[i] <= sp->file_size - sp->size); /* wholly inside the file */
        assert_true(out[i] == sampler_offset(s, i));
    }
    return out;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Without replacement, a page of every slot is every aligned offset once. */
static void test_full_page_is_every_slot(void **state)
{
    (void)state;
    static const struct { uint64_t f, s, a; } cases[] = {
        {100, 10, 10}, {100, 10, 1}, {100, 10, 3}, {1000, 64, 64}, {1000, 64, 100},
        {4096, 1, 1},  {7, 7, 1},    {64 * 65537, 64, 64},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct sample_spec sp = spec_of(cases[c].f, cases[c].s, cases[c].a, 1);
        sp.n = init_ok(&sp).slots;
        struct sampler s = init_ok(&sp);
        assert_true(s.count == s.slots);
        assert_true(s.next == SAMPLE_END);
        uint64_t *out = read_page(&s, &sp);
        qsort(out, (size_t)s.count, sizeof *out, cmp_u64);
        for (uint64_t i = 0; i < s.count; i++)
            assert_true(out[i] == i * sp.align);
        free(out);
    }
}

static void test_cap_limits_output(void **state)
{
    (void)state;
    struct sample_spec sp = spec_of(1000, 10, 10, 20);
    struct sampler s = init_ok(&sp);
    uint64_t out[8];
    assert_int_equal(sampler_offsets(&s, out, 8), 8);
    for (size_t i = 0; i < 8; i++)
        assert_true(out[i] == sampler_offset(&s, i));
    assert_int_equal(sampler_offsets(&s, out, 0), 0);
}

static void test_deterministic(void **state)
{
    (void)state;
    struct sample_spec sp = spec_of(1 << 20, 64, 64, 500);
    sp.seed = 0xfeed;
    sp.epoch = 3;
    struct sampler a = init_ok(&sp), b = init_ok(&sp);
    uint64_t *x = read_page(&a, &sp), *y = read_page(&b, &sp);
    assert_memory_equal(x, y, 500 * sizeof *x);
    free(x);
    free(y);
    sp.replace = true;
    a = init_ok(&sp);
    b = init_ok(&sp);
    x = read_page(&a, &sp);
    y = read_page(&b, &sp);
    assert_memory_equal(x, y, 500 * sizeof *x);
    free(x);
    free(y);
}

/* The documented key schedule: order_key and the permutation it keys. */
static void test_documented_keys(void **state)
{
    (void)state;
    struct sample_spec sp = spec_of(1000, 10, 10, 100);
    sp.seed = 123;
    sp.epoch = 4;
    struct sampler s = init_ok(&sp);
    struct permutation p;
    permutation_init(&p, 100, prng_derive(prng_derive(123, SAMPLER_TAG_ORDER), 4));
    for (uint64_t i = 0; i < 100; i++)
        assert_true(sampler_slot(&s, i) == permutation_at(&p, i));
    sp.replace = true;
    s = init_ok(&sp);
    uint64_t draw_key = prng_derive(prng_derive(123, SAMPLER_TAG_DRAW), 4);
    for (uint64_t i = 0; i < 100; i++) {
        struct splitmix64 g;
        splitmix64_seed(&g, prng_derive(draw_key, i));
        assert_true(sampler_slot(&s, i) == prng_bounded(&g, 100));
    }
}

static size_t count_differences(const struct sample_spec *a, const struct sample_spec *b)
{
    struct sampler x = init_ok(a), y = init_ok(b);
    size_t diff = 0;
    for (uint64_t i = 0; i < x.count; i++)
        diff += sampler_slot(&x, i) != sampler_slot(&y, i);
    return diff;
}

static void test_epochs_and_seeds_differ(void **state)
{
    (void)state;
    for (int replace = 0; replace <= 1; replace++) {
        struct sample_spec a = spec_of(64000, 64, 64, 1000), b;
        a.replace = replace;
        for (uint64_t e = 0; e < 5; e++) {
            a.epoch = e;
            b = a;
            b.epoch = e + 1;
            assert_true(count_differences(&a, &b) > 980); /* ~999 of 1000 expected */
            b = a;
            b.seed = a.seed + 1;
            assert_true(count_differences(&a, &b) > 980);
        }
        /* same epoch, same seed: identical */
        b = a;
        assert_true(count_differences(&a, &b) == 0);
    }
}

/* ---- shards and pages ---- */

/* Reads rank R's whole shard in pages of `page` records, following `next`. Returns the
 * offsets (heap) and their number. */
static uint64_t *read_shard(struct sample_spec sp, uint64_t page, uint64_t *len)
{
    sp.n = page;
    sp.start = 0;
    struct sampler s = init_ok(&sp);
    uint64_t *all = malloc((size_t)(s.shard_len + 1) * sizeof *all);
    assert_non_null(all);
    uint64_t got = 0;
    for (;;) {
        s = init_ok(&sp);
        assert_true(s.count <= page);
        assert_true(got + s.count <= s.shard_len);
        got += sampler_offsets(&s, all + got, (size_t)s.count);
        if (s.next == SAMPLE_END)
            break;
        assert_true(s.count == page); /* only the last page is short */
        assert_true(s.next == sp.start + page);
        sp.start = s.next;
    }
    assert_true(got == s.shard_len);
    *len = got;
    return all;
}

static void test_shards_disjoint_and_complete(void **state)
{
    (void)state;
    static const uint64_t worlds[] = {1, 2, 3, 7};
    static const uint64_t slot_counts[] = {1, 2, 3, 5, 6, 7, 10, 17, 64, 100, 1000};
    for (size_t w = 0; w < sizeof worlds / sizeof worlds[0]; w++) {
        for (size_t c = 0; c < sizeof slot_counts / sizeof slot_counts[0]; c++) {
            const uint64_t slots = slot_counts[c], world = worlds[w];
            unsigned char *seen = calloc((size_t)slots, 1);
            assert_non_null(seen);
            uint64_t total = 0, shortest = UINT64_MAX, longest = 0;
            for (uint64_t r = 0; r < world; r++) {
                struct sample_spec sp = spec_of(slots * 8, 8, 8, 1);
                sp.seed = 31 + c;
                sp.epoch = w;
                sp.rank = r;
                sp.world = world;
                uint64_t len;
                uint64_t *offs = read_shard(sp, slots < 3 ? slots : 3, &len);
                assert_true(len == (r < slots ? (slots - r - 1) / world + 1 : 0));
                for (uint64_t i = 0; i < len; i++) {
                    uint64_t slot = offs[i] / 8;
                    assert_false(seen[slot]); /* never in two shards, never twice */
                    seen[slot] = 1;
                }
                total += len;
                shortest = len < shortest ? len : shortest;
                longest = len > longest ? len : longest;
                free(offs);
            }
            assert_true(total == slots); /* together: every record once */
            assert_true(longest - shortest <= 1);
            free(seen);
        }
    }
}

/* Shard R is the epoch's stream at positions R, R + W, R + 2W, ...: the world-1 order. */
static void test_shards_interleave_the_epoch_order(void **state)
{
    (void)state;
    for (int replace = 0; replace <= 1; replace++) {
        struct sample_spec one = spec_of(1000 * 16, 16, 16, 1000);
        one.replace = replace;
        one.seed = 5;
        one.epoch = 2;
        struct sampler whole = init_ok(&one);
        for (uint64_t world = 1; world <= 5; world++) {
            for (uint64_t r = 0; r < world; r++) {
                struct sample_spec sp = one;
                sp.world = world;
                sp.rank = r;
                sp.n = 1000 / world;
                struct sampler s = init_ok(&sp);
                for (uint64_t k = 0; k < s.count; k++)
                    assert_true(sampler_slot(&s, k) == sampler_slot(&whole, k * world + r));
            }
        }
    }
}

static void test_pages_concatenate(void **state)
{
    (void)state;
    static const uint64_t pages[] = {1, 2, 3, 7, 10, 33, 143};
    for (uint64_t world = 1; world <= 3; world++) {
        for (uint64_t r = 0; r < world; r++) {
            struct sample_spec sp = spec_of(1000, 4, 7, 1); /* 143 slots */
            sp.world = world;
            sp.rank = r;
            sp.seed = 77;
            uint64_t ref_len;
            uint64_t *ref = read_shard(sp, 143, &ref_len); /* one page */
            for (size_t p = 0; p < sizeof pages / sizeof pages[0]; p++) {
                uint64_t len;
                uint64_t *got = read_shard(sp, pages[p], &len);
                assert_true(len == ref_len);
                assert_memory_equal(got, ref, (size_t)len * sizeof *got);
                free(got);
            }
            free(ref);
        }
    }
}

static void test_next_and_end(void **state)
{
    (void)state;
    struct sample_spec sp = spec_of(100, 10, 10, 4); /* 10 slots */
    struct sampler s = init_ok(&sp);
    assert_true(s.count == 4 && s.next == 4);
    sp.start = 4;
    s = init_ok(&sp);
    assert_true(s.count == 4 && s.next == 8);
    sp.start = 8;
    s = init_ok(&sp);
    assert_true(s.count == 2 && s.next == SAMPLE_END); /* short last page */
    sp.start = 6;
    s = init_ok(&sp);
    assert_true(s.count == 4 && s.next == SAMPLE_END); /* exactly reaches the end */
    sp.start = 10;
    s = init_ok(&sp);
    assert_true(s.count == 0 && s.next == SAMPLE_END);
    /* a rank whose shard is empty (more ranks than slots) */
    sp = spec_of(30, 10, 10, 1); /* 3 slots */
    sp.world = 5;
    sp.rank = 4;
    s = init_ok(&sp);
    assert_true(s.shard_len == 0 && s.count == 0 && s.next == SAMPLE_END);
    /* with replacement the stream does not end */
    sp = spec_of(100, 10, 10, 50);
    sp.replace = true;
    sp.start = 1000;
    s = init_ok(&sp);
    assert_true(s.count == 50 && s.next == 1050 && s.shard_len == SAMPLE_END);
}

/* start seeks: record k of a page at start K is record K + k of a page at 0. */
static void test_start_seeks(void **state)
{
    (void)state;
    for (int replace = 0; replace <= 1; replace++) {
        struct sample_spec sp = spec_of(1 << 16, 16, 16, 1000);
        sp.replace = replace;
        sp.world = 3;
        sp.rank = 2;
        struct sampler whole = init_ok(&sp);
        sp.start = 123;
        sp.n = 50;
        struct sampler part = init_ok(&sp);
        for (uint64_t k = 0; k < 50; k++)
            assert_true(sampler_offset(&part, k) == sampler_offset(&whole, 123 + k));
    }
}

/* ---- with replacement ---- */

static void test_replacement_uniform_and_repeats(void **state)
{
    (void)state;
    struct sample_spec sp = spec_of(50 * 8, 8, 8, 50000); /* 50 slots, 1000 draws each */
    sp.replace = true;
    sp.seed = 2024;
    struct sampler s = init_ok(&sp);
    uint64_t counts[50] = {0};
    for (uint64_t i = 0; i < s.count; i++) {
        uint64_t off = sampler_offset(&s, i);
        assert_true(off % 8 == 0 && off <= 49 * 8);
        counts[off / 8]++;
    }
    double stat = chi_square_uniform(counts, 50);
    print_message("replace=1, 50 slots, 50000 draws: chi-square %.2f (critical %.2f)\n", stat,
                  CHI2_CRIT_DF49);
    assert_true(stat < CHI2_CRIT_DF49);
    /* the same slot comes up twice within a few draws (birthday bound) */
    sp.n = 20;
    s = init_ok(&sp);
    int repeats = 0;
    for (uint64_t i = 0; i < 20; i++)
        for (uint64_t j = 0; j < i; j++)
            repeats += sampler_slot(&s, i) == sampler_slot(&s, j);
    assert_true(repeats > 0);
}

/* Without replacement, a page is also uniform: the first record over many seeds. */
static void test_without_replacement_uniform(void **state)
{
    (void)state;
    uint64_t counts[100] = {0};
    for (uint64_t seed = 0; seed < 50000; seed++) {
        struct sample_spec sp = spec_of(100 * 4, 4, 4, 1);
        sp.seed = seed;
        struct sampler s = init_ok(&sp);
        counts[sampler_slot(&s, 0)]++;
    }
    double stat = chi_square_uniform(counts, 100);
    print_message("replace=0, 100 slots, first record over 50000 seeds: chi-square %.2f\n", stat);
    assert_true(stat < CHI2_CRIT_DF99);
}

/* ---- large files ---- */

static void test_large_file(void **state)
{
    (void)state;
    /* 1 TiB of 4 KiB records: 2^28 slots, the 4096-record page limit, no table anywhere */
    struct sample_spec sp = spec_of(UINT64_C(1) << 40, 4096, 4096, 4096);
    sp.seed = 9;
    sp.world = 8;
    sp.rank = 5;
    sp.start = 1000000;
    struct sampler s = init_ok(&sp);
    assert_true(s.slots == UINT64_C(1) << 28);
    assert_true(s.shard_len == (UINT64_C(1) << 28) / 8);
    assert_true(s.count == 4096 && s.next == 1004096);
    uint64_t *out = read_page(&s, &sp);
    qsort(out, 4096, sizeof *out, cmp_u64);
    for (size_t i = 1; i < 4096; i++)
        assert_true(out[i] != out[i - 1]);
    free(out);
    /* the largest file: 2^64 - 1 bytes of 1-byte records at any offset */
    sp = spec_of(UINT64_MAX, 1, 1, 1000);
    sp.start = UINT64_MAX - 1000;
    s = init_ok(&sp);
    assert_true(s.slots == UINT64_MAX && s.next == SAMPLE_END);
    out = read_page(&s, &sp);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_count),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_order),
        cmocka_unit_test(test_replacement_position_limit),
        cmocka_unit_test(test_full_page_is_every_slot),
        cmocka_unit_test(test_cap_limits_output),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_documented_keys),
        cmocka_unit_test(test_epochs_and_seeds_differ),
        cmocka_unit_test(test_shards_disjoint_and_complete),
        cmocka_unit_test(test_shards_interleave_the_epoch_order),
        cmocka_unit_test(test_pages_concatenate),
        cmocka_unit_test(test_next_and_end),
        cmocka_unit_test(test_start_seeks),
        cmocka_unit_test(test_replacement_uniform_and_repeats),
        cmocka_unit_test(test_without_replacement_uniform),
        cmocka_unit_test(test_large_file),
    };
    return cmocka_run_group_tests_name("sampler", tests, NULL, NULL);
}
