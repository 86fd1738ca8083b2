/* test_access_log.c - the writer (metrics/access_log.h): lines from many threads, each once
 * and whole, across a reopen; failed writes counted; pipes written in whole lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/access_log.h"

#define THREADS 4
#define LINES 20000

struct writer {
    struct access_log *log;
    int id;
};

static void *write_lines(void *arg)
{
    struct writer *w = arg;
    char rid[32], ua[300];
    memset(ua, 'u', sizeof ua); /* long lines: buffers fill and pipe pieces split */
    for (int i = 0; i < LINES; i++) {
        snprintf(rid, sizeof rid, "t%d-%d", w->id, i);
        struct access_entry e = {.remote = "127.0.0.1", .status = 200, .request_id = rid,
                                 .target = {"/x", 2, false}, .user_agent = {ua, 200, false},
                                 .outcome = "completed"};
        access_log_write(w->log, &e);
    }
    return NULL;
}

static void run_writers(struct access_log *log, void (*meanwhile)(void *), void *cls)
{
    pthread_t t[THREADS];
    struct writer w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){log, i};
        assert_int_equal(pthread_create(&t[i], NULL, write_lines, &w[i]), 0);
    }
    if (meanwhile)
        meanwhile(cls);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

/* Marks each line's request id in seen[thread][i]; fails on a broken or repeated line. */
static size_t count_lines(FILE *f, unsigned char (*seen)[LINES])
{
    char line[ACCESS_LINE_MAX + 2];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        int t, i;
        const char *rid = strstr(line, "\"request_id\":\"t");
        assert_non_null(rid);
        assert_int_equal(sscanf(rid, "\"request_id\":\"t%d-%d\"", &t, &i), 2);
        assert_true(t >= 0 && t < THREADS && i >= 0 && i < LINES);
        assert_int_equal(seen[t][i], 0);
        seen[t][i] = 1;
        assert_non_null(strstr(line, "\"outcome\":\"completed\"}\n"));
        n++;
    }
    return n;
}

struct rotation {
    struct access_log *log;
    const char *path, *rotated;
};

static void rotate(void *cls)
{
    struct rotation *r = cls;
    char err[256];
    usleep(2000);
    assert_int_equal(rename(r->path, r->rotated), 0);
    assert_true(access_log_reopen(r->log, err, sizeof err));
}

static void test_file_reopen_under_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_access_log.XXXXXX", path[64], rotated[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/access.log", dir);
    snprintf(rotated, sizeof rotated, "%s/access.log.1", dir);
    struct access_log *log = access_log_open(path, ACCESS_JSON, THREADS, err, sizeof err);
    assert_non_null(log);
    struct rotation r = {log, path, rotated};
    run_writers(log, rotate, &r);
    struct access_log_counts c;
    access_log_counts(log, &c);
    assert_int_equal(c.lines, THREADS * LINES);
    assert_int_equal(c.write_failures, 0);
    access_log_close(log);
    static unsigned char seen[THREADS][LINES];
    memset(seen, 0, sizeof seen);
    FILE *a = fopen(rotated, "r"), *b = fopen(path, "r");
    assert_non_null(a);
    assert_non_null(b);
    size_t na = count_lines(a, seen), nb = count_lines(b, seen);
    print_message("rotated file %zu lines, new file %zu\n", na, nb);
    assert_int_equal(na + nb, THREADS * LINES);
    assert_true(nb > 0);
    fclose(a);
    fclose(b);
    unlink(path);
    unlink(rotated);
    rmdir(dir);
}

static void test_dev_full_counted(void **state)
{
    (void)state;
    char err[256];
    struct access_log *log = access_log_open("/dev/full", ACCESS_COMBINED, THREADS, err,
                                             sizeof err);
    assert_non_null(log);
    run_writers(log, NULL, NULL);
    access_log_flush(log);
    struct access_log_counts c;
    access_log_counts(log, &c);
    assert_int_equal(c.lines, THREADS * LINES);
    assert_true(c.write_failures > 0);
    assert_int_equal(c.dropped, THREADS * LINES);
    access_log_close(log);
}

static void test_open_fails(void **state)
{
    (void)state;
    char err[256];
    assert_null(access_log_open("/nonexistent-dir/x.log", ACCESS_JSON, 1, err, sizeof err));
    assert_non_null(strstr(err, "--access-log /nonexistent-dir/x.log: cannot open for append"));
}

struct drain {
    int fd;
    FILE *copy;
};

static void *drain_pipe(void *arg)
{
    struct drain *d = arg;
    char buf[1000]; /* small reads: the pipe fills, writers wait in the middle of a write */
    ssize_t n;
    while ((n = read(d->fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, d->copy);
    return NULL;
}

/* stdout as a pipe: many threads' flushes, no line torn or lost */
static void test_pipe_whole_lines(void **state)
{
    (void)state;
    int p[2], saved = dup(STDOUT_FILENO);
    char err[256];
    assert_int_equal(pipe(p), 0);
    struct drain d = {p[0], tmpfile()};
    assert_non_null(d.copy);
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, drain_pipe, &d), 0);
    fflush(stdout);
    assert_true(dup2(p[1], STDOUT_FILENO) >= 0);
    close(p[1]);
    struct access_log *log = access_log_open("stdout", ACCESS_JSON, THREADS, err, sizeof err);
    assert_non_null(log);
    run_writers(log, NULL, NULL);
    access_log_close(log);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0); /* the pipe's last writer closes */
    close(saved);
    pthread_join(reader, NULL);
    close(p[0]);
    rewind(d.copy);
    static unsigned char seen[THREADS][LINES];
    memset(seen, 0, sizeof seen);
    assert_int_equal(count_lines(d.copy, seen), THREADS * LINES);
    fclose(d.copy);
}

static void test_ids_unique(void **state)
{
    (void)state;
    char err[256], a[ACCESS_LOG_ID_LEN], b[ACCESS_LOG_ID_LEN];
    struct access_log *log = access_log_open("stderr", ACCESS_JSON, 1, err, sizeof err);
    assert_non_null(log);
    access_log_new_id(log, a);
    access_log_new_id(log, b);
    assert_string_not_equal(a, b);
    assert_true(access_request_id_ok(a));
    access_log_close(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_reopen_under_load),
        cmocka_unit_test(test_dev_full_counted),
        cmocka_unit_test(test_open_fails),
        cmocka_unit_test(test_pipe_whole_lines),
        cmocka_unit_test(test_ids_unique),
    };
    return cmocka_run_group_tests_name("access_log", tests, NULL, NULL);
}
