/* test_held_copy.c - guarded copies out of a real file's mapping and the size check after
 * them (filedata/held_copy.h), with the file truncated in place under the mapping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "filedata/file_map.h"
#include "filedata/held_copy.h"
#include "filedata/sigbus_guard.h"
#include "tests/unit/unit_support.h"

#define PAGE 4096u
#define SIZE (2 * PAGE + 100)

struct fixture {
    struct unit_dir root;
    struct advice_policy policy;
    struct metrics *metrics;
    struct file_map *fm;
    struct mapped_file *m;
    int fd;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    static char data[SIZE];
    struct stat st;
    if (!f || !unit_dir_make(&f->root, "held"))
        goto fail;
    memset(data, 'x', sizeof data);
    unit_write_file(&f->root, "f.bin", data, sizeof data);
    advice_policy_defaults(&f->policy);
    f->metrics = metrics_create(INSTRUMENT_FULL);
    f->fm = f->metrics ? file_map_create(4, &f->policy, f->metrics, NULL) : NULL;
    f->fd = openat(f->root.fd, "f.bin", O_RDWR | O_CLOEXEC);
    int rfd = openat(f->root.fd, "f.bin", O_RDONLY | O_CLOEXEC);
    if (!f->fm || f->fd < 0 || rfd < 0 || fstat(rfd, &st) != 0)
        goto fail;
    f->m = file_map_open(f->fm, "f.bin", ACCESS_STREAM, rfd, &st); /* takes rfd */
    if (!f->m || !mapped_file_base(f->m))
        goto fail;
    *state = f;
    return 0;
fail:
    print_error("setup failed\n");
    return -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    file_map_release(f->m);
    file_map_destroy(f->fm);
    close(f->fd);
    bool ok = unit_dir_remove(&f->root);
    metrics_destroy(f->metrics);
    free(f);
    return ok ? 0 : -1;
}

static uint64_t errors(struct fixture *f, const char *reason)
{
    char series[96];
    snprintf(series, sizeof series, "mmapd_read_errors_total{reason=\"%s\"}", reason);
    return unit_metric(f->metrics, series);
}

static void test_copies_and_checks(void **state)
{
    struct fixture *f = *state;
    assert_true(sigbus_guard_install()); /* cmocka puts its own handler in each test */
    struct held_copy c = {mapped_file_base(f->m), f->m, f->metrics, 0};
    char buf[SIZE];
    assert_true(held_copy(&c, buf, 0, 100));
    assert_true(held_copy(&c, buf + 100, PAGE, 200));
    assert_int_equal(c.end, PAGE + 200);
    assert_true(held_copy_done(&c));
    assert_int_equal(c.end, 0);
    assert_memory_equal(buf, "xxxxxxxx", 8);
    assert_true(held_copy_done(&c)); /* nothing copied since: nothing to check */
    assert_int_equal(errors(f, "short") + errors(f, "sigbus"), 0);
}

/* Cut inside the last page copied: no signal, zeros read, and the check says so. */
static void test_truncation_in_the_page_is_short(void **state)
{
    struct fixture *f = *state;
    assert_true(sigbus_guard_install());
    struct held_copy c = {mapped_file_base(f->m), f->m, f->metrics, 0};
    char buf[300];
    assert_int_equal(ftruncate(f->fd, 2 * PAGE + 10), 0);
    assert_true(held_copy(&c, buf, 2 * PAGE, 100)); /* the page is still mapped */
    assert_true(buf[50] == 0);                      /* past the end: zeros, no signal */
    assert_false(held_copy_done(&c));
    assert_int_equal(errors(f, "short"), 1);
    assert_true(held_copy(&c, buf, 0, 100)); /* what the file still holds is fine */
    assert_true(held_copy_done(&c));
    assert_false(held_copy_holds(f->m, 2 * PAGE + 11, f->metrics));
    assert_true(held_copy_holds(f->m, 2 * PAGE + 10, NULL));
    assert_int_equal(errors(f, "short"), 2);
}

/* Cut before the page: SIGBUS, survived and counted. */
static void test_truncation_before_the_page_is_sigbus(void **state)
{
    struct fixture *f = *state;
    assert_true(sigbus_guard_install());
    struct held_copy c = {mapped_file_base(f->m), f->m, f->metrics, 0};
    char buf[300];
    assert_int_equal(ftruncate(f->fd, 100), 0);
    assert_false(held_copy(&c, buf, PAGE + 10, 100));
    assert_int_equal(errors(f, "sigbus"), 1);
    struct held_copy quiet = {mapped_file_base(f->m), NULL, NULL, 0}; /* no map, no metrics */
    assert_false(held_copy(&quiet, buf, PAGE + 10, 100));
    assert_true(held_copy(&quiet, buf, 0, 50));
    assert_true(held_copy_done(&quiet));
    assert_int_equal(errors(f, "sigbus"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copies_and_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_in_the_page_is_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_before_the_page_is_sigbus, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
