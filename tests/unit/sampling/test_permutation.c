/* test_permutation.c - the seekable Feistel permutation (sampling/permutation.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sampling/permutation.h"
#include "sampling/prng.h"
#include "tests/unit/sampling/chi_square.h"

static const uint64_t keys[] = {0, 1, 42, UINT64_C(0xdeadbeefcafebabe), UINT64_MAX};

/* Every element of [0, n) exactly once, for the order of `key`. */
static void expect_bijection(uint64_t n, uint64_t key)
{
    struct permutation p;
    permutation_init(&p, n, key);
    unsigned char *seen = calloc((size_t)n, 1);
    assert_non_null(seen);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = permutation_at(&p, i);
        if (v >= n || seen[v])
            print_error("n %llu key %llx: P(%llu) = %llu %s\n", (unsigned long long)n,
                        (unsigned long long)key, (unsigned long long)i, (unsigned long long)v,
                        v >= n ? "out of range" : "repeated");
        assert_true(v < n);
        assert_false(seen[v]);
        seen[v] = 1;
    }
    free(seen);
}

static void test_bijection_small_n(void **state)
{
    (void)state;
    static const uint64_t ns[] = {1, 2, 3, 4, 5, 7, 16, 17, 31, 64, 100, 1000, 4096, 65537};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            expect_bijection(ns[i], keys[k]);
}

static void test_bijection_every_n_to_300(void **state)
{
    (void)state;
    for (uint64_t n = 1; n <= 300; n++)
        expect_bijection(n, n * 7919);
}

static void test_n_one(void **state)
{
    (void)state;
    struct permutation p;
    permutation_init(&p, 1, 123);
    assert_int_equal(p.half_bits, 0);
    assert_true(permutation_at(&p, 0) == 0);
    assert_true(permutation_domain_max(&p) == 0);
    /* n == 0 is treated as 1 */
    permutation_init(&p, 0, 123);
    assert_true(p.n == 1);
    assert_true(permutation_at(&p, 0) == 0);
}

/* The domain is the smallest 4^h >= n (h >= 1), so it is < 4n for n >= 2. */
static void test_domain_is_smallest_power_of_4(void **state)
{
    (void)state;
    struct permutation p;
    for (uint64_t n = 2; n < 5000; n++) {
        permutation_init(&p, n, 0);
        uint64_t dom = permutation_domain_max(&p) + 1;
        assert_true(dom == UINT64_C(1) << (2 * p.half_bits));
        assert_true(dom >= n);
        assert_true(dom < 4 * n);
        assert_true(p.half_bits == 1 || dom / 4 < n);
    }
    static const struct { uint64_t n; unsigned h; } cases[] = {
        {2, 1}, {4, 1}, {5, 2}, {16, 2}, {17, 3}, {64, 3}, {65, 4},
        {UINT64_C(1) << 40, 20}, {(UINT64_C(1) << 40) + 1, 21},
        {UINT64_C(1) << 62, 31}, {(UINT64_C(1) << 62) + 1, 32}, {UINT64_C(1) << 63, 32},
        {UINT64_MAX, 32},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        permutation_init(&p, cases[i].n, 0);
        assert_int_equal(p.half_bits, cases[i].h);
    }
    permutation_init(&p, UINT64_MAX, 0);
    assert_true(permutation_domain_max(&p) == UINT64_MAX);
}

/* E itself permutes the whole domain, whatever the key. */
static void test_feistel_permutes_domain(void **state)
{
    (void)state;
    static const uint64_t ns[] = {4, 16, 64, 256, 1024, 4096, 16384};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            struct permutation p;
            permutation_init(&p, ns[i], keys[k]);
            uint64_t dom = permutation_domain_max(&p) + 1;
            assert_true(dom == ns[i]);
            unsigned char *seen = calloc((size_t)dom, 1);
            assert_non_null(seen);
            for (uint64_t x = 0; x < dom; x++) {
                uint64_t y = permutation_feistel(&p, x);
                assert_true(y < dom);
                assert_false(seen[y]);
                seen[y] = 1;
            }
            free(seen);
        }
    }
}

/* The documented algorithm, written out again from the header comment. */
static void test_documented_algorithm(void **state)
{
    (void)state;
    const uint64_t n = 1000, key = 0x5eed;
    struct permutation p;
    permutation_init(&p, n, key);
    const unsigned h = 5; /* 4^5 = 1024 >= 1000 > 256 */
    const uint64_t mask = 31;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t x = i;
        do {
            uint64_t l = x >> h, r = x & mask;
            for (uint64_t round = 0; round < 8; round++) {
                uint64_t t = l ^ (prng_mix64(r ^ prng_derive(key, round)) & mask);
                l = r;
                r = t;
            }
            x = (l << h) | r;
        } while (x >= n);
        assert_true(permutation_at(&p, i) == x);
    }
}

static void test_deterministic_and_keyed(void **state)
{
    (void)state;
    const uint64_t n = 1000;
    struct permutation a, b, c;
    permutation_init(&a, n, 77);
    permutation_init(&b, n, 77);
    permutation_init(&c, n, 78);
    uint64_t same = 0, fixed = 0;
    for (uint64_t i = 0; i < n; i++) {
        assert_true(permutation_at(&a, i) == permutation_at(&b, i));
        assert_true(permutation_at(&a, i) == permutation_at(&a, i));
        same += permutation_at(&a, i) == permutation_at(&c, i);
        fixed += permutation_at(&a, i) == i;
    }
    /* two keys: about one agreement in n positions is expected, not hundreds */
    assert_true(same < 10);
    /* not the identity, nor close to it */
    assert_true(fixed < 10);
}

/* Indices past n are reduced modulo n: never an out-of-range result. */
static void test_index_beyond_n(void **state)
{
    (void)state;
    struct permutation p;
    permutation_init(&p, 10, 5);
    assert_true(permutation_at(&p, 10) == permutation_at(&p, 0));
    assert_true(permutation_at(&p, 23) == permutation_at(&p, 3));
    assert_true(permutation_at(&p, UINT64_MAX) < 10);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Samples `count` indices of a huge order: in range, distinct, short walks, quick. */
static void expect_large(uint64_t n, uint64_t key, size_t count)
{
    struct permutation p;
    permutation_init(&p, n, key);
    uint64_t *v = malloc(count * sizeof *v);
    assert_non_null(v);
    uint64_t walk_total = 0, walk_max = 0;
    clock_t t0 = clock();
    for (size_t k = 0; k < count; k++) {
        /* spread over the whole index range, ending at n - 1 */
        uint64_t i = k + 1 == count ? n - 1 : (uint64_t)k * (n / count);
        v[k] = permutation_at(&p, i);
        assert_true(v[k] < n);
        /* count the Feistel passes of the walk */
        uint64_t x = permutation_feistel(&p, i), walk = 1;
        while (x >= n) {
            x = permutation_feistel(&p, x);
            walk++;
        }
        assert_true(x == v[k]);
        walk_total += walk;
        if (walk > walk_max)
            walk_max = walk;
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    double mean = (double)walk_total / (double)count;
    print_message("n %llu: %zu lookups in %.3f s, mean walk %.2f, longest %llu\n",
                  (unsigned long long)n, count, secs, mean, (unsigned long long)walk_max);
    qsort(v, count, sizeof *v, cmp_u64);
    for (size_t k = 1; k < count; k++)
        assert_true(v[k] != v[k - 1]);
    free(v);
    /* the expected walk is domain / n < 4 passes; a power of 4 never walks */
    assert_true(mean < 4.5);
    assert_true(walk_max < 100);
    if (permutation_domain_max(&p) == n - 1)
        assert_true(walk_max == 1);
    assert_true(secs < 10.0); /* ~0.1 s in Release; generous for sanitizers */
}

static void test_large_n(void **state)
{
    (void)state;
    /* 2^40 slots: 4^20 exactly, so no walk at all */
    expect_large(UINT64_C(1) << 40, 1, 20000);
    /* just above a power of 4: the worst ratio (domain ~ 4n), about 4 passes per lookup */
    expect_large((UINT64_C(1) << 40) + 1, 2, 20000);
    /* 1 TiB of 4 KiB records, 2^28 slots; an odd size; the top of the range */
    expect_large(UINT64_C(1) << 28, 3, 20000);
    expect_large(UINT64_C(1000000007), 4, 20000);
    expect_large(UINT64_C(1) << 63, 5, 20000);
    expect_large(UINT64_MAX, 6, 20000);
}

/* Shuffle quality: the first element over many keys is uniform over [0, n). */
static void expect_first_uniform(uint64_t n, double crit)
{
    uint64_t counts[100] = {0};
    assert_true(n <= 100);
    for (uint64_t key = 0; key < 500 * n; key++) {
        struct permutation p;
        permutation_init(&p, n, prng_derive(99, key));
        counts[permutation_at(&p, 0)]++;
    }
    double stat = chi_square_uniform(counts, (size_t)n);
    print_message("n %llu: P(0) over %llu keys, chi-square %.2f (critical %.2f)\n",
                  (unsigned long long)n, (unsigned long long)(500 * n), stat, crit);
    assert_true(stat < crit);
}

static void test_first_element_uniform(void **state)
{
    (void)state;
    expect_first_uniform(3, CHI2_CRIT_DF2);
    expect_first_uniform(10, CHI2_CRIT_DF9);
    expect_first_uniform(16, CHI2_CRIT_DF15);
    expect_first_uniform(50, CHI2_CRIT_DF49);
    expect_first_uniform(100, CHI2_CRIT_DF99);
}

/* n = 2: both orders occur, about equally often. */
static void test_two_elements_both_orders(void **state)
{
    (void)state;
    int swapped = 0;
    for (uint64_t key = 0; key < 10000; key++) {
        struct permutation p;
        permutation_init(&p, 2, key);
        uint64_t a = permutation_at(&p, 0), b = permutation_at(&p, 1);
        assert_true(a != b && a < 2 && b < 2);
        swapped += a == 1;
    }
    assert_true(swapped > 4500 && swapped < 5500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bijection_small_n),
        cmocka_unit_test(test_bijection_every_n_to_300),
        cmocka_unit_test(test_n_one),
        cmocka_unit_test(test_domain_is_smallest_power_of_4),
        cmocka_unit_test(test_feistel_permutes_domain),
        cmocka_unit_test(test_documented_algorithm),
        cmocka_unit_test(test_deterministic_and_keyed),
        cmocka_unit_test(test_index_beyond_n),
        cmocka_unit_test(test_large_n),
        cmocka_unit_test(test_first_element_uniform),
        cmocka_unit_test(test_two_elements_both_orders),
    };
    return cmocka_run_group_tests_name("permutation", tests, NULL, NULL);
}
