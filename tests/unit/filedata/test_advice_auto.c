/* test_advice_auto.c - the two arms of `auto`: warm-up, choice, margin, exploration, change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "filedata/advice_auto.h"

#define MIB (1u << 20)

static struct advice_auto *make(bool first_willneed)
{
    bool first[ACCESS_CLASS_COUNT];
    for (int c = 0; c < ACCESS_CLASS_COUNT; c++)
        first[c] = first_willneed;
    struct advice_auto *a = advice_auto_create(first);
    assert_non_null(a);
    return a;
}

/* One cold request of class c: picks its arm and reports `ms_per_mib[arm]` per MiB of 4 MiB.
 * Returns the arm. */
static bool request(struct advice_auto *a, enum access_class c, const double ms_per_mib[2])
{
    bool arm = advice_auto_pick(a, c, ADVICE_AUTO_RANDOM_EXPLORE_MAX);
    advice_auto_record(a, c, arm, (uint64_t)(ms_per_mib[arm] * 4e6), 4 * MIB);
    return arm;
}

static bool serving(struct advice_auto *a, enum access_class c)
{
    struct advice_auto_state st;
    advice_auto_read(a, c, &st);
    return st.serving;
}

static void test_warmup_alternates_from_the_first_arm(void **state)
{
    (void)state;
    struct advice_auto *a = make(true);
    const double cost[2] = {1, 1};
    bool arms[2 * ADVICE_AUTO_WARMUP];
    struct advice_auto_state st;
    for (int i = 0; i < 2 * ADVICE_AUTO_WARMUP; i++) {
        advice_auto_read(a, ACCESS_RANGE, &st);
        assert_false(st.settled);
        arms[i] = request(a, ACCESS_RANGE, cost);
    }
    for (int i = 0; i < 2 * ADVICE_AUTO_WARMUP; i++)
        assert_int_equal(arms[i], i % 2 == 0); /* on, off, on, ... */
    advice_auto_read(a, ACCESS_RANGE, &st);
    assert_true(st.settled);
    assert_int_equal(st.costs[0], ADVICE_AUTO_WARMUP);
    assert_int_equal(st.costs[1], ADVICE_AUTO_WARMUP);
    advice_auto_destroy(a);
}

static void test_the_cheaper_arm_serves(void **state)
{
    (void)state;
    struct advice_auto *a = make(false);
    const double cost[2] = {3.0, 1.0}; /* WILLNEED 3x cheaper */
    for (int i = 0; i < 2 * ADVICE_AUTO_WARMUP; i++)
        request(a, ACCESS_STREAM, cost);
    assert_true(serving(a, ACCESS_STREAM));
    /* after the warm-up: the serving arm, but for one exploration in every
     * ADVICE_AUTO_EXPLORE_FAR (the other arm costs more than twice as much) */
    int off = 0;
    for (int i = 0; i < 4 * ADVICE_AUTO_EXPLORE_FAR; i++)
        off += !request(a, ACCESS_STREAM, cost);
    assert_int_equal(off, 4);
    struct advice_auto_state st;
    advice_auto_read(a, ACCESS_STREAM, &st);
    assert_true(st.cost[0] > 2.9e6 && st.cost[0] < 3.1e6); /* ns per MiB */
    assert_true(st.cost[1] > 0.9e6 && st.cost[1] < 1.1e6);
    /* other classes untouched */
    advice_auto_read(a, ACCESS_RANDOM, &st);
    assert_int_equal(st.costs[0] + st.costs[1], 0);
    assert_false(st.serving);
    advice_auto_destroy(a);
}

static void test_within_the_margin_no_willneed(void **state)
{
    (void)state;
    struct advice_auto *a = make(true);
    const double cost[2] = {1.0, 0.95}; /* WILLNEED 5% cheaper: not enough */
    for (int i = 0; i < 2 * ADVICE_AUTO_WARMUP; i++)
        request(a, ACCESS_RANDOM, cost);
    assert_false(serving(a, ACCESS_RANDOM));
    /* close arms: explored every ADVICE_AUTO_EXPLORE-th request */
    int on = 0;
    for (int i = 0; i < 2 * ADVICE_AUTO_EXPLORE; i++)
        on += request(a, ACCESS_RANDOM, cost);
    assert_int_equal(on, 2);
    advice_auto_destroy(a);
}

static void test_switches_when_an_arm_gets_slower(void **state)
{
    (void)state;
    struct advice_auto *a = make(true);
    double cost[2] = {2.0, 1.0};
    for (int i = 0; i < 2 * ADVICE_AUTO_WARMUP + 10; i++)
        request(a, ACCESS_RANGE, cost);
    assert_true(serving(a, ACCESS_RANGE));
    cost[1] = 8.0; /* the device changed: WILLNEED now costs 4x */
    int n = 0;
    while (serving(a, ACCESS_RANGE) && n < 100) {
        request(a, ACCESS_RANGE, cost);
        n++;
    }
    assert_false(serving(a, ACCESS_RANGE));
    assert_true(n <= 5); /* the serving arm's own costs show it at once */
    struct advice_auto_state st;
    advice_auto_read(a, ACCESS_RANGE, &st);
    assert_int_equal(st.changes, 1); /* it started on WILLNEED, which won the warm-up */
    advice_auto_destroy(a);
}

/* A random-class request with more cold bytes than ADVICE_AUTO_RANDOM_EXPLORE_MAX never runs
 * under the other arm: not in the warm-up (the first arm), not when exploring (the serving
 * arm); smaller ones still warm up and explore. */
static void test_large_random_requests_never_explore(void **state)
{
    (void)state;
    struct advice_auto *a = make(true);
    const uint64_t big = ADVICE_AUTO_RANDOM_EXPLORE_MAX + 1;
    for (int i = 0; i < 10; i++)
        assert_true(advice_auto_pick(a, ACCESS_RANDOM, big));
    bool s1 = advice_auto_pick(a, ACCESS_STREAM, big); /* other classes: the warm-up */
    assert_true(s1 != advice_auto_pick(a, ACCESS_STREAM, big));
    const double ms[2] = {100, 10}; /* WILLNEED 10x cheaper */
    for (int i = 0; i < 2 * ADVICE_AUTO_WARMUP; i++)
        request(a, ACCESS_RANDOM, ms);
    assert_true(serving(a, ACCESS_RANDOM));
    int other_small = 0, other_big = 0;
    for (int i = 0; i < 4 * ADVICE_AUTO_EXPLORE_FAR; i++) {
        other_big += !advice_auto_pick(a, ACCESS_RANDOM, big);
        other_small += !request(a, ACCESS_RANDOM, ms);
    }
    assert_int_equal(other_big, 0);
    assert_true(other_small > 0);
    advice_auto_destroy(a);
}

static void test_small_requests_do_not_count(void **state)
{
    (void)state;
    struct advice_auto *a = make(false);
    bool arm = advice_auto_pick(a, ACCESS_STREAM, 4 * MIB);
    advice_auto_record(a, ACCESS_STREAM, arm, 1000, ADVICE_AUTO_MIN_BYTES - 1);
    struct advice_auto_state st;
    advice_auto_read(a, ACCESS_STREAM, &st);
    assert_int_equal(st.costs[0] + st.costs[1], 0);
    advice_auto_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_random_requests_never_explore),
        cmocka_unit_test(test_warmup_alternates_from_the_first_arm),
        cmocka_unit_test(test_the_cheaper_arm_serves),
        cmocka_unit_test(test_within_the_margin_no_willneed),
        cmocka_unit_test(test_switches_when_an_arm_gets_slower),
        cmocka_unit_test(test_small_requests_do_not_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
