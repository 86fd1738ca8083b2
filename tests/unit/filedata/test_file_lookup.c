/* test_file_lookup.c - the open file a request names (filedata/file_lookup.h), on real files in
 * a temporary root, with and without a real path_watch: the same entry while the file is
 * unchanged, a new one once it was replaced, truncated or modified, the statuses of paths it
 * refuses (nothing outside the root is ever opened or served), a deleted file dropped from
 * the cache, and the cache's bound (admission and eviction). Dotfiles are not the lookup's
 * business: the URL decoder (http/url_path.h) refuses them before a lookup. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit_support.h"
#include "filedata/advice.h"
#include "filedata/file_lookup.h"
#include "filedata/file_map.h"
#include "filedata/path_watch.h"
#include "metrics/metrics.h"

struct fixture {
    struct unit_dir root;    /* the served root */
    struct unit_dir outside; /* a directory next to it, never to be served */
    struct advice_policy policy;
    struct metrics *metrics;
    struct path_watch *pw; /* NULL: every lookup stats (the `_watched` tests make one) */
    struct file_map *fm;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    bool root = unit_dir_make(&f->root, "lookup");
    bool outside = root && unit_dir_make(&f->outside, "lookup-outside");
    advice_policy_defaults(&f->policy);
    f->metrics = metrics_create(INSTRUMENT_FULL);
    if (!root || !outside || !f->metrics) {
        if (outside)
            unit_dir_remove(&f->outside);
        if (root)
            unit_dir_remove(&f->root);
        metrics_destroy(f->metrics);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    file_map_destroy(f->fm);
    path_watch_destroy(f->pw);
    bool ok = unit_dir_remove(&f->root) && unit_dir_remove(&f->outside);
    metrics_destroy(f->metrics);
    free(f);
    return ok ? 0 : -1;
}

/* The file map of the test (capacity entries), over a path_watch when `watched`. */
static void start(struct fixture *f, size_t capacity, bool watched)
{
    if (watched) {
        f->pw = path_watch_create(f->root.fd, 64, true);
        if (!f->pw) {
            print_message("no inotify here: skipping\n");
            skip();
        }
    }
    f->fm = file_map_create(capacity, &f->policy, f->metrics, f->pw);
    assert_non_null(f->fm);
}

static unsigned lookup(struct fixture *f, const char *rel, struct mapped_file **m)
{
    *m = NULL;
    return file_lookup(f->root.fd, f->fm, f->pw, f->metrics, rel, ACCESS_STREAM, m);
}

/* A lookup that must succeed: the entry, holding `want` (strlen bytes). */
static struct mapped_file *found(struct fixture *f, const char *rel, const char *want)
{
    struct mapped_file *m;
    assert_int_equal(lookup(f, rel, &m), 0);
    assert_non_null(m);
    size_t len = strlen(want);
    assert_int_equal(mapped_file_info(m)->size, len);
    const unsigned char *base = mapped_file_base(m);
    assert_non_null(base);
    assert_memory_equal(base, want, len);
    return m;
}

/* A lookup that must be refused with `status`, leaving no new descriptor open (one of a
 * stale entry may close). */
static void refused(struct fixture *f, const char *rel, unsigned status)
{
    struct file_map_counts before, after;
    struct mapped_file *m;
    file_map_counts(f->fm, &before);
    assert_int_equal(lookup(f, rel, &m), status);
    assert_null(m);
    file_map_counts(f->fm, &after);
    assert_true(after.open_files <= before.open_files);
}

static uint64_t hits(struct fixture *f)
{
    return unit_metric(f->metrics, "mmapd_file_cache_hits_total");
}

static uint64_t misses(struct fixture *f)
{
    return unit_metric(f->metrics, "mmapd_file_cache_misses_total");
}

static struct file_map_counts counts(struct fixture *f)
{
    struct file_map_counts c;
    file_map_counts(f->fm, &c);
    return c;
}

/* Writes a new version of rel elsewhere and renames it over rel (how a file is replaced). */
static void replace(struct fixture *f, const char *rel, const char *data)
{
    unit_write_file(&f->root, "replacement.tmp", data, strlen(data));
    assert_int_equal(renameat(f->root.fd, "replacement.tmp", f->root.fd, rel), 0);
}

static void same_entry_while_unchanged(struct fixture *f)
{
    unit_write_file(&f->root, "a.txt", "hello", 5);
    struct mapped_file *m1 = found(f, "a.txt", "hello");
    struct mapped_file *m2 = found(f, "a.txt", "hello");
    struct mapped_file *m3 = found(f, "a.txt", "hello");
    assert_ptr_equal(m2, m1);
    assert_ptr_equal(m3, m1);
    assert_ptr_equal(mapped_file_base(m2), mapped_file_base(m1)); /* one mapping */
    assert_int_equal(misses(f), 1);
    assert_int_equal(hits(f), 2);
    assert_int_equal(counts(f).cached, 1);
    assert_int_equal(counts(f).open_files, 1);
    file_map_release(m1);
    file_map_release(m2);
    file_map_release(m3);
}

static void test_same_entry_while_unchanged(void **state)
{
    start(*state, 8, false);
    same_entry_while_unchanged(*state);
}

static void test_same_entry_while_unchanged_watched(void **state)
{
    start(*state, 8, true);
    same_entry_while_unchanged(*state);
}

/* A file replaced by rename, truncated in place, or written in place (a new mtime) is a new
 * entry with what the file holds now; a response still holding the old entry keeps its bytes
 * (rename) or learns that they are gone (truncation). */
static void new_entry_after_change(struct fixture *f)
{
    unit_write_file(&f->root, "a.txt", "version one", 11);
    struct mapped_file *m1 = found(f, "a.txt", "version one");

    replace(f, "a.txt", "version two!");
    struct mapped_file *m2 = found(f, "a.txt", "version two!");
    assert_ptr_not_equal(m2, m1);
    assert_false(mapped_file_same_version(m1, m2));
    assert_memory_equal(mapped_file_base(m1), "version one", 11); /* the old file, still held */
    assert_true(mapped_file_holds(m1, 11));

    int fd = openat(f->root.fd, "a.txt", O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 7), 0);
    struct mapped_file *m3 = found(f, "a.txt", "version");
    assert_ptr_not_equal(m3, m2);
    assert_false(mapped_file_holds(m2, 12)); /* the held entry sees the truncation */
    assert_true(mapped_file_holds(m2, 7));

    /* the same size, new bytes and a new mtime (set explicitly: a write within the same
     * clock tick may leave mtime and ctime as they were) */
    assert_int_equal(pwrite(fd, "VERSION", 7, 0), 7);
    struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1000000000}};
    assert_int_equal(futimens(fd, times), 0);
    assert_int_equal(close(fd), 0);
    struct mapped_file *m4 = found(f, "a.txt", "VERSION");
    assert_ptr_not_equal(m4, m3);
    assert_int_equal((int64_t)mapped_file_info(m4)->mtime, 1000000000);

    struct mapped_file *m5 = found(f, "a.txt", "VERSION"); /* and that one stays */
    assert_ptr_equal(m5, m4);
    assert_int_equal(misses(f), 4);
    assert_int_equal(hits(f), 1);
    assert_int_equal(counts(f).cached, 1);
    file_map_release(m1);
    file_map_release(m2);
    file_map_release(m3);
    file_map_release(m4);
    file_map_release(m5);
    assert_int_equal(counts(f).open_files, 1); /* the replaced versions' descriptors closed */
}

static void test_new_entry_after_change(void **state)
{
    start(*state, 8, false);
    new_entry_after_change(*state);
}

static void test_new_entry_after_change_watched(void **state)
{
    start(*state, 8, true);
    new_entry_after_change(*state);
}

/* A deleted file answers 404 and its cached entry is dropped: its descriptor closes when the
 * last response holding it ends. */
static void deleted_file_forgotten(struct fixture *f)
{
    unit_write_file(&f->root, "gone.txt", "bytes", 5);
    struct mapped_file *m = found(f, "gone.txt", "bytes");
    int fd = mapped_file_info(m)->fd;
    assert_int_equal(counts(f).cached, 1);
    assert_int_equal(unlinkat(f->root.fd, "gone.txt", 0), 0);
    refused(f, "gone.txt", 404);
    assert_int_equal(counts(f).cached, 0);
    assert_memory_equal(mapped_file_base(m), "bytes", 5); /* still held */
    assert_int_equal(counts(f).open_files, 1);
    file_map_release(m);
    assert_int_equal(counts(f).open_files, 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
}

/* A cached file whose path now names something the lookup refuses (a directory, a symlink out
 * of the root, a FIFO): refused, and the entry dropped as for a deleted file, so the old
 * file's descriptor (and its disk space, if it was deleted) goes with its last holder. */
static void refused_path_forgotten(struct fixture *f)
{
    static const char *const names[] = {"to-dir", "to-link", "to-fifo"};
    char target[128];
    snprintf(target, sizeof target, "%s/secret.txt", f->outside.path);
    unit_write_file(&f->outside, "secret.txt", "secret", 6);
    for (int i = 0; i < 3; i++) {
        unit_write_file(&f->root, names[i], "bytes", 5);
        file_map_release(found(f, names[i], "bytes"));
    }
    assert_int_equal(counts(f).cached, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(unlinkat(f->root.fd, names[i], 0), 0);
    assert_int_equal(mkdirat(f->root.fd, "to-dir", 0755), 0);
    assert_int_equal(symlinkat(target, f->root.fd, "to-link"), 0);
    assert_int_equal(mkfifoat(f->root.fd, "to-fifo", 0644), 0);
    refused(f, "to-dir", 301);
    refused(f, "to-link", 403);
    refused(f, "to-fifo", 403);
    assert_int_equal(counts(f).cached, 0);
    assert_int_equal(counts(f).open_files, 0);
}

static void test_refused_path_forgotten(void **state)
{
    start(*state, 8, false);
    refused_path_forgotten(*state);
}

static void test_refused_path_forgotten_watched(void **state)
{
    start(*state, 8, true);
    refused_path_forgotten(*state);
}

static void test_deleted_file_forgotten(void **state)
{
    start(*state, 8, false);
    deleted_file_forgotten(*state);
}

static void test_deleted_file_forgotten_watched(void **state)
{
    start(*state, 8, true);
    deleted_file_forgotten(*state);
}

/* What the lookup refuses, and with which status; nothing outside the root is opened. */
static void test_refusals(void **state)
{
    struct fixture *f = *state;
    start(f, 8, false);
    unit_write_file(&f->root, "in.txt", "inside", 6);
    unit_write_file(&f->outside, "secret.txt", "secret", 6);
    assert_int_equal(mkdirat(f->root.fd, "dir", 0755), 0);
    unit_write_file(&f->root, "dir/deep.txt", "deep", 4);
    char target[128];
    snprintf(target, sizeof target, "%s/secret.txt", f->outside.path);
    assert_int_equal(symlinkat(target, f->root.fd, "abs-out"), 0);
    snprintf(target, sizeof target, "../%s/secret.txt", strrchr(f->outside.path, '/') + 1);
    assert_int_equal(symlinkat(target, f->root.fd, "rel-out"), 0);
    snprintf(target, sizeof target, "%s", f->outside.path);
    assert_int_equal(symlinkat(target, f->root.fd, "dir-out"), 0);
    assert_int_equal(symlinkat("in.txt", f->root.fd, "in-link"), 0);
    assert_int_equal(symlinkat("../in.txt", f->root.fd, "dir/up-link"), 0);
    assert_int_equal(symlinkat("loop", f->root.fd, "loop"), 0);
    assert_int_equal(mkfifoat(f->root.fd, "fifo", 0644), 0);
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';

    refused(f, "missing.txt", 404);
    refused(f, "in.txt/below", 404);
    refused(f, "dir", 301);
    refused(f, "dir/", 301);
    refused(f, "abs-out", 403);
    refused(f, "rel-out", 403);
    refused(f, "dir-out/secret.txt", 403);
    char up[128];
    snprintf(up, sizeof up, "../%s/secret.txt", strrchr(f->outside.path, '/') + 1);
    refused(f, up, 403);
    snprintf(up, sizeof up, "%s/secret.txt", f->outside.path);
    refused(f, up, 403); /* an absolute path leaves the root too */
    refused(f, "loop", 403);
    refused(f, "fifo", 403); /* refused at once: opening a FIFO never waits for a writer */
    refused(f, longname, 414);
    assert_int_equal(counts(f).cached, 0);
    assert_int_equal(counts(f).open_files, 0);

    /* symlinks that stay beneath the root are followed */
    struct mapped_file *a = found(f, "in-link", "inside");
    struct mapped_file *b = found(f, "dir/up-link", "inside");
    struct mapped_file *c = found(f, "dir/deep.txt", "deep");
    file_map_release(a);
    file_map_release(b);
    file_map_release(c);
}

/* A cached path that is a symlink, turned to point outside the root: the next lookup
 * refuses it instead of serving the cached entry or the outside file. */
static void symlink_turned_outside(struct fixture *f)
{
    unit_write_file(&f->root, "in.txt", "inside", 6);
    unit_write_file(&f->outside, "secret.txt", "secret", 6);
    assert_int_equal(symlinkat("in.txt", f->root.fd, "link"), 0);
    struct mapped_file *m1 = found(f, "link", "inside");
    struct mapped_file *m2 = found(f, "link", "inside");
    assert_ptr_equal(m2, m1);
    char target[128];
    snprintf(target, sizeof target, "%s/secret.txt", f->outside.path);
    assert_int_equal(symlinkat(target, f->root.fd, "link.new"), 0);
    assert_int_equal(renameat(f->root.fd, "link.new", f->root.fd, "link"), 0);
    refused(f, "link", 403);
    file_map_release(m1);
    file_map_release(m2);
}

static void test_symlink_turned_outside(void **state)
{
    start(*state, 8, false);
    symlink_turned_outside(*state);
}

static void test_symlink_turned_outside_watched(void **state)
{
    start(*state, 8, true);
    symlink_turned_outside(*state);
}

/* The cache holds at most `capacity` entries: a file looked up once while it is full stays
 * detached (a scan does not flush the files in use), one that misses twice in a row is
 * admitted and evicts another; an entry not cached keeps no descriptor after its request. */
static void test_capacity_and_eviction(void **state)
{
    struct fixture *f = *state;
    enum { CAP = 4, FILES = 12 };
    start(f, CAP, false);
    char rel[32], data[32];
    for (int i = 0; i < FILES; i++) {
        snprintf(rel, sizeof rel, "f%02d.txt", i);
        snprintf(data, sizeof data, "file %02d", i);
        unit_write_file(&f->root, rel, data, strlen(data));
    }
    for (int i = 0; i < FILES; i++) { /* the first CAP fill the room; the others scan */
        snprintf(rel, sizeof rel, "f%02d.txt", i);
        snprintf(data, sizeof data, "file %02d", i);
        file_map_release(found(f, rel, data));
        struct file_map_counts c = counts(f);
        assert_int_equal(c.cached, i < CAP ? (uint64_t)i + 1 : CAP);
        assert_int_equal(c.open_files, c.cached);
    }
    uint64_t h = hits(f);
    for (int i = 0; i < CAP; i++) { /* the scan evicted nothing */
        snprintf(rel, sizeof rel, "f%02d.txt", i);
        snprintf(data, sizeof data, "file %02d", i);
        file_map_release(found(f, rel, data));
    }
    assert_int_equal(hits(f), h + CAP);
    assert_int_equal(unit_metric(f->metrics, "mmapd_file_cache_evictions_total"), 0);

    /* a file wanted again is admitted, evicting one: the bound holds */
    struct mapped_file *m = found(f, "f10.txt", "file 10");
    file_map_release(m);
    m = found(f, "f10.txt", "file 10");
    struct mapped_file *again = found(f, "f10.txt", "file 10");
    assert_ptr_equal(again, m); /* cached now */
    file_map_release(again);
    file_map_release(m);
    assert_int_equal(counts(f).cached, CAP);
    assert_int_equal(counts(f).open_files, CAP);
    assert_int_equal(unit_metric(f->metrics, "mmapd_file_cache_evictions_total"), 1);
    int present = 0;
    for (int i = 0; i < CAP; i++) {
        snprintf(rel, sizeof rel, "f%02d.txt", i);
        enum map_state st;
        struct watch_mark mark;
        struct mapped_file *g = file_map_get(f->fm, rel, ACCESS_STREAM, &st, &mark);
        present += g != NULL;
        if (g)
            file_map_release(g);
    }
    assert_int_equal(present, CAP - 1);
}

/* Access classes are separate entries of the same file. */
static void test_classes_separate(void **state)
{
    struct fixture *f = *state;
    start(f, 8, false);
    unit_write_file(&f->root, "a.bin", "0123", 4);
    struct mapped_file *s, *r, *s2;
    assert_int_equal(file_lookup(f->root.fd, f->fm, NULL, f->metrics, "a.bin", ACCESS_STREAM, &s),
                     0);
    assert_int_equal(file_lookup(f->root.fd, f->fm, NULL, f->metrics, "a.bin", ACCESS_RANDOM, &r),
                     0);
    assert_int_equal(
        file_lookup(f->root.fd, f->fm, NULL, f->metrics, "a.bin", ACCESS_STREAM, &s2), 0);
    assert_ptr_not_equal(r, s);
    assert_ptr_equal(s2, s);
    assert_true(mapped_file_same_version(r, s));
    assert_int_equal(counts(f).cached, 2);
    file_map_release(s);
    file_map_release(r);
    file_map_release(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_entry_while_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_entry_while_unchanged_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_entry_after_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_entry_after_change_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_file_forgotten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_file_forgotten_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_path_forgotten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_path_forgotten_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_turned_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_turned_outside_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capacity_and_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classes_separate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
