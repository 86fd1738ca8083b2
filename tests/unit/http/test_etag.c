/* test_etag.c - etag_format() (http/etag.h), and that it matches the ETag the mapping
 * cache (filedata/file_map.c, which still formats its own) gives the same file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filedata/advice.h"
#include "filedata/file_map.h"
#include "http/etag.h"
#include "metrics/metrics.h"

static void test_format(void **state)
{
    (void)state;
    struct stat st = {0};
    char out[ETAG_LEN];
    st.st_ino = 0xa96009;
    st.st_size = 0x1000000;
    st.st_mtim.tv_sec = 1795499913;
    st.st_mtim.tv_nsec = 123456789;
    etag_format(&st, out);
    assert_string_equal(out, "\"a96009-1000000-18eae5a873f7e715\"");
    st.st_size = 0;
    st.st_mtim.tv_sec = 0;
    st.st_mtim.tv_nsec = 0;
    etag_format(&st, out);
    assert_string_equal(out, "\"a96009-0-0\"");
}

static void test_widest(void **state)
{
    (void)state;
    struct stat st = {0};
    char out[ETAG_LEN];
    st.st_ino = (ino_t)UINT64_MAX;
    st.st_size = INT64_MAX;
    st.st_mtim.tv_sec = INT64_MAX / 1000000000;
    st.st_mtim.tv_nsec = 999999999;
    etag_format(&st, out);
    assert_int_equal(strlen(out), 2 + 16 + 1 + 16 + 1 + 16);
    assert_true(out[0] == '"' && out[strlen(out) - 1] == '"');
}

/* The listing's "etag" must be the ETag header /files sends for the same file. */
static void test_same_as_file_map(void **state)
{
    (void)state;
    char path[] = "/tmp/mmapd-test-etag-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "some bytes\n", 11), 11);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);

    struct advice_policy policy;
    advice_policy_defaults(&policy);
    struct metrics *metrics = metrics_create(INSTRUMENT_OFF);
    assert_non_null(metrics);
    struct file_map *fm = file_map_create(4, &policy, metrics, NULL);
    assert_non_null(fm);
    struct mapped_file *m = file_map_open(fm, path + 5, ACCESS_STREAM, dup(fd), &st);
    assert_non_null(m);

    char out[ETAG_LEN];
    etag_format(&st, out);
    assert_string_equal(out, mapped_file_info(m)->etag);

    file_map_release(m);
    file_map_destroy(fm);
    metrics_destroy(metrics);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_widest),
        cmocka_unit_test(test_same_as_file_map),
    };
    return cmocka_run_group_tests_name("etag", tests, NULL, NULL);
}
