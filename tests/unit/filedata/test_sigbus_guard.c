/* test_sigbus_guard.c - copies from a mapping whose file was truncated under it
 * (filedata/sigbus_guard.h): the guarded copy fails and the process lives, again and again
 * and on several threads at once; a SIGBUS outside a guarded copy still kills (in a child). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filedata/sigbus_guard.h"

static size_t page(void) { return (size_t)sysconf(_SC_PAGESIZE); }

struct truncated {
    int fd;
    unsigned char *base; /* 4 pages mapped, the file now holds the first one only */
};

/* cmocka installs its own SIGBUS handler around each test: ours goes back on top of it. */
static void make_truncated(struct truncated *t)
{
    assert_true(sigbus_guard_install());
    char path[] = "/tmp/mmapd-test-sigbus-XXXXXX";
    t->fd = mkstemp(path);
    assert_true(t->fd >= 0);
    unlink(path);
    size_t len = 4 * page();
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i % 251);
    assert_int_equal(write(t->fd, buf, len), (ssize_t)len);
    free(buf);
    t->base = mmap(NULL, len, PROT_READ, MAP_SHARED, t->fd, 0);
    assert_true(t->base != MAP_FAILED);
    assert_int_equal(ftruncate(t->fd, (off_t)page()), 0);
}

static void drop_truncated(struct truncated *t)
{
    munmap(t->base, 4 * page());
    close(t->fd);
}

static void test_install_is_idempotent(void **state)
{
    (void)state;
    assert_true(sigbus_guard_install());
    assert_true(sigbus_guard_install());
}

static void test_copy_ok(void **state)
{
    (void)state;
    struct truncated t;
    make_truncated(&t);
    unsigned char dst[64];
    assert_true(sigbus_guard_copy(dst, t.base + 100, sizeof dst));
    for (size_t i = 0; i < sizeof dst; i++)
        assert_int_equal(dst[i], (100 + i) % 251);
    assert_true(sigbus_guard_copy(dst, t.base, 0));
    drop_truncated(&t);
}

static void test_sigbus_survived_many_times(void **state)
{
    (void)state;
    struct truncated t;
    make_truncated(&t);
    unsigned char *dst = malloc(2 * page());
    assert_non_null(dst);
    for (int i = 0; i < 100; i++) {
        assert_false(sigbus_guard_copy(dst, t.base + 2 * page(), 16));
        /* a copy that starts in the file and runs past its end fails too */
        assert_false(sigbus_guard_copy(dst, t.base + page() / 2, page()));
        /* and the thread is still fine for good copies */
        assert_true(sigbus_guard_copy(dst, t.base, page()));
    }
    /* the signal is not left blocked */
    sigset_t mask;
    assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &mask), 0);
    assert_false(sigismember(&mask, SIGBUS));
    free(dst);
    drop_truncated(&t);
}

static void *thread_copies(void *arg)
{
    const struct truncated *t = arg;
    unsigned char dst[256];
    long bad = 0;
    for (int i = 0; i < 2000; i++) {
        if (sigbus_guard_copy(dst, t->base + 3 * page(), sizeof dst))
            bad++;
        if (!sigbus_guard_copy(dst, t->base + 8, sizeof dst) || dst[0] != 8)
            bad++;
    }
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    struct truncated t;
    make_truncated(&t);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_copies, &t), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        assert_int_equal(pthread_join(th[i], &bad), 0);
        assert_null(bad);
    }
    drop_truncated(&t);
}

static void test_unguarded_sigbus_still_kills(void **state)
{
    (void)state;
    struct truncated t;
    make_truncated(&t);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        volatile unsigned char c = t.base[2 * page()];
        (void)c;
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGBUS);
    drop_truncated(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_is_idempotent),
        cmocka_unit_test(test_copy_ok),
        cmocka_unit_test(test_sigbus_survived_many_times),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_unguarded_sigbus_still_kills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
