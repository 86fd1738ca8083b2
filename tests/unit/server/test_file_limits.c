/* test_file_limits.c - the soft RLIMIT_NOFILE raised to the hard one, and the file cache sized
 * to what is left of it and of vm.max_map_count (server/file_limits.h), in this process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>

#include "server/file_limits.h"

/* Sets this process's limits to soft/hard: the hard one never above what it was. */
static void set_nofile(rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {soft, hard};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static void test_soft_raised_to_hard(void **state)
{
    (void)state;
    set_nofile(64, 1000);
    struct file_limits fl;
    file_limits_plan(0, 10, &fl);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_int_equal(rl.rlim_cur, 1000);
    assert_int_equal(fl.nofile_before, 64);
    assert_int_equal(fl.nofile, 1000);
    assert_true(fl.max_map_count > 0);
    /* 2 x 10 connections + 256 of its own kept out of 1000 */
    assert_int_equal(fl.fit, 1000 - (2 * 10 + 256));
    assert_int_equal(fl.capacity, fl.fit);
    assert_false(fl.lowered);
}

static void test_at_most_half_kept_out(void **state)
{
    (void)state;
    set_nofile(300, 300);
    struct file_limits fl;
    file_limits_plan(0, 1152, &fl); /* a thousand connections need more than there is */
    assert_int_equal(fl.nofile, 300);
    assert_int_equal(fl.fit, 150);
}

static void test_wanted_lowered_or_kept(void **state)
{
    (void)state;
    set_nofile(1000, 1000);
    struct file_limits fl;
    file_limits_plan(5000, 10, &fl);
    assert_true(fl.lowered);
    assert_int_equal(fl.capacity, fl.fit);
    file_limits_plan(100, 10, &fl);
    assert_false(fl.lowered);
    assert_int_equal(fl.capacity, 100);
}

static void test_mappings_bound_it(void **state)
{
    (void)state;
    set_nofile(1000, 1000);
    struct file_limits fl;
    /* connections enough to leave fewer mappings than descriptors: (maps - c - 2048) / 2 */
    size_t c = (size_t)60000;
    file_limits_plan(0, c, &fl);
    size_t maps = fl.max_map_count > c + 2048 ? (fl.max_map_count - c - 2048) / 2 : 0;
    assert_int_equal(fl.fit, maps > 0 ? (maps < 500 ? maps : 500) : 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* in this order: a hard limit, once lowered, cannot be raised again */
        cmocka_unit_test(test_soft_raised_to_hard),
        cmocka_unit_test(test_wanted_lowered_or_kept),
        cmocka_unit_test(test_mappings_bound_it),
        cmocka_unit_test(test_at_most_half_kept_out),
    };
    return cmocka_run_group_tests_name("file_limits", tests, NULL, NULL);
}
