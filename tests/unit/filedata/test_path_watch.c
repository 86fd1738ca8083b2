/* test_path_watch.c - inotify watches on the paths of cached files (filedata/path_watch.h),
 * on a real directory tree in /tmp: which changes move a path's mark and which move the
 * layout, covers through symlinks and missing paths, the holds marks take on a file's watch,
 * and the cap on watches. Every check of a change takes its events in first
 * (path_watch_catch_up), but for the tests of the watcher thread and of strict lookups. */
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
#include <time.h>
#include <unistd.h>

#include "filedata/path_watch.h"

struct tree {
    char dir[64];
    char outside[64]; /* a directory next to the root, on the same file system */
    int root_fd;
};

static void write_file(const struct tree *t, const char *rel, const char *text, int flags)
{
    int fd = openat(t->root_fd, rel, O_WRONLY | O_CREAT | flags, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* root/a/b/f.bin, root/a/b/g.bin, and an empty directory outside the root */
static int setup(void **state)
{
    struct tree *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/mmapd-test-path-watch-XXXXXX");
    snprintf(t->outside, sizeof t->outside, "/tmp/mmapd-test-path-watch-out-XXXXXX");
    if (!mkdtemp(t->dir) || !mkdtemp(t->outside))
        return -1;
    t->root_fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->root_fd < 0 || mkdirat(t->root_fd, "a", 0755) != 0 ||
        mkdirat(t->root_fd, "a/b", 0755) != 0)
        return -1;
    *state = t;
    write_file(t, "a/b/f.bin", "one", O_TRUNC);
    write_file(t, "a/b/g.bin", "two", O_TRUNC);
    return 0;
}

static int teardown(void **state)
{
    struct tree *t = *state;
    char cmd[192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", t->dir, t->outside);
    close(t->root_fd);
    int rc = system(cmd);
    free(t);
    return rc == 0 ? 0 : -1;
}

static struct path_watch *watch_mode(const struct tree *t, size_t max, bool strict)
{
    struct path_watch *pw = path_watch_create(t->root_fd, max, strict);
    if (!pw) {
        print_message("no inotify here: skipping\n");
        skip();
    }
    return pw;
}

static struct path_watch *watch(const struct tree *t, size_t max)
{
    return watch_mode(t, max, false);
}

/* Takes in every event queued so far. */
static void settle(struct path_watch *pw)
{
    path_watch_catch_up(pw);
}

/* The mark of a cover of rel, made once the events of earlier changes were taken in (taken in
 * after the cover, they would move it). */
static struct watch_mark cover(struct path_watch *pw, const char *rel)
{
    struct watch_mark mark;
    settle(pw);
    if (!path_watch_cover(pw, rel, true, &mark))
        fail_msg("path_watch_cover(%s) failed", rel);
    assert_int_not_equal(mark.layout, 0);
    assert_true(mark.file_wd >= 0);
    return mark;
}

/* After a change: the mark moved; its watches are still in place unless `layout_too`.
 * Re-reads an intact mark, so that the next change can be checked with it. */
static void expect_moved(struct path_watch *pw, struct watch_mark *mark, bool layout_too)
{
    settle(pw);
    assert_false(path_watch_unchanged(pw, mark));
    if (layout_too) {
        assert_false(path_watch_intact(pw, mark));
        assert_true(path_watch_layout(pw) > mark->layout);
        return;
    }
    assert_true(path_watch_intact(pw, mark));
    assert_int_equal(path_watch_layout(pw), mark->layout);
    path_watch_remark(pw, mark);
    assert_true(path_watch_unchanged(pw, mark));
}

static void quiet_tree_keeps_its_mark(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    uint64_t layout = path_watch_layout(pw);
    assert_int_not_equal(layout, 0);
    assert_int_equal(path_watch_count(pw), 1); /* the root */
    struct watch_mark m1 = cover(pw, "a/b/f.bin");
    assert_int_equal(m1.layout, layout);
    assert_int_equal(path_watch_count(pw), 4); /* root, a, a/b, f.bin */
    struct watch_mark m2 = cover(pw, "a/b/f.bin"); /* again: the same watches */
    assert_int_equal(path_watch_count(pw), 4);
    assert_int_equal(m2.file_wd, m1.file_wd);
    assert_true(path_watch_unchanged(pw, &m1));
    assert_true(path_watch_unchanged(pw, &m2));
    /* reading a file is no change */
    char buf[8];
    int fd = openat(t->root_fd, "a/b/f.bin", O_RDONLY);
    assert_true(fd >= 0);
    assert_true(read(fd, buf, sizeof buf) > 0);
    close(fd);
    settle(pw);
    assert_true(path_watch_unchanged(pw, &m1));
    assert_true(path_watch_intact(pw, &m1));
    assert_int_equal(path_watch_layout(pw), layout);
    path_watch_release(pw, &m1);
    path_watch_release(pw, &m2);
    path_watch_destroy(pw);
}

/* Changes to the file itself move its mark, not the layout: the path still leads through the
 * same watched directories. */
static void file_changes_move_the_mark(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    struct watch_mark mark = cover(pw, "a/b/f.bin");

    write_file(t, "a/b/f.bin", "more", O_APPEND); /* written in place */
    expect_moved(pw, &mark, false);
    assert_int_equal(fchmodat(t->root_fd, "a/b/f.bin", 0600, 0), 0); /* attributes */
    expect_moved(pw, &mark, false);
    int fd = openat(t->root_fd, "a/b/f.bin", O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1), 0); /* truncated */
    close(fd);
    expect_moved(pw, &mark, false);
    write_file(t, "a/b/new.bin", "x", O_TRUNC);
    settle(pw);
    path_watch_remark(pw, &mark); /* (a new name next to it: see sibling_changes_...) */
    assert_int_equal(renameat(t->root_fd, "a/b/new.bin", t->root_fd, "a/b/f.bin"), 0);
    expect_moved(pw, &mark, false); /* replaced by rename */
    path_watch_release(pw, &mark);
    path_watch_destroy(pw);
}

/* The counters are per (directory, name): changes to other names in the same directory, or to
 * the same name in another directory, leave the mark alone. (Two names may share a counter by
 * hashing; f.bin in a/b does with none of the names used here, which is deterministic.) */
static void sibling_changes_leave_the_mark(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    struct watch_mark f = cover(pw, "a/b/f.bin");
    struct watch_mark g = cover(pw, "a/b/g.bin");

    write_file(t, "a/b/g.bin", "written", O_APPEND);
    assert_int_equal(fchmodat(t->root_fd, "a/b/g.bin", 0600, 0), 0);
    write_file(t, "a/b/new.bin", "created", O_TRUNC);
    assert_int_equal(renameat(t->root_fd, "a/b/new.bin", t->root_fd, "a/b/h.bin"), 0);
    assert_int_equal(unlinkat(t->root_fd, "a/b/h.bin", 0), 0);
    write_file(t, "a/f.bin", "same name, another directory", O_TRUNC);
    assert_int_equal(unlinkat(t->root_fd, "a/f.bin", 0), 0);
    settle(pw);
    assert_false(path_watch_unchanged(pw, &g)); /* the events were taken in */
    assert_true(path_watch_unchanged(pw, &f));

    /* and the other way round, with g's own watch dropped: g deleted */
    path_watch_remark(pw, &g);
    assert_int_equal(unlinkat(t->root_fd, "a/b/g.bin", 0), 0);
    settle(pw);
    assert_false(path_watch_unchanged(pw, &g));
    assert_true(path_watch_intact(pw, &g)); /* a file deleted: not a layout change */
    assert_true(path_watch_unchanged(pw, &f));
    path_watch_release(pw, &f);
    path_watch_release(pw, &g);
    path_watch_destroy(pw);
}

/* A write through a hard link in a directory outside the root, which no watch covers: the
 * file's own watch sees it. */
static void write_through_a_link_outside_the_root(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    char alias[128];
    snprintf(alias, sizeof alias, "%s/alias.bin", t->outside);
    assert_int_equal(linkat(t->root_fd, "a/b/f.bin", AT_FDCWD, alias, 0), 0);
    struct watch_mark mark = cover(pw, "a/b/f.bin");
    settle(pw);
    assert_true(path_watch_unchanged(pw, &mark));

    int fd = open(alias, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "grown", 5), 5);
    close(fd);
    expect_moved(pw, &mark, false);
    path_watch_release(pw, &mark);
    path_watch_destroy(pw);
}

/* Without its own watch (a file with one link), the directory's watch sees every change made
 * through the file's name, and nothing else: a write through a hard link made elsewhere after
 * the cover goes unseen (docs/design.md, Known limitations). No watch is placed on the file. */
static void directory_watch_alone(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    struct watch_mark mark;
    settle(pw);
    assert_true(path_watch_cover(pw, "a/b/f.bin", false, &mark));
    assert_int_equal(mark.file_wd, -1);
    assert_int_equal(path_watch_count(pw), 3); /* root, a, a/b */

    write_file(t, "a/b/f.bin", "more", O_APPEND);
    expect_moved(pw, &mark, false);
    assert_int_equal(fchmodat(t->root_fd, "a/b/f.bin", 0600, 0), 0);
    expect_moved(pw, &mark, false);
    int fd = openat(t->root_fd, "a/b/f.bin", O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1), 0);
    close(fd);
    expect_moved(pw, &mark, false);
    write_file(t, "a/b/g.bin", "a sibling", O_APPEND);
    settle(pw);
    assert_true(path_watch_unchanged(pw, &mark));
    write_file(t, "a/b/new.bin", "x", O_TRUNC);
    settle(pw);
    path_watch_remark(pw, &mark);
    assert_int_equal(renameat(t->root_fd, "a/b/new.bin", t->root_fd, "a/b/f.bin"), 0);
    expect_moved(pw, &mark, false);

    char alias[128];
    snprintf(alias, sizeof alias, "%s/late.bin", t->outside);
    assert_int_equal(linkat(t->root_fd, "a/b/f.bin", AT_FDCWD, alias, 0), 0);
    settle(pw);
    path_watch_remark(pw, &mark);
    fd = open(alias, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "unseen", 6), 6);
    close(fd);
    settle(pw);
    assert_true(path_watch_unchanged(pw, &mark)); /* the documented gap */
    unlink(alias);
    path_watch_release(pw, &mark);
    assert_int_equal(path_watch_count(pw), 3);
    path_watch_destroy(pw);
}

/* A directory on the path renamed, changed in mode or deleted moves the layout: the mark's
 * watches may no longer be the path's. */
static void directory_changes_move_the_layout(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    struct watch_mark mark = cover(pw, "a/b/f.bin");
    assert_int_equal(renameat(t->root_fd, "a/b", t->root_fd, "a/c"), 0);
    expect_moved(pw, &mark, true);
    struct watch_mark none;
    assert_false(path_watch_cover(pw, "a/b/f.bin", true, &none)); /* gone */
    assert_int_equal(none.layout, 0);
    path_watch_release(pw, &mark);

    mark = cover(pw, "a/c/f.bin");
    assert_int_equal(fchmodat(t->root_fd, "a", 0700, 0), 0);
    expect_moved(pw, &mark, true);
    path_watch_release(pw, &mark);

    mark = cover(pw, "a/c/f.bin");
    assert_int_equal(unlinkat(t->root_fd, "a/c/f.bin", 0), 0);
    assert_int_equal(unlinkat(t->root_fd, "a/c/g.bin", 0), 0);
    assert_int_equal(unlinkat(t->root_fd, "a/c", AT_REMOVEDIR), 0);
    expect_moved(pw, &mark, true);
    path_watch_release(pw, &mark);
    path_watch_destroy(pw);
}

/* Paths through a symlinked directory, missing paths and overlong paths are not covered, and
 * leave the mark empty. */
static void what_cannot_be_covered(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    struct watch_mark mark;
    assert_int_equal(symlinkat("a", t->root_fd, "link"), 0);
    assert_false(path_watch_cover(pw, "link/b/f.bin", true, &mark));
    assert_int_equal(mark.layout, 0);
    assert_false(path_watch_cover(pw, "a/missing/f.bin", true, &mark));
    assert_int_equal(mark.layout, 0);
    assert_false(path_watch_cover(pw, "a/b/missing.bin", true, &mark));
    assert_int_equal(mark.layout, 0);
    char longpath[5000];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    assert_false(path_watch_cover(pw, longpath, true, &mark));
    assert_int_equal(mark.layout, 0);
    path_watch_release(pw, &mark); /* safe on an empty mark */
    /* a final symlink is watched as the link itself: the caller's lstat tells it apart */
    assert_int_equal(symlinkat("b/f.bin", t->root_fd, "a/flink"), 0);
    mark = cover(pw, "a/flink");
    path_watch_release(pw, &mark);
    path_watch_destroy(pw);
}

/* Past max_watches (at least 16), every watch is dropped and the layout moves; the paths in use
 * are watched again on their next cover. */
static void cap_on_watches(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 16);
    struct watch_mark marks[13];
    marks[0] = cover(pw, "a/b/f.bin"); /* root, a, a/b, f.bin */
    char rel[32];
    for (int i = 1; i < 13; i++) {
        snprintf(rel, sizeof rel, "a/b/h%02d.bin", i);
        write_file(t, rel, "x", O_TRUNC);
        marks[i] = cover(pw, rel);
    }
    assert_int_equal(path_watch_count(pw), 16);
    write_file(t, "a/b/h13.bin", "x", O_TRUNC);
    settle(pw);
    assert_true(path_watch_unchanged(pw, &marks[0]));

    struct watch_mark mark;
    assert_false(path_watch_cover(pw, "a/b/h13.bin", true, &mark)); /* a 17th: all dropped */
    assert_int_equal(mark.layout, 0);
    expect_moved(pw, &marks[0], true);
    assert_int_equal(path_watch_count(pw), 1); /* the root again */
    mark = cover(pw, "a/b/h13.bin");
    assert_int_equal(path_watch_count(pw), 4);
    for (int i = 0; i < 13; i++) /* their watches are gone already: nothing to drop */
        path_watch_release(pw, &marks[i]);
    assert_int_equal(path_watch_count(pw), 4);
    path_watch_release(pw, &mark);
    path_watch_destroy(pw);
}

/* At the cap, a cover that needs no new watch is no reason to drop the others: a path whose
 * watches are all in place is covered, and one that cannot be watched fails, without a reset. */
static void cap_counts_only_new_watches(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 16);
    struct watch_mark marks[13];
    marks[0] = cover(pw, "a/b/f.bin"); /* root, a, a/b, f.bin */
    char rel[32];
    for (int i = 1; i < 13; i++) {
        snprintf(rel, sizeof rel, "a/b/h%02d.bin", i);
        write_file(t, rel, "x", O_TRUNC);
        marks[i] = cover(pw, rel);
    }
    assert_int_equal(symlinkat("a", t->root_fd, "link"), 0);
    settle(pw);
    assert_int_equal(path_watch_count(pw), 16);
    uint64_t layout = path_watch_layout(pw);

    struct watch_mark again = cover(pw, "a/b/f.bin"); /* all in place */
    struct watch_mark none;
    assert_false(path_watch_cover(pw, "link/b/f.bin", true, &none));
    assert_false(path_watch_cover(pw, "a/b/missing.bin", true, &none));
    settle(pw);
    assert_int_equal(path_watch_count(pw), 16);
    assert_int_equal(path_watch_layout(pw), layout);
    assert_true(path_watch_unchanged(pw, &marks[0]));
    assert_true(path_watch_unchanged(pw, &again));
    path_watch_release(pw, &again);
    assert_int_equal(path_watch_count(pw), 16); /* marks[0] still holds f.bin's watch */
    for (int i = 0; i < 13; i++)
        path_watch_release(pw, &marks[i]);
    settle(pw);
    assert_int_equal(path_watch_count(pw), 3);
    path_watch_destroy(pw);
}

/* The last release of a mark drops the file's own watch; directories stay watched. */
static void release_drops_the_file_watch(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    struct watch_mark mark = cover(pw, "a/b/f.bin");
    settle(pw);
    assert_int_equal(path_watch_count(pw), 4);
    path_watch_release(pw, &mark);
    assert_int_equal(mark.layout, 0); /* emptied */
    settle(pw);
    assert_int_equal(path_watch_count(pw), 3);
    path_watch_release(pw, &mark); /* again: nothing */
    settle(pw);
    assert_int_equal(path_watch_count(pw), 3);
    /* covered again: watched again */
    mark = cover(pw, "a/b/f.bin");
    assert_int_equal(path_watch_count(pw), 4);
    path_watch_release(pw, &mark);
    settle(pw);
    assert_int_equal(path_watch_count(pw), 3);
    path_watch_destroy(pw);
}

/* Two marks on one file, by the same path covered twice or by two of its names, hold its watch
 * until both are released. */
static void two_marks_hold_the_file_watch(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    struct watch_mark m1 = cover(pw, "a/b/f.bin");
    struct watch_mark m2 = cover(pw, "a/b/f.bin");
    assert_int_equal(path_watch_count(pw), 4);
    path_watch_release(pw, &m1);
    settle(pw);
    assert_int_equal(path_watch_count(pw), 4);
    write_file(t, "a/b/f.bin", "more", O_APPEND); /* the watch is still there and working */
    expect_moved(pw, &m2, false);
    path_watch_release(pw, &m2);
    settle(pw);
    assert_int_equal(path_watch_count(pw), 3);

    /* a second name of the file, in another watched directory: the same watch */
    assert_int_equal(linkat(t->root_fd, "a/b/f.bin", t->root_fd, "a/alias.bin", 0), 0);
    m1 = cover(pw, "a/b/f.bin");
    m2 = cover(pw, "a/alias.bin");
    assert_int_equal(m1.file_wd, m2.file_wd);
    assert_int_equal(path_watch_count(pw), 4);
    path_watch_release(pw, &m2);
    settle(pw);
    assert_int_equal(path_watch_count(pw), 4);
    path_watch_release(pw, &m1);
    settle(pw);
    assert_int_equal(path_watch_count(pw), 3);
    path_watch_destroy(pw);
}

/* A root that cannot be watched (here: no such descriptor) gives no path_watch: mmapd then
 * stats every path. */
/* The watcher thread alone takes a change in, with nobody catching up. */
static void watcher_thread_takes_events_in(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    struct watch_mark mark = cover(pw, "a/b/f.bin");
    write_file(t, "a/b/f.bin", "more", O_APPEND);
    struct timespec nap = {0, 1000000};
    for (int i = 0; i < 5000 && path_watch_unchanged(pw, &mark); i++)
        nanosleep(&nap, NULL);
    assert_false(path_watch_unchanged(pw, &mark));
    path_watch_release(pw, &mark);
    path_watch_destroy(pw);
}

/* Strict: a lookup right after a change's system call returned sees it, every time (the
 * watcher thread alone, woken by the kernel, is usually later than the next instruction). */
static void strict_lookup_sees_every_change(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch_mode(t, 64, true);
    struct watch_mark mark = cover(pw, "a/b/f.bin");
    int missed = 0;
    for (int i = 0; i < 200; i++) {
        write_file(t, "a/b/f.bin", "+", O_APPEND);
        path_watch_before_lookup(pw);
        missed += path_watch_unchanged(pw, &mark);
        path_watch_remark(pw, &mark);
    }
    assert_int_equal(missed, 0);
    path_watch_release(pw, &mark);
    path_watch_destroy(pw);
}

static void unwatchable_root(void **state)
{
    (void)state;
    errno = 0;
    assert_null(path_watch_create(-1, 64, true));
    assert_int_not_equal(errno, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(quiet_tree_keeps_its_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(file_changes_move_the_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(sibling_changes_leave_the_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(write_through_a_link_outside_the_root, setup, teardown),
        cmocka_unit_test_setup_teardown(directory_watch_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(directory_changes_move_the_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(what_cannot_be_covered, setup, teardown),
        cmocka_unit_test_setup_teardown(cap_on_watches, setup, teardown),
        cmocka_unit_test_setup_teardown(cap_counts_only_new_watches, setup, teardown),
        cmocka_unit_test_setup_teardown(release_drops_the_file_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(two_marks_hold_the_file_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(watcher_thread_takes_events_in, setup, teardown),
        cmocka_unit_test_setup_teardown(strict_lookup_sees_every_change, setup, teardown),
        cmocka_unit_test(unwatchable_root),
    };
    return cmocka_run_group_tests_name("path_watch", tests, NULL, NULL);
}
