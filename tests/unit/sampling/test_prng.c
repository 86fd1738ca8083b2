/* test_prng.c - SplitMix64, prng_derive, prng_bounded and prng_seed_from_entropy
 * (sampling/prng.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sampling/prng.h"
#include "tests/unit/sampling/chi_square.h"

/* ---- SplitMix64 ---- */

static void expect_stream(uint64_t seed, const uint64_t *want, size_t n)
{
    struct splitmix64 g;
    splitmix64_seed(&g, seed);
    for (size_t i = 0; i < n; i++) {
        uint64_t got = splitmix64_next(&g);
        if (got != want[i])
            print_error("seed %llu output %zu: 0x%016llx, expected 0x%016llx\n",
                        (unsigned long long)seed, i, (unsigned long long)got,
                        (unsigned long long)want[i]);
        assert_true(got == want[i]);
    }
}

static void test_splitmix64_known_answers(void **state)
{
    (void)state;
    /* Vigna's splitmix64.c with x = 0 */
    expect_stream(0,
                  (const uint64_t[]){UINT64_C(0xe220a8397b1dcdaf), UINT64_C(0x6e789e6aa1b965f4),
                                     UINT64_C(0x06c45d188009454f), UINT64_C(0xf88bb8a8724c81ec),
                                     UINT64_C(0x1b39896a51a8749b)},
                  5);
    /* the Rosetta Code SplitMix64 task: seed 1234567 */
    expect_stream(1234567,
                  (const uint64_t[]){UINT64_C(6457827717110365317), UINT64_C(3203168211198807973),
                                     UINT64_C(9817491932198370423), UINT64_C(4593380528125082431),
                                     UINT64_C(16408922859458223821)},
                  5);
}

static void test_splitmix64_state_and_mix(void **state)
{
    (void)state;
    struct splitmix64 g;
    splitmix64_seed(&g, 42);
    uint64_t first = splitmix64_next(&g);
    assert_true(g.state == 42 + PRNG_GOLDEN);
    assert_true(first == prng_mix64(42 + PRNG_GOLDEN));
    assert_true(prng_mix64(0) == 0);
    /* the state wraps modulo 2^64 */
    splitmix64_seed(&g, UINT64_MAX);
    assert_true(splitmix64_next(&g) == prng_mix64(PRNG_GOLDEN - 1));
}

static void test_determinism_across_calls(void **state)
{
    (void)state;
    struct splitmix64 a, b;
    splitmix64_seed(&a, 0xdeadbeef);
    splitmix64_seed(&b, 0xdeadbeef);
    for (int i = 0; i < 1000; i++)
        assert_true(splitmix64_next(&a) == splitmix64_next(&b));
    for (int i = 0; i < 1000; i++)
        assert_true(prng_bounded(&a, 1000 + (uint64_t)i) == prng_bounded(&b, 1000 + (uint64_t)i));
    assert_true(prng_derive(7, 9) == prng_derive(7, 9));
}

static void test_derive(void **state)
{
    (void)state;
    /* the definition */
    assert_true(prng_derive(5, 6) == prng_mix64(5 ^ prng_mix64(6 + PRNG_GOLDEN)));
    /* key and value do not commute, and small inputs spread */
    assert_true(prng_derive(1, 2) != prng_derive(2, 1));
    assert_true(prng_derive(0, 0) != 0);
    /* for a fixed key, distinct values give distinct outputs (a bijection); spot check */
    uint64_t seen[256];
    for (uint64_t x = 0; x < 256; x++) {
        seen[x] = prng_derive(12345, x);
        for (uint64_t y = 0; y < x; y++)
            assert_true(seen[y] != seen[x]);
    }
}

/* ---- 128-bit product ---- */

static void test_mul128(void **state)
{
    (void)state;
    uint64_t hi, lo;
    prng_mul128(UINT64_MAX, UINT64_MAX, &hi, &lo);
    assert_true(hi == UINT64_MAX - 1 && lo == 1);
    prng_mul128(0, UINT64_MAX, &hi, &lo);
    assert_true(hi == 0 && lo == 0);
    prng_mul128(UINT64_C(1) << 32, UINT64_C(1) << 32, &hi, &lo);
    assert_true(hi == 1 && lo == 0);
    prng_mul128(UINT64_C(0xffffffff), UINT64_C(0xffffffff), &hi, &lo);
    assert_true(hi == 0 && lo == UINT64_C(0xfffffffe00000001));
#ifdef __SIZEOF_INT128__
    struct splitmix64 g;
    splitmix64_seed(&g, 99);
    for (int i = 0; i < 100000; i++) {
        uint64_t a = splitmix64_next(&g), b = splitmix64_next(&g) >> (i % 64);
        unsigned __int128 m = (unsigned __int128)a * b;
        prng_mul128(a, b, &hi, &lo);
        assert_true(hi == (uint64_t)(m >> 64) && lo == (uint64_t)m);
    }
#endif
}

/* ---- bounded draws ---- */

/* The documented form of Lemire's method, without the shortcut: t first, then reject. */
static uint64_t bounded_reference(struct splitmix64 *g, uint64_t bound)
{
    uint64_t t = (0 - bound) % bound, hi, lo;
    do
        prng_mul128(splitmix64_next(g), bound, &hi, &lo);
    while (lo < t);
    return hi;
}

static void test_bounded_bounds(void **state)
{
    (void)state;
    static const uint64_t bounds[] = {1, 2, 3, 7, 10, 100, 255, 256, 1000003,
                                      (UINT64_C(1) << 32) + 1, UINT64_C(1) << 40,
                                      (UINT64_C(1) << 63) + 1, UINT64_MAX - 1, UINT64_MAX};
    struct splitmix64 g;
    splitmix64_seed(&g, 1);
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++)
        for (int i = 0; i < 2000; i++)
            assert_true(prng_bounded(&g, bounds[b]) < bounds[b]);
    /* bound 1 always gives 0 and still consumes one output */
    splitmix64_seed(&g, 5);
    assert_true(prng_bounded(&g, 1) == 0);
    assert_true(g.state == 5 + PRNG_GOLDEN);
}

static void test_bounded_matches_reference(void **state)
{
    (void)state;
    /* 2^63 + 1 rejects almost half the draws, so the retry path runs often */
    static const uint64_t bounds[] = {1, 3, 6, 100, (UINT64_C(1) << 63) + 1, UINT64_MAX,
                                      (UINT64_C(3) << 62) + 7};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        struct splitmix64 x, y;
        splitmix64_seed(&x, 77 + b);
        splitmix64_seed(&y, 77 + b);
        for (int i = 0; i < 5000; i++) {
            assert_true(prng_bounded(&x, bounds[b]) == bounded_reference(&y, bounds[b]));
            assert_true(x.state == y.state); /* same number of outputs consumed */
        }
    }
    /* rejection happens: with bound 2^63 + 1 some draws take more than one output */
    struct splitmix64 g;
    splitmix64_seed(&g, 3);
    int retried = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t before = g.state;
        (void)prng_bounded(&g, (UINT64_C(1) << 63) + 1);
        retried += g.state - before != PRNG_GOLDEN;
    }
    assert_true(retried > 300 && retried < 700);
}

static void test_bounded_known_answers(void **state)
{
    (void)state;
    /* floor(x * bound / 2^64) of the seed-0 outputs, no rejection at these bounds */
    struct splitmix64 g;
    splitmix64_seed(&g, 0);
    assert_true(prng_bounded(&g, 10) == 8);  /* 0xe220... * 10 >> 64 */
    assert_true(prng_bounded(&g, 10) == 4);  /* 0x6e78... */
    assert_true(prng_bounded(&g, 10) == 0);  /* 0x06c4... */
    assert_true(prng_bounded(&g, 1000) == 970); /* 0xf88b... */
}

enum { CELLS = 100, DRAWS = 200000 };

static void test_chi_square_unbiased_passes(void **state)
{
    (void)state;
    uint64_t counts[CELLS] = {0};
    struct splitmix64 g;
    splitmix64_seed(&g, 20240601);
    for (int i = 0; i < DRAWS; i++)
        counts[prng_bounded(&g, CELLS)]++;
    double stat = chi_square_uniform(counts, CELLS);
    print_message("prng_bounded(100), %d draws: chi-square %.2f (critical %.2f)\n", DRAWS,
                  stat, CHI2_CRIT_DF99);
    assert_true(stat < CHI2_CRIT_DF99);
}

/* A deliberately biased generator: an 8-bit value reduced modulo 100. 256 = 2*100 + 56, so
 * 0..55 come up 3 times in 256 and 56..99 twice. The same statistic must reject it. */
static void test_chi_square_biased_fails(void **state)
{
    (void)state;
    uint64_t counts[CELLS] = {0};
    struct splitmix64 g;
    splitmix64_seed(&g, 20240601);
    for (int i = 0; i < DRAWS; i++)
        counts[(splitmix64_next(&g) & 0xff) % CELLS]++;
    double stat = chi_square_uniform(counts, CELLS);
    print_message("8-bit value %% 100, %d draws: chi-square %.2f (critical %.2f)\n", DRAWS,
                  stat, CHI2_CRIT_DF99);
    assert_true(stat > CHI2_CRIT_DF99);

    /* and the statistic itself: a perfectly flat histogram scores 0 */
    for (int i = 0; i < CELLS; i++)
        counts[i] = 7;
    assert_true(chi_square_uniform(counts, CELLS) == 0.0);
}

/* A large bound, 3 * 2^62: plain `x % bound` of a full 64-bit value returns [0, 2^62) twice
 * as often as the rest; Lemire's rejection (one draw in four rejected here) must not. Both
 * are folded into 64 equal cells and judged by the same statistic. */
static void test_chi_square_large_bound(void **state)
{
    (void)state;
    const uint64_t bound = UINT64_C(3) << 62, cell = bound / 64;
    uint64_t fair[64] = {0}, modulo[64] = {0};
    struct splitmix64 g, h;
    splitmix64_seed(&g, 8);
    splitmix64_seed(&h, 8);
    for (int i = 0; i < 64000; i++) {
        fair[prng_bounded(&g, bound) / cell]++;
        modulo[splitmix64_next(&h) % bound / cell]++;
    }
    double stat_fair = chi_square_uniform(fair, 64), stat_mod = chi_square_uniform(modulo, 64);
    print_message("bound 3*2^62: Lemire chi-square %.2f, plain modulo %.2f (critical %.2f)\n",
                  stat_fair, stat_mod, CHI2_CRIT_DF63);
    assert_true(stat_fair < CHI2_CRIT_DF63);
    assert_true(stat_mod > CHI2_CRIT_DF63);
}

/* ---- seeds from entropy ---- */

static void test_seed_from_entropy(void **state)
{
    (void)state;
    const unsigned char a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    unsigned char b[16];
    memcpy(b, a, sizeof b);
    assert_true(prng_seed_from_entropy(a, 16) == prng_seed_from_entropy(b, 16));
    b[15] ^= 1;
    assert_true(prng_seed_from_entropy(a, 16) != prng_seed_from_entropy(b, 16));
    /* the length is part of the input: a trailing zero byte changes the seed */
    const unsigned char z[2] = {9, 0};
    assert_true(prng_seed_from_entropy(z, 1) != prng_seed_from_entropy(z, 2));
    assert_true(prng_seed_from_entropy(NULL, 0) == prng_mix64(0));
    /* the definition, for one full word and a partial one */
    uint64_t h = prng_derive(prng_derive(12, UINT64_C(0x0807060504030201)),
                             UINT64_C(0x0c0b0a09));
    assert_true(prng_seed_from_entropy(a, 12) == prng_mix64(h));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitmix64_known_answers),
        cmocka_unit_test(test_splitmix64_state_and_mix),
        cmocka_unit_test(test_determinism_across_calls),
        cmocka_unit_test(test_derive),
        cmocka_unit_test(test_mul128),
        cmocka_unit_test(test_bounded_bounds),
        cmocka_unit_test(test_bounded_matches_reference),
        cmocka_unit_test(test_bounded_known_answers),
        cmocka_unit_test(test_chi_square_unbiased_passes),
        cmocka_unit_test(test_chi_square_biased_fails),
        cmocka_unit_test(test_chi_square_large_bound),
        cmocka_unit_test(test_seed_from_entropy),
    };
    return cmocka_run_group_tests_name("prng", tests, NULL, NULL);
}
