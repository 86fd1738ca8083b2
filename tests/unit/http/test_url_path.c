/* test_url_path.c - url_path_decode() (http/url_path.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http/url_path.h"

#define OUTSZ 256

/* Decodes into a heap buffer of exactly `outsz` bytes (so ASan sees overruns). */
static enum path_status decode_n(const char *raw, bool dotfiles, size_t outsz, char *copy)
{
    char *out = malloc(outsz);
    assert_non_null(out);
    memset(out, 'Z', outsz);
    enum path_status st = url_path_decode(raw, dotfiles, out, outsz);
    if (copy)
        memcpy(copy, out, outsz);
    free(out);
    return st;
}

static void expect_ok(const char *raw, bool dotfiles, const char *want)
{
    char got[OUTSZ];
    enum path_status st = decode_n(raw, dotfiles, sizeof got, got);
    if (st != PATH_OK)
        print_error("'%s' (dotfiles %d): status %d, expected PATH_OK\n", raw, dotfiles, (int)st);
    assert_int_equal(st, PATH_OK);
    assert_string_equal(got, want);
}

static void expect_status(const char *raw, bool dotfiles, enum path_status want)
{
    enum path_status st = decode_n(raw, dotfiles, OUTSZ, NULL);
    if (st != want)
        print_error("'%s' (dotfiles %d): status %d, expected %d\n", raw, dotfiles, (int)st,
                    (int)want);
    assert_int_equal(st, want);
}

static void test_plain_paths(void **state)
{
    (void)state;
    expect_ok("a.txt", false, "a.txt");
    expect_ok("dir/sub/file.bin", false, "dir/sub/file.bin");
    expect_ok("a..b", false, "a..b");
    expect_ok("file.", false, "file.");
    expect_ok("x/y.", false, "x/y.");
    expect_ok("a+b", false, "a+b"); /* '+' is not a space in a path */
}

static void test_decodes_once(void **state)
{
    (void)state;
    expect_ok("hello%20world.txt", false, "hello world.txt");
    expect_ok("%41%62%63", false, "Abc");
    expect_ok("a%2fb", false, "a/b");
    expect_ok("a%2Fb", false, "a/b");
    expect_ok("%7e", false, "~");
    expect_ok("caf%C3%A9", false, "caf\xc3\xa9");
    expect_ok("%ff", false, "\xff");
    expect_ok("%25", false, "%");
}

static void test_double_encoding_is_literal(void **state)
{
    (void)state;
    expect_ok("%252e", false, "%2e");
    expect_ok("%252e%252e/x", false, "%2e%2e/x");
    expect_ok("a/%252E%252E", false, "a/%2E%2E");
    expect_ok("%252f", false, "%2f");
}

static void test_invalid_escapes(void **state)
{
    (void)state;
    static const char *const bad[] = {"%", "a%", "%2", "a%2", "%zz", "%2g", "%g2", "%%", "%%41",
                                      "a/%x/b", "%-1", "% 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_status(bad[i], false, PATH_BAD_REQUEST);
        expect_status(bad[i], true, PATH_BAD_REQUEST);
    }
}

static void test_nul_byte(void **state)
{
    (void)state;
    expect_status("%00", false, PATH_BAD_REQUEST);
    expect_status("a%00b", false, PATH_BAD_REQUEST);
    expect_status("a.txt%00.png", true, PATH_BAD_REQUEST);
}

static void test_dot_segments_always_forbidden(void **state)
{
    (void)state;
    static const char *const dots[] = {
        ".",   "..",     "./a",   "../a",     "a/./b",  "a/../b",     "a/.",      "a/..",
        "a/b/..", "../../etc/passwd", "a//../b", "./", "../",
    };
    for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++) {
        expect_status(dots[i], false, PATH_FORBIDDEN);
        expect_status(dots[i], true, PATH_FORBIDDEN);
    }
}

static void test_dot_segments_after_decoding(void **state)
{
    (void)state;
    static const char *const dots[] = {
        "%2e",     "%2E",     "%2e%2e",     "%2E%2e",      ".%2e",    "%2e.",
        "a/%2e/b", "a/%2e%2e/b", "%2e%2e/x", "x/%2e%2E",   "..%2fetc", "a%2f..%2fb",
        "a%2f.",   "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    };
    for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++) {
        expect_status(dots[i], false, PATH_FORBIDDEN);
        expect_status(dots[i], true, PATH_FORBIDDEN);
    }
}

static void test_dotfiles(void **state)
{
    (void)state;
    static const char *const dotfiles[] = {".git", ".git/config", "a/.env", "a/.hidden/b",
                                           "...", ".x", "%2ehtaccess", "a%2f.ssh"};
    for (size_t i = 0; i < sizeof dotfiles / sizeof dotfiles[0]; i++)
        expect_status(dotfiles[i], false, PATH_FORBIDDEN);
    expect_ok(".git/config", true, ".git/config");
    expect_ok("a/.env", true, "a/.env");
    expect_ok("...", true, "...");
    expect_ok("%2ehtaccess", true, ".htaccess");
    expect_ok("a%2f.ssh", true, "a/.ssh");
}

static void test_empty(void **state)
{
    (void)state;
    char out[4];
    memset(out, 'Z', sizeof out);
    assert_int_equal(url_path_decode("", false, out, sizeof out), PATH_EMPTY);
    assert_int_equal(url_path_decode("", true, out, sizeof out), PATH_EMPTY);
    assert_int_equal(out[0], '\0');
}

static void test_empty_segments_are_not_dot_segments(void **state)
{
    (void)state;
    expect_ok("a//b", false, "a//b");
    expect_ok("a/", false, "a/");
    expect_ok("/a", false, "/a");
}

static void test_too_long_boundary(void **state)
{
    (void)state;
    char got[8];
    /* outsz 8: seven characters fit, eight do not */
    assert_int_equal(decode_n("abcdefg", false, 8, got), PATH_OK);
    assert_string_equal(got, "abcdefg");
    assert_int_equal(decode_n("abcdefgh", false, 8, NULL), PATH_TOO_LONG);
    /* the limit applies to the decoded length, not the raw one */
    assert_int_equal(decode_n("%41%42%43%44%45%46%47", false, 8, got), PATH_OK);
    assert_string_equal(got, "ABCDEFG");
    assert_int_equal(decode_n("%41%42%43%44%45%46%47%48", false, 8, NULL), PATH_TOO_LONG);
    assert_int_equal(decode_n("a", false, 2, got), PATH_OK);
    assert_string_equal(got, "a");
    assert_int_equal(decode_n("ab", false, 2, NULL), PATH_TOO_LONG);
    assert_int_equal(decode_n("a", false, 1, NULL), PATH_TOO_LONG);
}

static void test_too_long_large(void **state)
{
    (void)state;
    enum { N = 4096 };
    char *raw = malloc(N + 1);
    char *got = malloc(N);
    assert_non_null(raw);
    assert_non_null(got);
    memset(raw, 'a', N - 1);
    raw[N - 1] = '\0';
    assert_int_equal(decode_n(raw, false, N, got), PATH_OK);
    assert_int_equal(strlen(got), N - 1);
    raw[N - 1] = 'a';
    raw[N] = '\0';
    assert_int_equal(decode_n(raw, false, N, NULL), PATH_TOO_LONG);
    free(raw);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_paths),
        cmocka_unit_test(test_decodes_once),
        cmocka_unit_test(test_double_encoding_is_literal),
        cmocka_unit_test(test_invalid_escapes),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_dot_segments_always_forbidden),
        cmocka_unit_test(test_dot_segments_after_decoding),
        cmocka_unit_test(test_dotfiles),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_empty_segments_are_not_dot_segments),
        cmocka_unit_test(test_too_long_boundary),
        cmocka_unit_test(test_too_long_large),
    };
    return cmocka_run_group_tests_name("url_path", tests, NULL, NULL);
}
