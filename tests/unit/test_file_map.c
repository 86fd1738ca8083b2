/* test_file_map.c - the reference-counted mapping cache (handlers/file_map.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers/advice.h"
#include "handlers/file_map.h"
#include "handlers/http_date.h"
#include "metrics/metrics.h"

struct fixture {
    char dir[64];
    struct advice_policy policy;
    struct metrics *metrics;
    char names[16][32];
    size_t nnames;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/mmapd-test-file-map-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    advice_policy_defaults(&f->policy);
    f->metrics = metrics_create(INSTRUMENT_FULL);
    if (!f->metrics) {
        rmdir(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char path[128];
    for (size_t i = 0; i < f->nnames; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, f->names[i]);
        unlink(path);
    }
    rmdir(f->dir);
    metrics_destroy(f->metrics);
    free(f);
    return 0;
}

static void path_of(struct fixture *f, const char *name, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/%s", f->dir, name);
}

static void remember(struct fixture *f, const char *name)
{
    for (size_t i = 0; i < f->nnames; i++)
        if (strcmp(f->names[i], name) == 0)
            return;
    assert_true(f->nnames < 16);
    snprintf(f->names[f->nnames++], sizeof f->names[0], "%s", name);
}

/* Creates (or truncates) `name` with `len` bytes of `data`. */
static void write_file(struct fixture *f, const char *name, const void *data, size_t len)
{
    char path[128];
    path_of(f, name, path, sizeof path);
    remember(f, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    if (len)
        assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* Opens `name`, acquires it and closes the descriptor (the cache must not need it). */
static struct mapped_file *acquire(struct fixture *f, struct file_map *fm, const char *name,
                                   enum access_class cls)
{
    char path[128];
    struct stat st;
    struct mapped_file *m = NULL;
    path_of(f, name, path, sizeof path);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    int rc = file_map_acquire(fm, name, fd, &st, cls, &m);
    close(fd);
    if (rc != 0)
        fail_msg("file_map_acquire(%s): %s", name, strerror(rc));
    assert_non_null(m);
    return m;
}

static void expect_counts(struct file_map *fm, uint64_t files, uint64_t bytes)
{
    uint64_t got_files = 99, got_bytes = 99;
    file_map_counts(fm, &got_files, &got_bytes);
    assert_int_equal(got_files, files);
    assert_int_equal(got_bytes, bytes);
}

static uint64_t advice_calls(struct fixture *f, enum access_class c, enum advice a)
{
    return metrics_madvise_count(f->metrics, c, a, true);
}

/* What file_map_find_fresh answers as an entry is found current, its path found unwatchable,
 * and the generations move. */
static void test_freshness(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics);
    assert_non_null(fm);
    write_file(f, "a.txt", "hello world", 11);
    struct mapped_file *m = acquire(f, fm, "a.txt", ACCESS_STREAM), *got = NULL;
    struct path_generations g = {5, 3};
    assert_int_equal(file_map_find_fresh(fm, "a.txt", ACCESS_STREAM, &g, &got), MAP_STALE);
    assert_int_equal(file_map_find_fresh(fm, "b.txt", ACCESS_STREAM, &g, &got), MAP_STALE);
    /* found current by a stat under g: fresh while g holds, covered when only `any` moves */
    char path[128];
    struct stat st;
    path_of(f, "a.txt", path, sizeof path);
    assert_int_equal(stat(path, &st), 0);
    assert_true(file_map_find(fm, "a.txt", ACCESS_STREAM, &st, &g, &got));
    file_map_release(got);
    got = NULL;
    assert_int_equal(file_map_find_fresh(fm, "a.txt", ACCESS_STREAM, &g, &got), MAP_FRESH);
    assert_ptr_equal(got, m);
    file_map_release(got);
    struct path_generations moved = {6, 3}, relaid = {7, 4};
    assert_int_equal(file_map_find_fresh(fm, "a.txt", ACCESS_STREAM, &moved, &got), MAP_COVERED);
    assert_int_equal(file_map_find_fresh(fm, "a.txt", ACCESS_RANDOM, &g, &got), MAP_STALE);
    assert_int_equal(file_map_find_fresh(fm, "a.txt", ACCESS_STREAM, &relaid, &got), MAP_STALE);
    /* unwatchable under layout 4: only while the layout stays 4 */
    file_map_set_unwatched(fm, "a.txt", ACCESS_STREAM, 4);
    file_map_set_unwatched(fm, "b.txt", ACCESS_STREAM, 4); /* no entry: nothing */
    assert_int_equal(file_map_find_fresh(fm, "a.txt", ACCESS_STREAM, &relaid, &got), MAP_UNWATCHED);
    struct path_generations later = {9, 5};
    assert_int_equal(file_map_find_fresh(fm, "a.txt", ACCESS_STREAM, &later, &got), MAP_STALE);
    file_map_release(m);
    file_map_destroy(fm);
}

static void test_acquire_twice_same_mapping(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics);
    assert_non_null(fm);
    expect_counts(fm, 0, 0);
    write_file(f, "a.txt", "hello world", 11);

    struct mapped_file *m1 = acquire(f, fm, "a.txt", ACCESS_STREAM);
    struct mapped_file *m2 = acquire(f, fm, "a.txt", ACCESS_STREAM);
    assert_ptr_equal(m1, m2);
    const struct file_info *i1 = mapped_file_info(m1), *i2 = mapped_file_info(m2);
    assert_non_null(i1->base);
    assert_ptr_equal(i1->base, i2->base);
    assert_int_equal(i1->size, 11);
    assert_memory_equal(i1->base, "hello world", 11);
    expect_counts(fm, 1, 11);
    /* built once: the mapping-wide advice was applied once */
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 1);

    file_map_release(m1);
    expect_counts(fm, 1, 11);
    assert_memory_equal(i2->base, "hello world", 11);
    file_map_release(m2);
    expect_counts(fm, 1, 11); /* the cache keeps its own reference */
    file_map_destroy(fm);
}

static void test_file_info(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics);
    assert_non_null(fm);
    write_file(f, "data.json", "{\"a\": 1}\n", 9);
    char path[128];
    struct stat st;
    path_of(f, "data.json", path, sizeof path);
    assert_int_equal(stat(path, &st), 0);

    struct mapped_file *m = acquire(f, fm, "data.json", ACCESS_STREAM);
    const struct file_info *fi = mapped_file_info(m);
    assert_int_equal(fi->size, 9);
    assert_int_equal((int64_t)fi->mtime, (int64_t)st.st_mtim.tv_sec);
    char want[64];
    snprintf(want, sizeof want, "\"%jx-%jx-%jx\"", (uintmax_t)st.st_ino, (uintmax_t)9,
             (uintmax_t)st.st_mtim.tv_sec * 1000000000u + (uintmax_t)st.st_mtim.tv_nsec);
    assert_string_equal(fi->etag, want);
    char date[HTTP_DATE_LEN];
    http_date_format(st.st_mtim.tv_sec, date);
    assert_string_equal(fi->last_modified, date);
    assert_string_equal(fi->content_type, "application/json");
    file_map_release(m);
    file_map_destroy(fm);
}

static void test_classes_are_separate(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics);
    assert_non_null(fm);
    write_file(f, "b.bin", "0123456789", 10);
    struct mapped_file *s = acquire(f, fm, "b.bin", ACCESS_STREAM);
    struct mapped_file *r = acquire(f, fm, "b.bin", ACCESS_RANDOM);
    assert_ptr_not_equal(s, r);
    assert_ptr_not_equal(mapped_file_info(s)->base, mapped_file_info(r)->base);
    expect_counts(fm, 2, 20);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 1);
    assert_int_equal(advice_calls(f, ACCESS_RANDOM, ADVICE_RANDOM), 1);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_WILLNEED), 0);
    file_map_release(s);
    file_map_release(r);
    file_map_destroy(fm);
}

static void test_rewrite_in_place_new_size(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics);
    assert_non_null(fm);
    write_file(f, "c.txt", "hello", 5);
    struct mapped_file *old = acquire(f, fm, "c.txt", ACCESS_STREAM);
    const struct file_info *oi = mapped_file_info(old);
    char old_etag[64];
    snprintf(old_etag, sizeof old_etag, "%s", oi->etag);

    /* same inode, appended: only the size changes (the mtime is put back) */
    char path[128];
    struct stat before, after;
    path_of(f, "c.txt", path, sizeof path);
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &before), 0);
    assert_int_equal(write(fd, " world", 6), 6);
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    assert_int_equal(futimens(fd, times), 0);
    assert_int_equal(fstat(fd, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    assert_int_equal(close(fd), 0);

    struct mapped_file *cur = acquire(f, fm, "c.txt", ACCESS_STREAM);
    assert_ptr_not_equal(cur, old);
    const struct file_info *ci = mapped_file_info(cur);
    assert_ptr_not_equal(ci->base, oi->base);
    assert_int_equal(ci->size, 11);
    assert_memory_equal(ci->base, "hello world", 11);
    assert_string_not_equal(ci->etag, old_etag);
    /* the old reference still works, with its old size and (unchanged) bytes */
    assert_int_equal(oi->size, 5);
    assert_memory_equal(oi->base, "hello", 5);
    assert_string_equal(oi->etag, old_etag);
    expect_counts(fm, 2, 16);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 2);

    file_map_release(old); /* last reference of the replaced mapping: unmapped */
    expect_counts(fm, 1, 11);
    /* the cache now hands out the new mapping */
    struct mapped_file *again = acquire(f, fm, "c.txt", ACCESS_STREAM);
    assert_ptr_equal(again, cur);
    file_map_release(again);
    file_map_release(cur);
    expect_counts(fm, 1, 11);
    file_map_destroy(fm);
}

static void test_rewrite_in_place_new_mtime(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics);
    assert_non_null(fm);
    write_file(f, "m.txt", "1111", 4);
    struct mapped_file *old = acquire(f, fm, "m.txt", ACCESS_STREAM);

    /* same inode and size, only the mtime differs */
    char path[128];
    struct stat before;
    path_of(f, "m.txt", path, sizeof path);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &before), 0);
    assert_int_equal(pwrite(fd, "2222", 4, 0), 4);
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    times[1].tv_sec += 10;
    assert_int_equal(futimens(fd, times), 0);
    assert_int_equal(close(fd), 0);

    struct mapped_file *cur = acquire(f, fm, "m.txt", ACCESS_STREAM);
    assert_ptr_not_equal(cur, old);
    assert_int_equal((int64_t)mapped_file_info(cur)->mtime, (int64_t)before.st_mtim.tv_sec + 10);
    assert_string_not_equal(mapped_file_info(cur)->etag, mapped_file_info(old)->etag);
    assert_memory_equal(mapped_file_info(cur)->base, "2222", 4);
    /* the old reference stays readable (a shared mapping of the same inode) */
    assert_int_equal(mapped_file_info(old)->size, 4);
    assert_memory_equal(mapped_file_info(old)->base, "2222", 4);
    expect_counts(fm, 2, 8);
    file_map_release(old);
    file_map_release(cur);
    expect_counts(fm, 1, 4);
    file_map_destroy(fm);
}

static void test_rename_replacement_keeps_old_bytes(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics);
    assert_non_null(fm);
    write_file(f, "d.txt", "AAAAAAAA", 8);
    struct mapped_file *old = acquire(f, fm, "d.txt", ACCESS_STREAM);
    const struct file_info *oi = mapped_file_info(old);

    /* same size, new inode */
    write_file(f, "d.tmp", "BBBBBBBB", 8);
    char from[128], to[128];
    path_of(f, "d.tmp", from, sizeof from);
    path_of(f, "d.txt", to, sizeof to);
    assert_int_equal(rename(from, to), 0);

    struct mapped_file *cur = acquire(f, fm, "d.txt", ACCESS_STREAM);
    assert_ptr_not_equal(cur, old);
    const struct file_info *ci = mapped_file_info(cur);
    assert_memory_equal(ci->base, "BBBBBBBB", 8);
    assert_memory_equal(oi->base, "AAAAAAAA", 8);
    assert_string_not_equal(ci->etag, oi->etag);
    expect_counts(fm, 2, 16);

    file_map_release(old);
    expect_counts(fm, 1, 8);
    assert_memory_equal(ci->base, "BBBBBBBB", 8);
    file_map_release(cur);
    expect_counts(fm, 1, 8);
    file_map_destroy(fm);
}

static void test_release_all_leaves_cache_entries(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics);
    assert_non_null(fm);
    write_file(f, "e1", "1", 1);
    write_file(f, "e2", "22", 2);
    write_file(f, "e3", "333", 3);
    struct mapped_file *m[6];
    m[0] = acquire(f, fm, "e1", ACCESS_STREAM);
    m[1] = acquire(f, fm, "e2", ACCESS_STREAM);
    m[2] = acquire(f, fm, "e3", ACCESS_STREAM);
    m[3] = acquire(f, fm, "e1", ACCESS_STREAM);
    m[4] = acquire(f, fm, "e2", ACCESS_STREAM);
    m[5] = acquire(f, fm, "e3", ACCESS_RANDOM);
    expect_counts(fm, 4, 9);
    for (int i = 0; i < 6; i++)
        file_map_release(m[i]);
    expect_counts(fm, 4, 9);
    file_map_destroy(fm);
}

static void test_lru_eviction(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(2, &f->policy, f->metrics);
    assert_non_null(fm);
    /* sizes 1, 10, 100: the byte count says which are cached */
    write_file(f, "A", "a", 1);
    write_file(f, "B", "bbbbbbbbbb", 10);
    char c[100];
    memset(c, 'c', sizeof c);
    write_file(f, "C", c, sizeof c);

    file_map_release(acquire(f, fm, "A", ACCESS_STREAM));
    file_map_release(acquire(f, fm, "B", ACCESS_STREAM));
    expect_counts(fm, 2, 11);
    file_map_release(acquire(f, fm, "A", ACCESS_STREAM)); /* hit: A is now the most recent */
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 2);

    file_map_release(acquire(f, fm, "C", ACCESS_STREAM)); /* evicts B */
    expect_counts(fm, 2, 101);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 3);

    file_map_release(acquire(f, fm, "A", ACCESS_STREAM)); /* still cached */
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 3);
    file_map_release(acquire(f, fm, "B", ACCESS_STREAM)); /* mapped again, evicts C */
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 4);
    expect_counts(fm, 2, 11);
    file_map_destroy(fm);
}

static void test_evicted_but_held(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(1, &f->policy, f->metrics);
    assert_non_null(fm);
    write_file(f, "A", "aaaa", 4);
    write_file(f, "B", "bbbbbbbb", 8);
    struct mapped_file *a = acquire(f, fm, "A", ACCESS_STREAM);
    struct mapped_file *b = acquire(f, fm, "B", ACCESS_STREAM); /* evicts A from the cache */
    expect_counts(fm, 2, 12);
    assert_memory_equal(mapped_file_info(a)->base, "aaaa", 4);
    file_map_release(a); /* last reference: unmapped now */
    expect_counts(fm, 1, 8);
    file_map_release(b);
    expect_counts(fm, 1, 8);
    file_map_destroy(fm);
}

static void test_empty_file(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(4, &f->policy, f->metrics);
    assert_non_null(fm);
    write_file(f, "empty.txt", "", 0);
    struct mapped_file *m = acquire(f, fm, "empty.txt", ACCESS_STREAM);
    const struct file_info *fi = mapped_file_info(m);
    assert_null(fi->base);
    assert_int_equal(fi->size, 0);
    assert_non_null(strstr(fi->etag, "-0-"));
    assert_int_equal(fi->etag[0], '"');
    assert_string_equal(fi->content_type, "text/plain; charset=utf-8");
    expect_counts(fm, 1, 0);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 0);
    struct mapped_file *m2 = acquire(f, fm, "empty.txt", ACCESS_STREAM);
    assert_ptr_equal(m, m2);
    file_map_release(m);
    file_map_release(m2);
    expect_counts(fm, 1, 0);
    file_map_destroy(fm);
}

static void test_mmap_error(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(4, &f->policy, f->metrics);
    assert_non_null(fm);
    write_file(f, "x.bin", "xyz", 3);
    char path[128];
    struct stat st;
    path_of(f, "x.bin", path, sizeof path);
    assert_int_equal(stat(path, &st), 0);
    struct mapped_file *m = (struct mapped_file *)(uintptr_t)0x1;
    assert_int_equal(file_map_acquire(fm, "x.bin", -1, &st, ACCESS_STREAM, &m), EBADF);
    assert_ptr_equal(m, (struct mapped_file *)(uintptr_t)0x1);
    expect_counts(fm, 0, 0);
    /* a later good acquire works */
    file_map_release(acquire(f, fm, "x.bin", ACCESS_STREAM));
    expect_counts(fm, 1, 3);
    file_map_destroy(fm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acquire_twice_same_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freshness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classes_are_separate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_in_place_new_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_in_place_new_mtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_replacement_keeps_old_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_release_all_leaves_cache_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lru_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evicted_but_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmap_error, setup, teardown),
    };
    return cmocka_run_group_tests_name("file_map", tests, NULL, NULL);
}
