/* test_listing_walk.c - listing_walk_collect() (handlers/listing.h) over a real tree in /tmp:
 * what is listed (the /files rules), order, recursion, symlink loops, pages and their
 * cursor, and the bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/etag.h"
#include "listing/listing_query.h"
#include "listing/listing_walk.h"

struct fixture {
    char top[64];   /* holds root/ and the things outside it */
    char root[80];
    int root_fd;
};

static char long_name[256];

static void put_file(const char *dir, const char *name, const char *data)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
}

static void put_link(const char *dir, const char *name, const char *target)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(symlink(target, path), 0);
}

static void put_dir(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->top, sizeof f->top, "/tmp/mmapd-test-listing-XXXXXX");
    if (!mkdtemp(f->top)) {
        free(f);
        return -1;
    }
    *state = f;
    snprintf(f->root, sizeof f->root, "%s/root", f->top);
    memset(long_name, 'L', 255);
    long_name[255] = '\0';

    put_file(f->top, "outside.txt", "secret\n");
    put_dir(f->top, "outside_dir");
    put_file(f->top, "outside_dir/x.txt", "x\n");

    mkdir(f->root, 0755);
    put_file(f->root, "b.txt", "bbbbb");
    put_file(f->root, "a.txt", "a\n");
    put_file(f->root, "z z.bin", "");
    put_file(f->root, ".hidden", "h\n");
    put_dir(f->root, ".hdir");
    put_file(f->root, ".hdir/x", "x\n");
    put_dir(f->root, "sub");
    put_file(f->root, "sub/n.txt", "nested\n");
    put_link(f->root, "sub/up_file", "../a.txt"); /* leaves sub/, stays in the root */
    put_dir(f->root, "sub/deeper");
    put_file(f->root, "sub/deeper/d.txt", "deep\n");
    put_link(f->root, "link_in", "sub/n.txt");
    put_link(f->root, "link_dir", "sub");
    put_link(f->root, "link_out", "../outside.txt");
    put_link(f->root, "link_out_dir", "../outside_dir");
    put_link(f->root, "link_abs", "/etc/passwd");
    put_link(f->root, "broken", "nowhere");
    put_link(f->root, "self", "self");
    put_dir(f->root, "loop");
    put_link(f->root, "loop/back", ".."); /* the root again: a cycle */
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/fifo", f->root);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    put_file(f->root, long_name, "long\n");

    f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return f->root_fd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->root_fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->top);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static const struct listing_entry *find(const struct listing *l, const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->entries[i].name, name) == 0)
            return &l->entries[i];
    return NULL;
}

/* Collects and checks the names, in order, against the NULL-terminated `want`. */
static void expect_names(struct fixture *f, const char *rel, struct listing_options opt,
                         const char *const *want, bool truncated)
{
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, rel, &opt, &l), 0);
    size_t n = 0;
    while (want[n])
        n++;
    bool same = l.count == n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(l.entries[i].name, want[i]) == 0;
    if (!same) {
        print_error("listing of '%s': got", rel);
        for (size_t i = 0; i < l.count; i++)
            print_error(" '%s'", l.entries[i].name);
        print_error("\n");
    }
    assert_true(same);
    assert_int_equal(l.truncated, truncated);
    listing_walk_free(&l);
}

static struct listing_options opts(bool recursive, bool dotfiles)
{
    return (struct listing_options){.recursive = recursive, .allow_dotfiles = dotfiles,
                                    .limit = LISTING_MAX_LIMIT, .after = NULL,
                                    .max_depth = LISTING_MAX_DEPTH,
                                    .max_scan = LISTING_MAX_SCAN};
}

static void test_root_lists_what_files_serves(void **state)
{
    struct fixture *f = *state;
    const char *want[] = {long_name, "a.txt", "b.txt", "link_dir", "link_in", "loop", "sub",
                          "z z.bin", NULL};
    expect_names(f, "", opts(false, false), want, false);
}

static void test_dotfiles_allowed(void **state)
{
    struct fixture *f = *state;
    const char *want[] = {".hdir", ".hidden", long_name, "a.txt", "b.txt", "link_dir",
                          "link_in", "loop", "sub", "z z.bin", NULL};
    expect_names(f, "", opts(false, true), want, false);
}

static void test_entry_fields(void **state)
{
    struct fixture *f = *state;
    struct listing_options opt = opts(false, false);
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, "", &opt, &l), 0);

    struct stat st;
    assert_int_equal(fstatat(f->root_fd, "b.txt", &st, 0), 0);
    const struct listing_entry *b = find(&l, "b.txt");
    assert_non_null(b);
    assert_false(b->dir);
    assert_int_equal(b->size, 5);
    assert_int_equal(b->mtime.tv_sec, st.st_mtim.tv_sec);
    assert_int_equal(b->mtime.tv_nsec, st.st_mtim.tv_nsec);
    char etag[ETAG_LEN];
    etag_format(&st, etag);
    assert_string_equal(b->etag, etag);
    assert_true(b->resident_known);
    assert_int_equal(b->resident, 5); /* just written: cached, clamped to the size */

    /* a symlink inside the root is the file it points to, as /files serves it */
    assert_int_equal(fstatat(f->root_fd, "sub/n.txt", &st, 0), 0);
    etag_format(&st, etag);
    const struct listing_entry *link = find(&l, "link_in");
    assert_non_null(link);
    assert_false(link->dir);
    assert_int_equal(link->size, 7);
    assert_string_equal(link->etag, etag);

    const struct listing_entry *d = find(&l, "link_dir");
    assert_non_null(d);
    assert_true(d->dir);
    assert_int_equal(d->size, 0);
    assert_string_equal(d->etag, "");
    assert_true(d->resident_known);
    assert_int_equal(d->resident, 0);

    const struct listing_entry *e = find(&l, "z z.bin");
    assert_non_null(e);
    assert_int_equal(e->size, 0);
    assert_int_equal(e->resident, 0);
    listing_walk_free(&l);
}

static void test_subdirectory(void **state)
{
    struct fixture *f = *state;
    const char *want[] = {"deeper", "n.txt", "up_file", NULL};
    expect_names(f, "sub", opts(false, false), want, false);
    expect_names(f, "link_dir", opts(false, false), want, false);
    const char *deeper[] = {"d.txt", NULL};
    expect_names(f, "sub/deeper", opts(false, false), deeper, false);
    expect_names(f, "sub//deeper", opts(false, false), deeper, false);
    const char *loop[] = {"back", NULL};
    expect_names(f, "loop", opts(false, false), loop, false);
}

static void test_recursive(void **state)
{
    struct fixture *f = *state;
    /* bytewise order of whole relative names: ' ' < '.' < '/' < letters */
    const char *want[] = {long_name, "a.txt", "b.txt", "link_dir", "link_dir/deeper",
                          "link_dir/deeper/d.txt", "link_dir/n.txt", "link_dir/up_file",
                          "link_in", "loop", "loop/back", "sub", "sub/deeper",
                          "sub/deeper/d.txt", "sub/n.txt", "sub/up_file", "z z.bin", NULL};
    expect_names(f, "", opts(true, false), want, false);
    const char *sub[] = {"deeper", "deeper/d.txt", "n.txt", "up_file", NULL};
    expect_names(f, "sub", opts(true, false), sub, false);
}

static void test_recursive_dotfiles(void **state)
{
    struct fixture *f = *state;
    struct listing_options opt = opts(true, true);
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, "", &opt, &l), 0);
    assert_non_null(find(&l, ".hdir/x"));
    assert_non_null(find(&l, ".hidden"));
    listing_walk_free(&l);
}

/* All the names of a listing, page by page with `limit` from the cursor `after` on, each
 * page's names ascending and after the previous page's "next"; returns how many pages. */
static size_t collect_pages(struct fixture *f, const char *rel, struct listing_options opt,
                            size_t limit, char ***names, size_t *count)
{
    size_t pages = 0, n = 0, cap = 64;
    char **all = malloc(cap * sizeof *all);
    assert_non_null(all);
    char *cursor = opt.after ? strdup(opt.after) : NULL;
    opt.limit = limit;
    for (;;) {
        opt.after = cursor;
        struct listing l;
        assert_int_equal(listing_walk_collect(f->root_fd, rel, &opt, &l), 0);
        pages++;
        assert_true(l.count <= limit);
        assert_false(l.truncated);
        for (size_t i = 0; i < l.count; i++) {
            /* after the cursor, and after everything before (all pages ascending) */
            if (cursor)
                assert_true(strcmp(l.entries[i].name, cursor) > 0);
            if (n > 0)
                assert_true(strcmp(all[n - 1], l.entries[i].name) < 0);
            if (n == cap)
                assert_non_null(all = realloc(all, (cap *= 2) * sizeof *all));
            all[n++] = l.entries[i].name;
            l.entries[i].name = NULL;
        }
        if (l.next && l.count > 0) /* the cursor is the last name taken: listed or dropped */
            assert_true(strcmp(l.next, all[n - 1]) >= 0);
        free(cursor);
        cursor = l.next;
        l.next = NULL;
        listing_walk_free(&l);
        if (!cursor)
            break;
        assert_true(pages < 1000);
    }
    *names = all;
    *count = n;
    return pages;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Every page size gives the whole listing, each name once, in order. The root holds five
 * names that are taken into pages and dropped there (broken, link_abs, link_out,
 * link_out_dir, self): a page of at least 13 (recursive: 22) names is the only one. */
static void test_pages(void **state)
{
    struct fixture *f = *state;
    for (int recursive = 0; recursive <= 1; recursive++) {
        struct listing_options opt = opts(recursive, false);
        struct listing whole;
        assert_int_equal(listing_walk_collect(f->root_fd, "", &opt, &whole), 0);
        assert_int_equal(whole.count, recursive ? 17 : 8);
        assert_null(whole.next);
        size_t taken = whole.count + 5;
        for (size_t limit = 1; limit <= taken + 1; limit++) {
            char **names;
            size_t n;
            size_t pages = collect_pages(f, "", opt, limit, &names, &n);
            assert_int_equal(n, whole.count);
            for (size_t i = 0; i < n; i++)
                assert_string_equal(names[i], whole.entries[i].name);
            assert_int_equal(pages, (taken + limit - 1) / limit);
            free_names(names, n);
        }
        listing_walk_free(&whole);
    }
}

/* The left-out entries (a broken link, links out of the root, a link loop) are taken into
 * pages and dropped there: the page is short, "next" moves past them. */
static void test_dropped_entries_move_the_cursor(void **state)
{
    struct fixture *f = *state;
    put_dir(f->root, "bad");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bad", f->root);
    put_link(dir, "a_broken", "nowhere");
    put_link(dir, "b_out", "../../outside.txt");
    put_link(dir, "c_self", "c_self");
    put_file(dir, "d.txt", "d\n");
    struct listing_options opt = opts(false, false);
    opt.limit = 3;
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, "bad", &opt, &l), 0);
    assert_int_equal(l.count, 0); /* three names taken, none of them served */
    assert_non_null(l.next);
    assert_string_equal(l.next, "c_self");
    opt.after = "c_self";
    listing_walk_free(&l);
    assert_int_equal(listing_walk_collect(f->root_fd, "bad", &opt, &l), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.entries[0].name, "d.txt");
    assert_null(l.next);
    listing_walk_free(&l);
}

/* A cursor that names nothing (a deleted file) starts the page after where it would be. */
static void test_cursor_names_nothing(void **state)
{
    struct fixture *f = *state;
    struct listing_options opt = opts(false, false);
    opt.limit = 3; /* broken and link_abs are taken, and dropped */
    const char *after_b[] = {"link_dir", NULL};
    opt.after = "b.txt.deleted";
    expect_names(f, "", opt, after_b, false);
    opt.limit = 2;
    opt.after = "\xff";
    const char *none[] = {NULL};
    expect_names(f, "", opt, none, false);
    opt.after = " ";
    const char *first[] = {long_name, "a.txt", NULL};
    expect_names(f, "", opt, first, false);
    opt.recursive = true;
    opt.after = "sub/deeper/c";
    const char *in_sub[] = {"sub/deeper/d.txt", "sub/n.txt", NULL};
    expect_names(f, "", opt, in_sub, false);
    opt.after = "link_dir/deeper";
    const char *in_link[] = {"link_dir/deeper/d.txt", "link_dir/n.txt", NULL};
    expect_names(f, "", opt, in_link, false);
}

/* A subdirectory whose names all fall before the cursor is not read: with its 50 entries
 * it would exceed the scan bound. */
static void test_recursion_skips_before_the_cursor(void **state)
{
    struct fixture *f = *state;
    put_dir(f->root, "big");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/big", f->root);
    for (int i = 0; i < 50; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%02d", i);
        put_file(dir, name, "");
    }
    struct listing_options opt = opts(true, false);
    opt.max_scan = 40; /* the tree without big/ has 32 entries, with it 82 */
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, "", &opt, &l), 0);
    assert_true(l.truncated);
    listing_walk_free(&l);
    opt.after = "big0"; /* after "big/f49" */
    assert_int_equal(listing_walk_collect(f->root_fd, "", &opt, &l), 0);
    assert_false(l.truncated);
    assert_int_equal(l.count, 14);
    assert_string_equal(l.entries[0].name, "link_dir");
    listing_walk_free(&l);
    opt.after = "big/f47"; /* big/ is read again, from f48 on; then broken, dropped */
    opt.limit = 3;
    const char *want[] = {"big/f48", "big/f49", NULL};
    opt.max_scan = LISTING_MAX_SCAN;
    expect_names(f, "", opt, want, false);
}

/* A directory whose names all come after a full page is not read either, except to learn
 * whether there is a next page at all. */
static void test_recursion_skips_past_the_page(void **state)
{
    struct fixture *f = *state;
    put_dir(f->root, "zz");
    put_dir(f->root, "zz/inner");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/zz/inner", f->root);
    for (int i = 0; i < 50; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%02d", i);
        put_file(dir, name, "");
    }
    struct listing_options opt = opts(true, false);
    opt.limit = 2;
    opt.max_scan = 45; /* 32 entries, zz and inner, and not the 50 in inner/ */
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, "", &opt, &l), 0);
    assert_false(l.truncated);
    assert_int_equal(l.count, 2);
    assert_non_null(l.next);
    assert_string_equal(l.next, "a.txt");
    listing_walk_free(&l);
    /* the last page: zz is read (it might hold a next page), its contents are listed */
    opt.after = "z z.bin";
    opt.max_scan = LISTING_MAX_SCAN;
    const char *last[] = {"zz", "zz/inner", NULL};
    expect_names(f, "", opt, last, false);
    opt.after = "zz/inner/f47";
    opt.limit = 10;
    const char *tail[] = {"zz/inner/f48", "zz/inner/f49", NULL};
    expect_names(f, "", opt, tail, false);
}

/* An empty directory last in the listing makes no empty page after it. */
static void test_no_empty_last_page(void **state)
{
    struct fixture *f = *state;
    put_dir(f->root, "zz_empty");
    struct listing_options opt = opts(true, false);
    opt.limit = 1;
    opt.after = "z z.bin";
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, "", &opt, &l), 0);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.entries[0].name, "zz_empty");
    assert_null(l.next);
    listing_walk_free(&l);
}

static void test_depth_bound(void **state)
{
    struct fixture *f = *state;
    struct listing_options opt = opts(true, false);
    opt.max_depth = 1; /* like a plain listing, but it had directories to enter */
    const char *one[] = {long_name, "a.txt", "b.txt", "link_dir", "link_in", "loop", "sub",
                         "z z.bin", NULL};
    expect_names(f, "", opt, one, true);
    opt.max_depth = 2;
    const char *two[] = {"deeper", "deeper/d.txt", "n.txt", "up_file", NULL};
    expect_names(f, "sub", opt, two, false);
    const char *two_root[] = {long_name, "a.txt", "b.txt", "link_dir", "link_dir/deeper",
                              "link_dir/n.txt", "link_dir/up_file", "link_in", "loop",
                              "loop/back", "sub", "sub/deeper", "sub/n.txt", "sub/up_file",
                              "z z.bin", NULL};
    expect_names(f, "", opt, two_root, true);
    opt.max_depth = 3;
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, "", &opt, &l), 0);
    assert_int_equal(l.count, 17);
    assert_false(l.truncated);
    listing_walk_free(&l);
}

/* A chain deeper than LISTING_MAX_DEPTH is cut at that depth. */
static void test_max_depth_constant(void **state)
{
    struct fixture *f = *state;
    char path[512] = "chain";
    put_dir(f->root, path);
    for (int i = 0; i < LISTING_MAX_DEPTH + 3; i++) {
        strcat(path, "/d");
        put_dir(f->root, path);
    }
    struct listing_options opt = opts(true, false);
    opt.max_depth = 1000; /* capped */
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, "chain", &opt, &l), 0);
    assert_int_equal(l.count, LISTING_MAX_DEPTH);
    assert_true(l.truncated);
    size_t deepest = 0;
    for (size_t i = 0; i < l.count; i++)
        if (strlen(l.entries[i].name) > deepest)
            deepest = strlen(l.entries[i].name);
    assert_int_equal(deepest, 2 * LISTING_MAX_DEPTH - 1); /* "d/d/.../d": 32 segments */
    listing_walk_free(&l);
}

/* Entries left out count against the scan bound, so a directory of many dotfiles cannot
 * make a page read without end. */
static void test_scan_bound(void **state)
{
    struct fixture *f = *state;
    put_dir(f->root, "dots");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/dots", f->root);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, ".%d", i);
        put_file(dir, name, "");
    }
    put_file(dir, "f", "");
    struct listing_options opt = opts(false, false);
    opt.max_scan = 4;
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, "dots", &opt, &l), 0);
    assert_true(l.count <= 1);
    assert_true(l.truncated);
    listing_walk_free(&l);
    opt.max_scan = 21;
    const char *want[] = {"f", NULL};
    expect_names(f, "dots", opt, want, false);
}

static void test_errors(void **state)
{
    struct fixture *f = *state;
    struct listing_options opt = opts(false, false);
    struct listing l;
    assert_int_equal(listing_walk_collect(f->root_fd, "missing", &opt, &l), 404);
    assert_int_equal(l.count, 0);
    assert_int_equal(listing_walk_collect(f->root_fd, "a.txt", &opt, &l), 404);
    assert_int_equal(listing_walk_collect(f->root_fd, "sub/missing/x", &opt, &l), 404);
    assert_int_equal(listing_walk_collect(f->root_fd, "link_out_dir", &opt, &l), 403);
    assert_int_equal(listing_walk_collect(f->root_fd, "/etc", &opt, &l), 403);
    assert_int_equal(listing_walk_collect(f->root_fd, "..", &opt, &l), 403);
    assert_int_equal(listing_walk_collect(f->root_fd, "self", &opt, &l), 403);
    assert_int_equal(listing_walk_collect(f->root_fd, "broken", &opt, &l), 404);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_root_lists_what_files_serves),
        T(test_dotfiles_allowed),
        T(test_entry_fields),
        T(test_subdirectory),
        T(test_recursive),
        T(test_recursive_dotfiles),
        T(test_pages),
        T(test_dropped_entries_move_the_cursor),
        T(test_cursor_names_nothing),
        T(test_recursion_skips_before_the_cursor),
        T(test_recursion_skips_past_the_page),
        T(test_no_empty_last_page),
        T(test_depth_bound),
        T(test_max_depth_constant),
        T(test_scan_bound),
        T(test_errors),
    };
    return cmocka_run_group_tests_name("listing_walk", tests, NULL, NULL);
}
