/* test_path_watch.c - inotify watches on the paths of cached files (handlers/path_watch.h),
 * on a real directory tree in /tmp: which changes move which generation, covers through
 * symlinks and missing paths, and the cap on watches. */
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

#include "handlers/path_watch.h"

struct tree {
    char dir[64];
    int root_fd;
};

static void write_file(const struct tree *t, const char *rel, const char *text, int flags)
{
    int fd = openat(t->root_fd, rel, O_WRONLY | O_CREAT | flags, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* root/a/b/f.bin, root/a/b/g.bin */
static int setup(void **state)
{
    struct tree *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/mmapd-test-path-watch-XXXXXX");
    if (!mkdtemp(t->dir))
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
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    close(t->root_fd);
    int rc = system(cmd);
    free(t);
    return rc == 0 ? 0 : -1;
}

static struct path_watch *watch(const struct tree *t, size_t max)
{
    struct path_watch *pw = path_watch_create(t->root_fd, max);
    if (!pw) {
        print_message("no inotify here: skipping\n");
        skip();
    }
    return pw;
}

static void quiet_tree_keeps_its_generations(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    struct path_generations g0 = path_watch_read(pw);
    assert_true(g0.any != 0 && g0.layout != 0);
    assert_true(path_watch_cover(pw, "a/b/f.bin"));
    assert_int_equal(path_watch_count(pw), 4); /* root, a, a/b, f.bin */
    assert_true(path_watch_cover(pw, "a/b/f.bin")); /* again: the same watches */
    assert_int_equal(path_watch_count(pw), 4);
    struct path_generations g1 = path_watch_read(pw);
    assert_int_equal(g1.any, g0.any);
    assert_int_equal(g1.layout, g0.layout);
    /* reading a file is no change */
    char buf[8];
    int fd = openat(t->root_fd, "a/b/f.bin", O_RDONLY);
    assert_true(fd >= 0);
    assert_true(read(fd, buf, sizeof buf) > 0);
    close(fd);
    assert_int_equal(path_watch_read(pw).any, g0.any);
    path_watch_destroy(pw);
}

/* Reads the generations after a change: `any` moved, and `layout` moved if `layout_too`,
 * else stayed. The new generations replace *g. */
static void expect_moved(struct path_watch *pw, struct path_generations *g, bool layout_too)
{
    struct path_generations h = path_watch_read(pw);
    assert_true(h.any > g->any);
    if (layout_too)
        assert_true(h.layout > g->layout);
    else
        assert_int_equal(h.layout, g->layout);
    *g = h;
}

/* Changes to a file or next to it move `any` only: the path still leads through the same
 * watched directories. */
static void file_changes_move_any(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    assert_true(path_watch_cover(pw, "a/b/f.bin"));
    struct path_generations g = path_watch_read(pw);

    write_file(t, "a/b/f.bin", "more", O_APPEND); /* written in place */
    expect_moved(pw, &g, false);
    assert_int_equal(fchmodat(t->root_fd, "a/b/f.bin", 0600, 0), 0); /* attributes */
    expect_moved(pw, &g, false);
    write_file(t, "a/b/new.bin", "x", O_TRUNC); /* a name created next to it */
    expect_moved(pw, &g, false);

    assert_int_equal(renameat(t->root_fd, "a/b/new.bin", t->root_fd, "a/b/f.bin"), 0);
    assert_true(path_watch_read(pw).any > g.any); /* replaced by rename */
    path_watch_destroy(pw);
}

/* A write through a hard link in a directory that is not watched: the file's own watch. */
static void write_through_another_name(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    assert_int_equal(mkdirat(t->root_fd, "elsewhere", 0755), 0);
    assert_int_equal(linkat(t->root_fd, "a/b/f.bin", t->root_fd, "elsewhere/alias.bin", 0), 0);
    assert_true(path_watch_cover(pw, "a/b/f.bin"));
    struct path_generations g = path_watch_read(pw);
    write_file(t, "elsewhere/alias.bin", "grown", O_APPEND);
    assert_true(path_watch_read(pw).any > g.any);
    path_watch_destroy(pw);
}

/* A directory on the path renamed or deleted moves `layout` too. */
static void directory_changes_move_layout(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    assert_true(path_watch_cover(pw, "a/b/f.bin"));
    struct path_generations g = path_watch_read(pw);
    assert_int_equal(renameat(t->root_fd, "a/b", t->root_fd, "a/c"), 0);
    expect_moved(pw, &g, true);
    assert_false(path_watch_cover(pw, "a/b/f.bin")); /* gone */
    assert_true(path_watch_cover(pw, "a/c/f.bin"));
    g = path_watch_read(pw);
    assert_int_equal(unlinkat(t->root_fd, "a/c/f.bin", 0), 0);
    assert_int_equal(unlinkat(t->root_fd, "a/c/g.bin", 0), 0);
    assert_int_equal(unlinkat(t->root_fd, "a/c", AT_REMOVEDIR), 0);
    expect_moved(pw, &g, true);
    path_watch_destroy(pw);
}

/* Paths through a symlinked directory, missing paths and overlong paths are not covered. */
static void what_cannot_be_covered(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 64);
    assert_int_equal(symlinkat("a", t->root_fd, "link"), 0);
    assert_false(path_watch_cover(pw, "link/b/f.bin"));
    assert_false(path_watch_cover(pw, "a/missing/f.bin"));
    assert_false(path_watch_cover(pw, "a/b/missing.bin"));
    char longpath[5000];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    assert_false(path_watch_cover(pw, longpath));
    /* a final symlink is watched as the link itself: the caller's lstat tells it apart */
    assert_int_equal(symlinkat("b/f.bin", t->root_fd, "a/flink"), 0);
    assert_true(path_watch_cover(pw, "a/flink"));
    path_watch_destroy(pw);
}

/* Past max_watches, every watch is dropped and both generations move; the paths in use are
 * watched again on their next cover. */
static void cap_on_watches(void **state)
{
    struct tree *t = *state;
    struct path_watch *pw = watch(t, 5);
    assert_true(path_watch_cover(pw, "a/b/f.bin")); /* 4 watches */
    assert_true(path_watch_cover(pw, "a/b/g.bin")); /* 5 */
    struct path_generations g = path_watch_read(pw);
    write_file(t, "a/b/h.bin", "three", O_TRUNC);
    assert_false(path_watch_cover(pw, "a/b/h.bin")); /* a 6th: all dropped */
    expect_moved(pw, &g, true);
    assert_int_equal(path_watch_count(pw), 1); /* the root again */
    assert_true(path_watch_cover(pw, "a/b/h.bin"));
    assert_int_equal(path_watch_count(pw), 4);
    path_watch_destroy(pw);
}

/* A root that cannot be watched (here: no such descriptor) gives no path_watch: mmapd then
 * stats every path. */
static void unwatchable_root(void **state)
{
    (void)state;
    errno = 0;
    assert_null(path_watch_create(-1, 64));
    assert_int_not_equal(errno, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(quiet_tree_keeps_its_generations, setup, teardown),
        cmocka_unit_test_setup_teardown(file_changes_move_any, setup, teardown),
        cmocka_unit_test_setup_teardown(write_through_another_name, setup, teardown),
        cmocka_unit_test_setup_teardown(directory_changes_move_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(what_cannot_be_covered, setup, teardown),
        cmocka_unit_test_setup_teardown(cap_on_watches, setup, teardown),
        cmocka_unit_test(unwatchable_root),
    };
    return cmocka_run_group_tests_name("path_watch", tests, NULL, NULL);
}
