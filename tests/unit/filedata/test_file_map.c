/* test_file_map.c - the cache of open files and their mappings (filedata/file_map.h), on real
 * files in /tmp: detached and cached entries, lazy mappings, admission by the doorkeeper,
 * CLOCK eviction, and the states a lookup finds with a real path_watch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filedata/advice.h"
#include "filedata/file_map.h"
#include "filedata/path_watch.h"
#include "http/http_date.h"
#include "metrics/metrics.h"

struct fixture {
    char dir[64];
    int root_fd;
    struct advice_policy policy;
    struct metrics *metrics;
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
    f->root_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    advice_policy_defaults(&f->policy);
    f->metrics = metrics_create(INSTRUMENT_FULL);
    if (f->root_fd < 0 || !f->metrics) {
        if (f->root_fd >= 0)
            close(f->root_fd);
        metrics_destroy(f->metrics);
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
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    close(f->root_fd);
    int rc = system(cmd);
    metrics_destroy(f->metrics);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Creates (or truncates) `rel` with `len` bytes of `data`. */
static void write_file(struct fixture *f, const char *rel, const void *data, size_t len)
{
    int fd = openat(f->root_fd, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    if (len)
        assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void stat_file(struct fixture *f, const char *rel, struct stat *st)
{
    assert_int_equal(fstatat(f->root_fd, rel, st, AT_SYMLINK_NOFOLLOW), 0);
}

/* A detached entry keyed (rel, cls) for the file `file` (the entry takes the descriptor). */
static struct mapped_file *open_as(struct fixture *f, struct file_map *fm, const char *file,
                                   const char *rel, enum access_class cls)
{
    struct stat st;
    int fd = openat(f->root_fd, file, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    struct mapped_file *m = file_map_open(fm, rel, cls, fd, &st);
    assert_non_null(m);
    assert_int_equal(mapped_file_info(m)->fd, fd);
    return m;
}

static struct mapped_file *open_entry(struct fixture *f, struct file_map *fm, const char *rel,
                                      enum access_class cls)
{
    return open_as(f, fm, rel, rel, cls);
}

static struct path_watch *watch(struct fixture *f)
{
    struct path_watch *pw = path_watch_create(f->root_fd, 64, false);
    if (!pw) {
        print_message("no inotify here: skipping\n");
        skip();
    }
    return pw;
}

static void settle(struct path_watch *pw)
{
    path_watch_catch_up(pw);
}

/* The mark of a cover of rel, made once the events of earlier changes were taken in (they
 * would move it right away: a spurious MAP_MOVED, one stat more). */
static struct watch_mark cover(struct path_watch *pw, const char *rel)
{
    struct watch_mark mark;
    settle(pw);
    assert_true(path_watch_cover(pw, rel, true, &mark));
    return mark;
}

/* Caches `m` as file_lookup does: with the mark of a cover of its path when there is a
 * path_watch. Returns a copy of that mark (the entry holds it). */
static struct watch_mark cache(struct file_map *fm, struct path_watch *pw, struct mapped_file *m,
                               const char *rel)
{
    struct watch_mark mark = {.file_wd = -1}, copy;
    if (pw)
        mark = cover(pw, rel);
    copy = mark;
    file_map_insert(fm, m, pw ? &mark : NULL, 0);
    assert_int_equal(mark.layout, 0); /* its hold was taken over */
    return copy;
}

/* Opens and caches rel, holding nothing. */
static void cache_new(struct fixture *f, struct file_map *fm, struct path_watch *pw,
                      const char *rel, enum access_class cls)
{
    struct mapped_file *m = open_entry(f, fm, rel, cls);
    cache(fm, pw, m, rel);
    file_map_release(m);
}

static struct mapped_file *get(struct file_map *fm, const char *rel, enum access_class cls,
                               enum map_state *state)
{
    struct watch_mark mark;
    enum map_state ignored;
    return file_map_get(fm, rel, cls, state ? state : &ignored, &mark);
}

/* The state of the cached entry of (rel, cls), which must exist. */
static enum map_state state_of(struct file_map *fm, const char *rel, enum access_class cls)
{
    enum map_state state;
    struct mapped_file *m = get(fm, rel, cls, &state);
    assert_non_null(m);
    file_map_release(m);
    return state;
}

/* Whether (rel, cls) is cached (marking it used, as any lookup does). */
static bool is_cached(struct file_map *fm, const char *rel, enum access_class cls)
{
    struct mapped_file *m = get(fm, rel, cls, NULL);
    bool found = m != NULL;
    if (found)
        file_map_release(m);
    return found;
}

static void expect_counts(struct file_map *fm, uint64_t mapped_files, uint64_t mapped_bytes,
                          uint64_t open_files, uint64_t cached)
{
    struct file_map_counts c;
    memset(&c, 0x55, sizeof c);
    file_map_counts(fm, &c);
    assert_int_equal(c.mapped_files, mapped_files);
    assert_int_equal(c.mapped_bytes, mapped_bytes);
    assert_int_equal(c.open_files, open_files);
    assert_int_equal(c.cached, cached);
}

static void expect_closed(int fd)
{
    errno = 0;
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
}

static uint64_t advice_calls(struct fixture *f, enum access_class c, enum advice a)
{
    return metrics_madvise_count(f->metrics, c, a, true);
}

/* Moves the layout generation: a directory deleted beneath the root. */
static void move_layout(struct fixture *f, struct path_watch *pw)
{
    uint64_t before = path_watch_layout(pw);
    assert_int_equal(mkdirat(f->root_fd, "gone", 0755), 0);
    assert_int_equal(unlinkat(f->root_fd, "gone", AT_REMOVEDIR), 0);
    settle(pw);
    assert_true(path_watch_layout(pw) > before);
}

/* An entry that is not inserted is detached: not found by a lookup, its descriptor closed by
 * the last release. */
static void test_detached_entry(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    expect_counts(fm, 0, 0, 0, 0);
    write_file(f, "a.txt", "hello world", 11);
    struct mapped_file *m = open_entry(f, fm, "a.txt", ACCESS_STREAM);
    int fd = mapped_file_info(m)->fd;
    expect_counts(fm, 0, 0, 1, 0);
    assert_null(get(fm, "a.txt", ACCESS_STREAM, NULL));

    assert_ptr_equal(file_map_retain(m), m);
    file_map_release(m);
    assert_int_not_equal(fcntl(fd, F_GETFD), -1); /* still held */
    expect_counts(fm, 0, 0, 1, 0);
    file_map_release(m);
    expect_closed(fd);
    expect_counts(fm, 0, 0, 0, 0);
    file_map_destroy(fm);
}

/* The mapping is made on the first mapped_file_base() call, once; only then do the mapped
 * counts move, and the last release unmaps. */
static void test_lazy_mapping(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "a.txt", "hello world", 11);
    struct mapped_file *m = open_entry(f, fm, "a.txt", ACCESS_STREAM);
    expect_counts(fm, 0, 0, 1, 0);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 0);

    const unsigned char *base = mapped_file_base(m);
    assert_non_null(base);
    assert_memory_equal(base, "hello world", 11);
    expect_counts(fm, 1, 11, 1, 0);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 1);

    assert_ptr_equal(mapped_file_base(m), base);
    expect_counts(fm, 1, 11, 1, 0);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 1);
    file_map_release(m);
    expect_counts(fm, 0, 0, 0, 0);
    file_map_destroy(fm);
}

/* A cached entry is found again by its path, with its one mapping; the cache keeps its own
 * reference when every holder released theirs. */
static void test_cached_entry_found_again(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "a.txt", "hello world", 11);
    struct mapped_file *m = open_entry(f, fm, "a.txt", ACCESS_STREAM);
    cache(fm, NULL, m, "a.txt");
    expect_counts(fm, 0, 0, 1, 1);

    enum map_state st1, st2;
    struct mapped_file *g1 = get(fm, "a.txt", ACCESS_STREAM, &st1);
    struct mapped_file *g2 = get(fm, "a.txt", ACCESS_STREAM, &st2);
    assert_ptr_equal(g1, m);
    assert_ptr_equal(g2, m);
    assert_int_equal(st1, MAP_UNWATCHED); /* no path_watch: every lookup stats */
    assert_int_equal(st2, MAP_UNWATCHED);
    const unsigned char *base = mapped_file_base(g1);
    assert_ptr_equal(mapped_file_base(g2), base);
    assert_memory_equal(base, "hello world", 11);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 1);

    file_map_release(m);
    file_map_release(g1);
    expect_counts(fm, 1, 11, 1, 1);
    assert_memory_equal(base, "hello world", 11);
    file_map_release(g2);
    expect_counts(fm, 1, 11, 1, 1); /* the cache keeps its own reference */
    file_map_destroy(fm);
}

struct race {
    struct mapped_file *m;
    atomic_int *arrived; /* a spinning start: the threads call at the same moment */
    int threads;
    const unsigned char *got;
};

static void *map_it(void *arg)
{
    struct race *r = arg;
    atomic_fetch_add(r->arrived, 1);
    while (atomic_load(r->arrived) < r->threads)
        ;
    r->got = mapped_file_base(r->m);
    return NULL;
}

/* Threads mapping the same entry for the first time at once all get the one mapping; the
 * others' mappings are undone. */
static void test_concurrent_first_mapping(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "a.bin", "0123456789abcdef", 16);
    enum { THREADS = 2, ROUNDS = 300 };
    for (int round = 0; round < ROUNDS; round++) {
        struct mapped_file *m = open_entry(f, fm, "a.bin", ACCESS_RANDOM);
        atomic_int arrived = 0;
        struct race r[THREADS];
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++) {
            r[i] = (struct race){.m = m, .arrived = &arrived, .threads = THREADS};
            assert_int_equal(pthread_create(&t[i], NULL, map_it, &r[i]), 0);
        }
        for (int i = 0; i < THREADS; i++)
            assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_non_null(r[0].got);
        for (int i = 1; i < THREADS; i++)
            assert_ptr_equal(r[i].got, r[0].got);
        assert_ptr_equal(mapped_file_base(m), r[0].got);
        assert_memory_equal(r[0].got, "0123456789abcdef", 16);
        expect_counts(fm, 1, 16, 1, 0);
        file_map_release(m);
        expect_counts(fm, 0, 0, 0, 0);
    }
    file_map_destroy(fm);
}

static void test_file_info(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "data.json", "{\"a\": 1}\n", 9);
    struct stat st;
    stat_file(f, "data.json", &st);

    struct mapped_file *m = open_entry(f, fm, "data.json", ACCESS_STREAM);
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
    /* the descriptor is the file's, open for reading */
    struct stat fst;
    assert_int_equal(fstat(fi->fd, &fst), 0);
    assert_int_equal(fst.st_ino, st.st_ino);
    char buf[4];
    assert_int_equal(pread(fi->fd, buf, 4, 0), 4);
    assert_memory_equal(buf, "{\"a\"", 4);
    assert_true(mapped_file_same(m, &st));
    assert_true(mapped_file_holds(m, 9));
    assert_false(mapped_file_holds(m, 10));
    file_map_release(m);
    file_map_destroy(fm);
}

static void test_classes_are_separate(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "b.bin", "0123456789", 10);
    struct mapped_file *s = open_entry(f, fm, "b.bin", ACCESS_STREAM);
    cache(fm, NULL, s, "b.bin");
    struct mapped_file *r = open_entry(f, fm, "b.bin", ACCESS_RANDOM);
    cache(fm, NULL, r, "b.bin");
    expect_counts(fm, 0, 0, 2, 2);
    struct mapped_file *gs = get(fm, "b.bin", ACCESS_STREAM, NULL);
    struct mapped_file *gr = get(fm, "b.bin", ACCESS_RANDOM, NULL);
    assert_ptr_equal(gs, s);
    assert_ptr_equal(gr, r);
    assert_ptr_not_equal(mapped_file_base(s), mapped_file_base(r));
    expect_counts(fm, 2, 20, 2, 2);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 1);
    assert_int_equal(advice_calls(f, ACCESS_RANDOM, ADVICE_RANDOM), 1);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_WILLNEED), 0);
    /* dropping one class leaves the other */
    file_map_forget(fm, "b.bin", ACCESS_RANDOM);
    assert_false(is_cached(fm, "b.bin", ACCESS_RANDOM));
    assert_true(is_cached(fm, "b.bin", ACCESS_STREAM));
    file_map_release(gs);
    file_map_release(gr);
    file_map_release(s);
    file_map_release(r);
    expect_counts(fm, 1, 10, 1, 1);
    file_map_destroy(fm);
}

/* A file changed in place (appended, its mtime put back) is no longer the entry; the new entry
 * replaces the cached one, and the old one's holders keep its old size. */
static void test_rewrite_in_place_new_size(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "c.txt", "hello", 5);
    struct mapped_file *old = open_entry(f, fm, "c.txt", ACCESS_STREAM);
    cache(fm, NULL, old, "c.txt");
    const struct file_info *oi = mapped_file_info(old);
    const unsigned char *obase = mapped_file_base(old);
    char old_etag[64];
    snprintf(old_etag, sizeof old_etag, "%s", oi->etag);

    /* same inode, appended: only the size changes (the mtime is put back) */
    struct stat before, after;
    int fd = openat(f->root_fd, "c.txt", O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &before), 0);
    assert_true(mapped_file_same(old, &before));
    assert_int_equal(write(fd, " world", 6), 6);
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    assert_int_equal(futimens(fd, times), 0);
    assert_int_equal(fstat(fd, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    assert_int_equal(close(fd), 0);
    assert_false(mapped_file_same(old, &after));

    struct mapped_file *cur = open_entry(f, fm, "c.txt", ACCESS_STREAM);
    assert_true(mapped_file_same(cur, &after));
    cache(fm, NULL, cur, "c.txt");
    struct mapped_file *got = get(fm, "c.txt", ACCESS_STREAM, NULL);
    assert_ptr_equal(got, cur);
    file_map_release(got);
    const struct file_info *ci = mapped_file_info(cur);
    assert_int_equal(ci->size, 11);
    assert_memory_equal(mapped_file_base(cur), "hello world", 11);
    assert_ptr_not_equal(mapped_file_base(cur), obase);
    assert_string_not_equal(ci->etag, old_etag);
    /* the old reference still works, with its old size and (unchanged) bytes */
    assert_int_equal(oi->size, 5);
    assert_memory_equal(obase, "hello", 5);
    assert_string_equal(oi->etag, old_etag);
    expect_counts(fm, 2, 16, 2, 1);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 2);

    int ofd = oi->fd;
    file_map_release(old); /* last reference of the replaced entry: unmapped, closed */
    expect_counts(fm, 1, 11, 1, 1);
    expect_closed(ofd);
    file_map_release(cur);
    expect_counts(fm, 1, 11, 1, 1);
    file_map_destroy(fm);
}

static void test_rewrite_in_place_new_mtime(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "m.txt", "1111", 4);
    struct mapped_file *old = open_entry(f, fm, "m.txt", ACCESS_STREAM);
    cache(fm, NULL, old, "m.txt");
    assert_memory_equal(mapped_file_base(old), "1111", 4);

    /* same inode and size, only the mtime differs */
    struct stat before, after;
    int fd = openat(f->root_fd, "m.txt", O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &before), 0);
    assert_int_equal(pwrite(fd, "2222", 4, 0), 4);
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    times[1].tv_sec += 10;
    assert_int_equal(futimens(fd, times), 0);
    assert_int_equal(close(fd), 0);
    stat_file(f, "m.txt", &after);
    assert_false(mapped_file_same(old, &after));

    struct mapped_file *cur = open_entry(f, fm, "m.txt", ACCESS_STREAM);
    cache(fm, NULL, cur, "m.txt");
    struct mapped_file *got = get(fm, "m.txt", ACCESS_STREAM, NULL);
    assert_ptr_equal(got, cur);
    file_map_release(got);
    assert_int_equal((int64_t)mapped_file_info(cur)->mtime, (int64_t)before.st_mtim.tv_sec + 10);
    assert_string_not_equal(mapped_file_info(cur)->etag, mapped_file_info(old)->etag);
    assert_memory_equal(mapped_file_base(cur), "2222", 4);
    /* the old reference stays readable (a shared mapping of the same inode) */
    assert_int_equal(mapped_file_info(old)->size, 4);
    assert_memory_equal(mapped_file_base(old), "2222", 4);
    expect_counts(fm, 2, 8, 2, 1);
    file_map_release(old);
    file_map_release(cur);
    expect_counts(fm, 1, 4, 1, 1);
    file_map_destroy(fm);
}

/* A change of attributes only (ctime): no longer the same file for a stat. */
static void test_attribute_change(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "p.txt", "perm", 4);
    struct mapped_file *m = open_entry(f, fm, "p.txt", ACCESS_STREAM);
    struct stat st;
    stat_file(f, "p.txt", &st);
    assert_true(mapped_file_same(m, &st));
    struct timespec nap = {0, 20 * 1000 * 1000}; /* past the clock's granularity */
    nanosleep(&nap, NULL);
    assert_int_equal(fchmodat(f->root_fd, "p.txt", 0600, 0), 0);
    stat_file(f, "p.txt", &st);
    assert_false(mapped_file_same(m, &st));
    file_map_release(m);
    file_map_destroy(fm);
}

/* A file replaced by rename: the lookup finds the entry moved, a stat tells it is not the
 * file any more, and the new entry replaces it; the old entry still reads the old bytes. */
static void test_rename_replacement_keeps_old_bytes(void **state)
{
    struct fixture *f = *state;
    struct path_watch *pw = watch(f);
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, pw);
    assert_non_null(fm);
    write_file(f, "d.txt", "AAAAAAAA", 8);
    struct mapped_file *old = open_entry(f, fm, "d.txt", ACCESS_STREAM);
    cache(fm, pw, old, "d.txt");
    const struct file_info *oi = mapped_file_info(old);
    assert_memory_equal(mapped_file_base(old), "AAAAAAAA", 8);
    assert_int_equal(state_of(fm, "d.txt", ACCESS_STREAM), MAP_FRESH);

    /* same size, new inode */
    write_file(f, "d.tmp", "BBBBBBBB", 8);
    assert_int_equal(renameat(f->root_fd, "d.tmp", f->root_fd, "d.txt"), 0);
    settle(pw);
    assert_int_equal(state_of(fm, "d.txt", ACCESS_STREAM), MAP_MOVED);
    struct stat st;
    stat_file(f, "d.txt", &st);
    assert_false(mapped_file_same(old, &st));

    struct mapped_file *cur = open_entry(f, fm, "d.txt", ACCESS_STREAM);
    assert_true(mapped_file_same(cur, &st));
    cache(fm, pw, cur, "d.txt");
    enum map_state s;
    struct mapped_file *got = get(fm, "d.txt", ACCESS_STREAM, &s);
    assert_ptr_equal(got, cur);
    assert_int_equal(s, MAP_FRESH);
    file_map_release(got);
    const struct file_info *ci = mapped_file_info(cur);
    assert_memory_equal(mapped_file_base(cur), "BBBBBBBB", 8);
    assert_memory_equal(mapped_file_base(old), "AAAAAAAA", 8);
    char buf[8];
    assert_int_equal(pread(oi->fd, buf, 8, 0), 8); /* its descriptor too */
    assert_memory_equal(buf, "AAAAAAAA", 8);
    assert_string_not_equal(ci->etag, oi->etag);
    expect_counts(fm, 2, 16, 2, 1);

    file_map_release(old);
    expect_counts(fm, 1, 8, 1, 1);
    assert_memory_equal(mapped_file_base(cur), "BBBBBBBB", 8);
    file_map_release(cur);
    expect_counts(fm, 1, 8, 1, 1);
    file_map_destroy(fm);
    path_watch_destroy(pw);
}

static void test_release_all_leaves_cache_entries(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "e1", "1", 1);
    write_file(f, "e2", "22", 2);
    write_file(f, "e3", "333", 3);
    const char *rel[4] = {"e1", "e2", "e3", "e3"};
    const enum access_class cls[4] = {ACCESS_STREAM, ACCESS_STREAM, ACCESS_STREAM, ACCESS_RANDOM};
    struct mapped_file *m[8];
    for (int i = 0; i < 4; i++) {
        m[i] = open_entry(f, fm, rel[i], cls[i]);
        cache(fm, NULL, m[i], rel[i]);
        assert_non_null(mapped_file_base(m[i]));
    }
    for (int i = 0; i < 4; i++) {
        m[4 + i] = get(fm, rel[i], cls[i], NULL);
        assert_ptr_equal(m[4 + i], m[i]);
    }
    expect_counts(fm, 4, 9, 4, 4);
    for (int i = 0; i < 8; i++)
        file_map_release(m[i]);
    expect_counts(fm, 4, 9, 4, 4);
    file_map_destroy(fm);
}

/* CLOCK: a hit sets an entry's reference bit, so a full table evicts an entry that was not hit
 * since the hand last passed and keeps one that keeps being hit. (A table this small is one
 * stripe.) */
static void test_clock_keeps_hit_entries(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(2, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "A", "a", 1);
    write_file(f, "B", "b", 1);
    write_file(f, "C", "c", 1);
    cache_new(f, fm, NULL, "A", ACCESS_STREAM);
    cache_new(f, fm, NULL, "B", ACCESS_STREAM);
    assert_true(is_cached(fm, "A", ACCESS_STREAM)); /* A hit, B not */
    cache_new(f, fm, NULL, "C", ACCESS_STREAM);     /* evicts B, not the older A */
    expect_counts(fm, 0, 0, 2, 2);
    assert_false(is_cached(fm, "B", ACCESS_STREAM));
    /* A, hit before each insert, outlives a stream of new entries that are not hit (C, then
     * each new one in turn, goes) */
    char rel[16];
    for (int i = 0; i < 8; i++) {
        snprintf(rel, sizeof rel, "n%d", i);
        write_file(f, rel, "n", 1);
        assert_true(is_cached(fm, "A", ACCESS_STREAM));
        cache_new(f, fm, NULL, rel, ACCESS_STREAM);
        expect_counts(fm, 0, 0, 2, 2);
    }
    assert_true(is_cached(fm, "A", ACCESS_STREAM));
    assert_false(is_cached(fm, "C", ACCESS_STREAM));
    for (int i = 0; i < 7; i++) {
        snprintf(rel, sizeof rel, "n%d", i);
        assert_false(is_cached(fm, rel, ACCESS_STREAM));
    }
    assert_true(is_cached(fm, "n7", ACCESS_STREAM));
    file_map_destroy(fm);
}

static void test_clock_evicts_unhit_entries(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(2, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "A", "a", 1);
    write_file(f, "B", "b", 1);
    write_file(f, "C", "c", 1);
    cache_new(f, fm, NULL, "A", ACCESS_STREAM);
    cache_new(f, fm, NULL, "B", ACCESS_STREAM);
    assert_true(is_cached(fm, "B", ACCESS_STREAM)); /* B hit, A not */
    cache_new(f, fm, NULL, "C", ACCESS_STREAM);     /* evicts A, not the newer B */
    expect_counts(fm, 0, 0, 2, 2);
    assert_false(is_cached(fm, "A", ACCESS_STREAM));
    assert_true(is_cached(fm, "B", ACCESS_STREAM));
    assert_true(is_cached(fm, "C", ACCESS_STREAM));
    file_map_destroy(fm);
}

/* With every entry hit, the hand clears at most CLOCK_SWEEP_MAX bits and then takes the entry
 * under it: entries are on the ring in insertion order from the hand, so the one
 * CLOCK_SWEEP_MAX further goes, and the first one stays. */
static void test_clock_sweep_is_bounded(void **state)
{
    struct fixture *f = *state;
    enum { N = CLOCK_SWEEP_MAX + 8 };
    struct file_map *fm = file_map_create(N, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "x", "x", 1);
    char rel[16];
    for (int i = 0; i < N; i++) {
        snprintf(rel, sizeof rel, "e%02d", i);
        struct mapped_file *m = open_as(f, fm, "x", rel, ACCESS_STREAM);
        cache(fm, NULL, m, rel);
        file_map_release(m);
    }
    for (int i = 0; i < N; i++) {
        snprintf(rel, sizeof rel, "e%02d", i);
        assert_true(is_cached(fm, rel, ACCESS_STREAM));
    }
    struct mapped_file *m = open_as(f, fm, "x", "new", ACCESS_STREAM);
    cache(fm, NULL, m, "new");
    file_map_release(m);
    expect_counts(fm, 0, 0, N, N);
    snprintf(rel, sizeof rel, "e%02d", CLOCK_SWEEP_MAX);
    assert_false(is_cached(fm, rel, ACCESS_STREAM));
    assert_true(is_cached(fm, "e00", ACCESS_STREAM));
    assert_true(is_cached(fm, "new", ACCESS_STREAM));
    file_map_destroy(fm);
}

/* An entry evicted while a response holds it stays usable until released. */
static void test_evicted_but_held(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(1, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "A", "aaaa", 4);
    write_file(f, "B", "bbbbbbbb", 8);
    struct mapped_file *a = open_entry(f, fm, "A", ACCESS_STREAM);
    cache(fm, NULL, a, "A");
    assert_memory_equal(mapped_file_base(a), "aaaa", 4);
    struct mapped_file *b = open_entry(f, fm, "B", ACCESS_STREAM);
    cache(fm, NULL, b, "B"); /* evicts A from the cache */
    assert_false(is_cached(fm, "A", ACCESS_STREAM));
    assert_true(is_cached(fm, "B", ACCESS_STREAM));
    assert_memory_equal(mapped_file_base(b), "bbbbbbbb", 8);
    expect_counts(fm, 2, 12, 2, 1);
    assert_memory_equal(mapped_file_base(a), "aaaa", 4);
    char buf[4];
    int afd = mapped_file_info(a)->fd;
    assert_int_equal(pread(afd, buf, 4, 0), 4);
    file_map_release(a); /* last reference: unmapped and closed now */
    expect_counts(fm, 1, 8, 1, 1);
    expect_closed(afd);
    file_map_release(b);
    expect_counts(fm, 1, 8, 1, 1);
    file_map_destroy(fm);
}

/* Inserting an entry of a file that is cached already leaves it detached, and drops the hold
 * of the mark it came with. */
static void test_insert_same_file_twice(void **state)
{
    struct fixture *f = *state;
    struct path_watch *pw = watch(f);
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, pw);
    assert_non_null(fm);
    write_file(f, "a.txt", "hello", 5);
    struct mapped_file *m1 = open_entry(f, fm, "a.txt", ACCESS_STREAM);
    cache(fm, pw, m1, "a.txt");
    assert_int_equal(path_watch_count(pw), 2); /* the root and a.txt */

    struct mapped_file *m2 = open_entry(f, fm, "a.txt", ACCESS_STREAM);
    struct watch_mark mark2 = cover(pw, "a.txt"); /* a second hold on a.txt's watch */
    file_map_insert(fm, m2, &mark2, 0);
    assert_int_equal(mark2.layout, 0);
    enum map_state s;
    struct mapped_file *got = get(fm, "a.txt", ACCESS_STREAM, &s);
    assert_ptr_equal(got, m1);
    assert_int_equal(s, MAP_FRESH);
    file_map_release(got);
    expect_counts(fm, 0, 0, 2, 1);
    int fd2 = mapped_file_info(m2)->fd;
    file_map_release(m2); /* detached: gone with its last reference */
    expect_closed(fd2);
    expect_counts(fm, 0, 0, 1, 1);
    file_map_release(m1);
    expect_counts(fm, 0, 0, 1, 1);
    /* no hold left but the cached entry's: dropping it drops the file's watch */
    file_map_forget(fm, "a.txt", ACCESS_STREAM);
    expect_counts(fm, 0, 0, 0, 0);
    settle(pw);
    assert_int_equal(path_watch_count(pw), 1);
    file_map_destroy(fm);
    path_watch_destroy(pw);
}

static void test_forget(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "a.txt", "hello", 5);
    struct mapped_file *m = open_entry(f, fm, "a.txt", ACCESS_STREAM);
    cache(fm, NULL, m, "a.txt");
    file_map_forget(fm, "a.txt", ACCESS_RANDOM); /* not cached: nothing */
    file_map_forget(fm, "b.txt", ACCESS_STREAM);
    expect_counts(fm, 0, 0, 1, 1);
    assert_true(is_cached(fm, "a.txt", ACCESS_STREAM));

    file_map_forget(fm, "a.txt", ACCESS_STREAM);
    assert_false(is_cached(fm, "a.txt", ACCESS_STREAM));
    expect_counts(fm, 0, 0, 1, 0); /* held: still open */
    assert_memory_equal(mapped_file_base(m), "hello", 5);
    int fd = mapped_file_info(m)->fd;
    file_map_release(m);
    expect_closed(fd);
    expect_counts(fm, 0, 0, 0, 0);
    file_map_forget(fm, "a.txt", ACCESS_STREAM); /* again: nothing */
    cache_new(f, fm, NULL, "a.txt", ACCESS_STREAM); /* and it can be cached anew */
    expect_counts(fm, 0, 0, 1, 1);
    file_map_destroy(fm);
}

/* Opens `file` as the key `rel` and caches it if admitted, as file_lookup does. */
static bool admitted(struct fixture *f, struct file_map *fm, const char *file, const char *rel,
                     enum access_class cls)
{
    struct mapped_file *m = open_as(f, fm, file, rel, cls);
    bool ok = file_map_admits(fm, m);
    if (ok)
        file_map_insert(fm, m, NULL, 0);
    file_map_release(m);
    return ok;
}

/* While the table has room, every miss is admitted. */
static void test_admits_while_room(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(4, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "x", "x", 1);
    assert_true(admitted(f, fm, "x", "k0", ACCESS_STREAM));
    assert_true(admitted(f, fm, "x", "k1", ACCESS_STREAM));
    assert_true(admitted(f, fm, "x", "k2", ACCESS_STREAM));
    assert_true(admitted(f, fm, "x", "k3", ACCESS_STREAM));
    expect_counts(fm, 0, 0, 4, 4);
    assert_false(admitted(f, fm, "x", "k4", ACCESS_STREAM)); /* full: a first miss is not */
    expect_counts(fm, 0, 0, 4, 4);
    file_map_forget(fm, "k0", ACCESS_STREAM); /* room again */
    assert_true(admitted(f, fm, "x", "k5", ACCESS_STREAM));
    expect_counts(fm, 0, 0, 4, 4);
    assert_true(is_cached(fm, "k5", ACCESS_STREAM));
    file_map_destroy(fm);
}

/* A full table admits a (path, class) on its second recent miss, not its first. */
static void test_admits_second_miss_when_full(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(4, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "x", "x", 1);
    write_file(f, "hot", "hot", 3);
    char rel[16];
    for (int i = 0; i < 4; i++) {
        snprintf(rel, sizeof rel, "k%d", i);
        assert_true(admitted(f, fm, "x", rel, ACCESS_STREAM));
    }
    assert_false(admitted(f, fm, "hot", "hot", ACCESS_STREAM));
    expect_counts(fm, 0, 0, 4, 4); /* not admitted: nothing left behind */
    assert_false(admitted(f, fm, "hot", "hot", ACCESS_RANDOM)); /* another key */
    assert_true(admitted(f, fm, "hot", "hot", ACCESS_STREAM));
    expect_counts(fm, 0, 0, 4, 4); /* one evicted for it */
    assert_true(is_cached(fm, "hot", ACCESS_STREAM));
    assert_false(is_cached(fm, "hot", ACCESS_RANDOM));
    file_map_destroy(fm);
}

/* A scan of files read once never enters a full table, so the entries in use stay; and the
 * doorkeeper forgets a miss that many others followed. */
static void test_scan_is_never_admitted(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(4, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "x", "x", 1);
    char rel[16];
    for (int i = 0; i < 4; i++) {
        snprintf(rel, sizeof rel, "k%d", i);
        assert_true(admitted(f, fm, "x", rel, ACCESS_STREAM));
    }
    assert_false(admitted(f, fm, "x", "hot", ACCESS_STREAM));
    for (int i = 0; i < 1000; i++) {
        snprintf(rel, sizeof rel, "scan%04d", i);
        if (admitted(f, fm, "x", rel, ACCESS_STREAM))
            fail_msg("%s admitted", rel);
    }
    expect_counts(fm, 0, 0, 4, 4);
    for (int i = 0; i < 4; i++) {
        snprintf(rel, sizeof rel, "k%d", i);
        assert_true(is_cached(fm, rel, ACCESS_STREAM));
    }
    assert_false(admitted(f, fm, "x", "hot", ACCESS_STREAM)); /* forgotten: a first miss */
    assert_true(admitted(f, fm, "x", "hot", ACCESS_STREAM));
    file_map_destroy(fm);
}

/* MAP_FRESH while nothing on the path changed; MAP_MOVED, with the entry's mark, after a change;
 * re-read and confirmed (file_map_remarked), fresh again. */
static void test_state_fresh_and_moved(void **state)
{
    struct fixture *f = *state;
    struct path_watch *pw = watch(f);
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, pw);
    assert_non_null(fm);
    write_file(f, "f.bin", "one", 3);
    struct mapped_file *m = open_entry(f, fm, "f.bin", ACCESS_STREAM);
    struct watch_mark given = cache(fm, pw, m, "f.bin");
    settle(pw);
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_FRESH);

    write_file(f, "f.bin", "two!", 4); /* in place */
    settle(pw);
    enum map_state s;
    struct watch_mark mark;
    struct mapped_file *got = file_map_get(fm, "f.bin", ACCESS_STREAM, &s, &mark);
    assert_ptr_equal(got, m);
    file_map_release(got);
    assert_int_equal(s, MAP_MOVED);
    assert_int_equal(mark.layout, given.layout);
    assert_int_equal(mark.sum, given.sum);
    assert_int_equal(mark.file_wd, given.file_wd);
    assert_int_equal(mark.name_slot, given.name_slot);
    assert_int_equal(mark.file_slot, given.file_slot);
    assert_false(path_watch_unchanged(pw, &mark));
    assert_true(path_watch_intact(pw, &mark));
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_MOVED); /* until confirmed */

    /* (here the caller's stat would decide; the table takes the word of whoever calls) */
    path_watch_remark(pw, &mark);
    file_map_remarked(fm, m, &mark);
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_FRESH);
    assert_int_equal(fchmodat(f->root_fd, "f.bin", 0600, 0), 0);
    settle(pw);
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_MOVED);
    file_map_release(m);
    file_map_destroy(fm);
    path_watch_destroy(pw);
}

/* A confirmation of an old MAP_MOVED mark that arrives after the entry was marked anew (under
 * a new layout) leaves the new mark alone. */
static void test_remarked_after_marked_anew(void **state)
{
    struct fixture *f = *state;
    struct path_watch *pw = watch(f);
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, pw);
    assert_non_null(fm);
    write_file(f, "f.bin", "one", 3);
    struct mapped_file *m = open_entry(f, fm, "f.bin", ACCESS_STREAM);
    cache(fm, pw, m, "f.bin");
    int fd = openat(f->root_fd, "f.bin", O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "+", 1), 1);
    settle(pw);
    enum map_state s;
    struct watch_mark late;
    struct mapped_file *got = file_map_get(fm, "f.bin", ACCESS_STREAM, &s, &late);
    assert_int_equal(s, MAP_MOVED);
    file_map_release(got);
    path_watch_remark(pw, &late); /* one thread re-reads ... */

    assert_int_equal(write(fd, "+", 1), 1); /* ... the file changes again ... */
    close(fd);
    move_layout(f, pw);
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_UNMARKED);
    struct watch_mark fresh = cover(pw, "f.bin"); /* ... another marks it anew ... */
    file_map_marked(fm, m, &fresh);
    assert_int_equal(fresh.layout, 0);
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_FRESH);
    file_map_remarked(fm, m, &late); /* ... and the first one's confirmation comes late */
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_FRESH);
    file_map_release(m);
    file_map_destroy(fm);
    path_watch_destroy(pw);
}

/* MAP_UNMARKED with no mark or after the layout moved; file_map_marked makes it fresh and
 * releases the hold of the mark it replaces; the entry releases its own when freed. */
static void test_state_unmarked(void **state)
{
    struct fixture *f = *state;
    struct path_watch *pw = watch(f);
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, pw);
    assert_non_null(fm);
    write_file(f, "f.bin", "one", 3);
    struct mapped_file *m = open_entry(f, fm, "f.bin", ACCESS_STREAM);
    file_map_insert(fm, m, NULL, 0);
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_UNMARKED);
    assert_int_equal(path_watch_count(pw), 1);

    struct watch_mark mark = cover(pw, "f.bin");
    file_map_marked(fm, m, &mark);
    assert_int_equal(mark.layout, 0); /* the entry took it */
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_FRESH);
    assert_int_equal(path_watch_count(pw), 2);

    move_layout(f, pw);
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_UNMARKED);
    mark = cover(pw, "f.bin"); /* two holds on f.bin's watch */
    file_map_marked(fm, m, &mark);                     /* the old one released */
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_FRESH);
    assert_int_equal(path_watch_count(pw), 2);

    file_map_forget(fm, "f.bin", ACCESS_STREAM);
    settle(pw);
    assert_int_equal(path_watch_count(pw), 2); /* still held by the test */
    file_map_release(m);
    settle(pw);
    assert_int_equal(path_watch_count(pw), 1); /* the last hold went with the entry */
    file_map_destroy(fm);
    path_watch_destroy(pw);
}

/* MAP_UNWATCHED: no path_watch at all, or the path found unwatchable under the current layout
 * (until the layout moves, or the entry is marked). */
static void test_state_unwatched(void **state)
{
    struct fixture *f = *state;
    write_file(f, "f.bin", "one", 3);
    write_file(f, "g.bin", "two", 3);
    struct file_map *bare = file_map_create(8, &f->policy, f->metrics, NULL);
    assert_non_null(bare);
    cache_new(f, bare, NULL, "f.bin", ACCESS_STREAM);
    assert_int_equal(state_of(bare, "f.bin", ACCESS_STREAM), MAP_UNWATCHED);
    file_map_destroy(bare);

    struct path_watch *pw = watch(f);
    struct file_map *fm = file_map_create(8, &f->policy, f->metrics, pw);
    assert_non_null(fm);
    struct mapped_file *m = open_entry(f, fm, "f.bin", ACCESS_STREAM);
    file_map_insert(fm, m, NULL, path_watch_layout(pw));
    struct mapped_file *g = open_entry(f, fm, "g.bin", ACCESS_STREAM);
    file_map_insert(fm, g, NULL, path_watch_layout(pw));
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_UNWATCHED);
    assert_int_equal(state_of(fm, "g.bin", ACCESS_STREAM), MAP_UNWATCHED);

    struct watch_mark mark = cover(pw, "f.bin"); /* watchable after all */
    file_map_marked(fm, m, &mark);
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_FRESH);
    file_map_set_unwatched(fm, m, path_watch_layout(pw));
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_UNWATCHED);

    move_layout(f, pw);
    assert_int_equal(state_of(fm, "f.bin", ACCESS_STREAM), MAP_UNMARKED);
    assert_int_equal(state_of(fm, "g.bin", ACCESS_STREAM), MAP_UNMARKED);
    file_map_release(m);
    file_map_release(g);
    file_map_destroy(fm);
    path_watch_destroy(pw);
}

/* open_files counts live entries, detached, cached or evicted-but-held; cached the table's. */
static void test_counts(void **state)
{
    struct fixture *f = *state;
    struct file_map_counts c;
    struct file_map *fm = file_map_create(0, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    file_map_counts(fm, &c);
    assert_int_equal(c.capacity, 1); /* at least one */
    file_map_destroy(fm);

    fm = file_map_create(3, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    file_map_counts(fm, &c);
    assert_int_equal(c.capacity, 3);
    expect_counts(fm, 0, 0, 0, 0);
    write_file(f, "x", "xy", 2);
    struct mapped_file *detached = open_as(f, fm, "x", "d", ACCESS_STREAM);
    expect_counts(fm, 0, 0, 1, 0);
    struct mapped_file *a = open_as(f, fm, "x", "a", ACCESS_STREAM);
    cache(fm, NULL, a, "a");
    struct mapped_file *b = open_as(f, fm, "x", "b", ACCESS_STREAM);
    cache(fm, NULL, b, "b");
    file_map_release(b);
    struct mapped_file *c3 = open_as(f, fm, "x", "c", ACCESS_STREAM);
    cache(fm, NULL, c3, "c");
    file_map_release(c3);
    expect_counts(fm, 0, 0, 4, 3);
    assert_non_null(mapped_file_base(a));
    expect_counts(fm, 1, 2, 4, 3);
    struct mapped_file *e = open_as(f, fm, "x", "e", ACCESS_STREAM);
    cache(fm, NULL, e, "e"); /* evicts a, which is held */
    file_map_release(e);
    assert_false(is_cached(fm, "a", ACCESS_STREAM));
    expect_counts(fm, 1, 2, 5, 3);
    file_map_release(a);
    expect_counts(fm, 0, 0, 4, 3);
    file_map_forget(fm, "b", ACCESS_STREAM);
    expect_counts(fm, 0, 0, 3, 2);
    file_map_release(detached);
    expect_counts(fm, 0, 0, 2, 2);
    file_map_counts(fm, &c);
    assert_int_equal(c.capacity, 3);
    file_map_destroy(fm);
}

static void test_empty_file(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(4, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "empty.txt", "", 0);
    struct mapped_file *m = open_entry(f, fm, "empty.txt", ACCESS_STREAM);
    const struct file_info *fi = mapped_file_info(m);
    assert_null(mapped_file_base(m));
    assert_int_equal(fi->size, 0);
    assert_non_null(strstr(fi->etag, "-0-"));
    assert_int_equal(fi->etag[0], '"');
    assert_string_equal(fi->content_type, "text/plain; charset=utf-8");
    expect_counts(fm, 0, 0, 1, 0);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 0);
    cache(fm, NULL, m, "empty.txt");
    struct mapped_file *m2 = get(fm, "empty.txt", ACCESS_STREAM, NULL);
    assert_ptr_equal(m, m2);
    assert_null(mapped_file_base(m2));
    file_map_release(m);
    file_map_release(m2);
    expect_counts(fm, 0, 0, 1, 1);
    file_map_destroy(fm);
}

/* A mapping that cannot be made (here: a descriptor not open for reading) gives NULL with
 * errno, and counts nothing; the entry and the table stay usable. */
static void test_mmap_error(void **state)
{
    struct fixture *f = *state;
    struct file_map *fm = file_map_create(4, &f->policy, f->metrics, NULL);
    assert_non_null(fm);
    write_file(f, "x.bin", "xyz", 3);
    int fd = openat(f->root_fd, "x.bin", O_WRONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct mapped_file *bad = file_map_open(fm, "x.bin", ACCESS_STREAM, fd, &st);
    assert_non_null(bad);
    errno = 0;
    assert_null(mapped_file_base(bad));
    assert_int_equal(errno, EACCES);
    expect_counts(fm, 0, 0, 1, 0);
    assert_int_equal(advice_calls(f, ACCESS_STREAM, ADVICE_SEQUENTIAL), 0);
    file_map_release(bad);
    expect_counts(fm, 0, 0, 0, 0);
    /* a later good entry works */
    struct mapped_file *m = open_entry(f, fm, "x.bin", ACCESS_STREAM);
    assert_memory_equal(mapped_file_base(m), "xyz", 3);
    expect_counts(fm, 1, 3, 1, 0);
    file_map_release(m);
    file_map_destroy(fm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_detached_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cached_entry_found_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_first_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classes_are_separate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_in_place_new_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_in_place_new_mtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attribute_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_replacement_keeps_old_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_release_all_leaves_cache_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_keeps_hit_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_evicts_unhit_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_sweep_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evicted_but_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_same_file_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admits_while_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admits_second_miss_when_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_is_never_admitted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_fresh_and_moved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remarked_after_marked_anew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_unmarked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_unwatched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmap_error, setup, teardown),
    };
    return cmocka_run_group_tests_name("file_map", tests, NULL, NULL);
}
