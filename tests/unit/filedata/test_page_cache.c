/* test_page_cache.c - resident bytes of a file: cachestat(2) and the mincore(2) fallback
 * (filedata/page_cache.h), on a real file in /tmp. The eviction checks skip themselves on a
 * file system whose pages posix_fadvise(DONTNEED) cannot drop (tmpfs). */
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
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filedata/page_cache.h"

#define SIZE (1024 * 1024 + 100) /* not a whole number of pages */

struct fixture {
    char path[64];
    int fd;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->path, sizeof f->path, "/tmp/mmapd-test-page-cache-XXXXXX");
    f->fd = mkstemp(f->path);
    if (f->fd < 0) {
        free(f);
        return -1;
    }
    *state = f;
    char *data = malloc(SIZE);
    ssize_t n = -1;
    if (data) {
        memset(data, 'x', SIZE);
        n = write(f->fd, data, SIZE);
        free(data);
    }
    return n == SIZE && fdatasync(f->fd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->fd);
    unlink(f->path);
    free(f);
    return 0;
}

static uint64_t resident(int fd, uint64_t size)
{
    uint64_t r = UINT64_MAX;
    assert_int_equal(page_cache_resident(fd, size, &r), 0);
    return r;
}

static uint64_t resident_mincore(int fd, uint64_t size)
{
    uint64_t r = UINT64_MAX;
    assert_int_equal(page_cache_resident_mincore(fd, size, &r), 0);
    return r;
}

static bool evict(int fd)
{
    return posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0 && resident_mincore(fd, SIZE) == 0;
}

static void read_all(int fd)
{
    static char buf[SIZE];
    assert_int_equal(pread(fd, buf, SIZE, 0), SIZE);
}

static void test_read_file_is_resident(void **state)
{
    struct fixture *f = *state;
    read_all(f->fd);
    /* clamped to the size: the last page is not counted whole */
    assert_int_equal(resident(f->fd, SIZE), SIZE);
    assert_int_equal(resident_mincore(f->fd, SIZE), SIZE);
}

static void test_evicted_file_is_not_resident(void **state)
{
    struct fixture *f = *state;
    if (!evict(f->fd))
        skip(); /* this file system keeps the pages */
    assert_int_equal(resident(f->fd, SIZE), 0);
    assert_int_equal(resident_mincore(f->fd, SIZE), 0);
    read_all(f->fd);
    assert_int_equal(resident(f->fd, SIZE), SIZE);
}

/* A partial read: both methods count the same pages, in whole pages, fewer than the file. */
static void test_partial_read_agrees(void **state)
{
    struct fixture *f = *state;
    if (!evict(f->fd))
        skip();
    posix_fadvise(f->fd, 0, 0, POSIX_FADV_RANDOM); /* no read-ahead */
    char buf[3 * 4096];
    assert_int_equal(pread(f->fd, buf, sizeof buf, 0), (ssize_t)sizeof buf);
    uint64_t a = resident(f->fd, SIZE), b = resident_mincore(f->fd, SIZE);
    long ps = sysconf(_SC_PAGESIZE);
    assert_int_equal(a, b);
    assert_true(a >= sizeof buf && a < SIZE);
    assert_int_equal(a % (uint64_t)ps, 0);
    posix_fadvise(f->fd, 0, 0, POSIX_FADV_NORMAL);
}

static void test_mincore_leaves_pages_alone(void **state)
{
    struct fixture *f = *state;
    if (!evict(f->fd))
        skip();
    /* mapping the file and asking mincore must not fault pages in */
    for (int i = 0; i < 3; i++)
        assert_int_equal(resident_mincore(f->fd, SIZE), 0);
    assert_int_equal(resident(f->fd, SIZE), 0);
}

/* cachestat over a range: the pages it touches, partly read ones included; len 0 refused.
 * Skipped where the kernel has no cachestat (before 6.5, or a seccomp filter). */
static void test_cached_pages_of_a_range(void **state)
{
    struct fixture *f = *state;
    const uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t n = 0;
    int err = page_cache_cached_pages(f->fd, 0, ps, &n);
    if (err == ENOSYS || err == EPERM)
        skip();
    assert_int_equal(err, 0);
    if (!evict(f->fd))
        skip();
    assert_int_equal(page_cache_cached_pages(f->fd, 0, SIZE, &n), 0);
    assert_int_equal(n, 0);
    posix_fadvise(f->fd, 0, 0, POSIX_FADV_RANDOM); /* no read-ahead */
    char buf[4096];
    assert_int_equal(pread(f->fd, buf, 1, 5 * ps), 1); /* page 5 only */
    assert_int_equal(page_cache_cached_pages(f->fd, 5 * ps, ps, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(page_cache_cached_pages(f->fd, 4 * ps + 1, 2 * ps, &n), 0); /* 4, 5, 6 */
    assert_int_equal(n, 1);
    assert_int_equal(page_cache_cached_pages(f->fd, 6 * ps, ps, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(page_cache_cached_pages(f->fd, 5 * ps + 10, 0, &n), EINVAL);
    read_all(f->fd);
    assert_int_equal(page_cache_cached_pages(f->fd, 0, SIZE, &n), 0);
    assert_int_equal(n, (SIZE + ps - 1) / ps);
    posix_fadvise(f->fd, 0, 0, POSIX_FADV_NORMAL);
}

static void test_empty_and_errors(void **state)
{
    struct fixture *f = *state;
    uint64_t r = 7;
    assert_int_equal(page_cache_resident(f->fd, 0, &r), 0);
    assert_int_equal(r, 0);
    r = 7;
    assert_int_equal(page_cache_resident_mincore(f->fd, 0, &r), 0);
    assert_int_equal(r, 0);
    /* an O_PATH descriptor can be neither asked nor mapped: an error, *out untouched */
    int p = open(f->path, O_PATH | O_CLOEXEC);
    assert_true(p >= 0);
    r = 7;
    assert_int_not_equal(page_cache_resident(p, SIZE, &r), 0);
    assert_int_equal(r, 7);
    assert_int_not_equal(page_cache_resident_mincore(p, SIZE, &r), 0);
    assert_int_equal(r, 7);
    close(p);
}

/* In a child whose seccomp filter makes cachestat (451) fail with `err`, page_cache_resident()
 * still answers, through mincore. The exit status tells the parent what went wrong. */
static int child_without_cachestat(int fd, int err)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 451, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        return 10; /* seccomp unavailable */
    uint64_t r = 0;
    struct { uint64_t off, len; } range = {0, 0};
    uint64_t cs[5];
    if (syscall(451, fd, &range, cs, 0) != -1 || errno != err)
        return 11; /* the filter is not in force */
    for (int i = 0; i < 2; i++) /* the second call skips cachestat */
        if (page_cache_resident(fd, SIZE, &r) != 0 || r != SIZE)
            return 12 + i;
    /* evicted (where the file system allows it): 0 through the fallback too */
    if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0 &&
        page_cache_resident_mincore(fd, SIZE, &r) == 0 && r == 0 &&
        (page_cache_resident(fd, SIZE, &r) != 0 || r != 0))
        return 14;
    return 0;
}

static void test_fallback_without_cachestat(void **state)
{
    struct fixture *f = *state;
#if defined(__x86_64__) || defined(__aarch64__)
    int errs[] = {ENOSYS, EPERM};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        read_all(f->fd);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(child_without_cachestat(f->fd, errs[i]));
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 10)
            skip(); /* no seccomp filters here: nothing to check with */
        if (WEXITSTATUS(status) != 0)
            print_error("errno %d: child exit %d\n", errs[i], WEXITSTATUS(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
#else
    (void)f;
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_file_is_resident, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evicted_file_is_not_resident, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_read_agrees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mincore_leaves_pages_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cached_pages_of_a_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_without_cachestat, setup, teardown),
    };
    return cmocka_run_group_tests_name("page_cache", tests, NULL, NULL);
}
