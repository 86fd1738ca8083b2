/* test_listing_query.c - the query of directory listings (listing/listing_query.h):
 * defaults, each parameter, decoding once, and the named error of each bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listing/listing_query.h"

static struct listing_query q; /* 4 KiB: not on cmocka's stack */

static void expect_ok(const char *query)
{
    struct query_error err = {{0}, NULL};
    bool ok = listing_query_parse(query, &q, &err);
    if (!ok)
        print_error("'%s': refused: %s %s\n", query ? query : "(null)", err.param, err.reason);
    assert_true(ok);
}

static void expect_error(const char *query, const char *param, const char *reason)
{
    struct query_error err = {{0}, NULL};
    bool ok = listing_query_parse(query, &q, &err);
    if (ok || strcmp(err.param, param) != 0 || strcmp(err.reason, reason) != 0)
        print_error("'%s': got %s '%s' '%s', expected '%s' '%s'\n", query,
                    ok ? "ok" : "error", ok ? "" : err.param, ok ? "" : err.reason, param,
                    reason);
    assert_false(ok);
    assert_string_equal(err.param, param);
    assert_string_equal(err.reason, reason);
}

static void test_defaults(void **state)
{
    (void)state;
    const char *empty[] = {NULL, "", "&", "&&&", "&recursive=0&"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        expect_ok(empty[i]);
        assert_false(q.recursive);
        assert_int_equal(q.limit, LISTING_DEFAULT_LIMIT);
        assert_false(q.has_after);
    }
}

static void test_values(void **state)
{
    (void)state;
    expect_ok("recursive=1");
    assert_true(q.recursive);
    expect_ok("recursive=%31"); /* decoded once, as /sample's query */
    assert_true(q.recursive);
    expect_ok("limit=1");
    assert_int_equal(q.limit, 1);
    expect_ok("limit=10000");
    assert_int_equal(q.limit, 10000);
    expect_ok("limit=000000000000000000000000000000000000042");
    assert_int_equal(q.limit, 42);
    expect_ok("limit=%31%30");
    assert_int_equal(q.limit, 10);
    expect_ok("after=f00042&limit=5&recursive=0");
    assert_true(q.has_after);
    assert_string_equal(q.after, "f00042");
    assert_int_equal(q.after_len, 6);
    assert_int_equal(q.limit, 5);
}

/* The cursor is any bytes but NUL, decoded exactly once; '+' is a plus sign. */
static void test_after_decoding(void **state)
{
    (void)state;
    expect_ok("after=a%20b%2Bc+d%26e%3Df%25g");
    assert_string_equal(q.after, "a b+c+d&e=f%g");
    expect_ok("after=a%2520b");
    assert_string_equal(q.after, "a%20b");
    expect_ok("after=bad%FF%fe.bin");
    assert_string_equal(q.after, "bad\xff\xfe.bin");
    assert_int_equal(q.after_len, 9);
    expect_ok("after=..");
    assert_string_equal(q.after, ".."); /* only compared, never opened */
    expect_ok("after=.hidden");
    expect_ok("recursive=1&after=sub%2Fdeeper/x");
    assert_string_equal(q.after, "sub/deeper/x");
    expect_ok("after=sub/x&recursive=1"); /* the order of parameters does not matter */
    expect_ok("after=a=b");                 /* split at the first '=' */
    assert_string_equal(q.after, "a=b");
}

static void test_after_length(void **state)
{
    (void)state;
    size_t n = LISTING_MAX_AFTER;
    char *query = malloc(3 * (n + 1) + 16);
    assert_non_null(query);
    strcpy(query, "after=");
    memset(query + 6, 'x', n);
    query[6 + n] = '\0';
    expect_ok(query);
    assert_int_equal(q.after_len, n);
    strcat(query, "x");
    expect_error(query, "after", "too long");
    /* the bound is on decoded bytes */
    strcpy(query, "after=");
    for (size_t i = 0; i < n; i++)
        memcpy(query + 6 + 3 * i, "%41", 3);
    query[6 + 3 * n] = '\0';
    expect_ok(query);
    assert_int_equal(q.after_len, n);
    assert_int_equal(q.after[n - 1], 'A');
    free(query);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("limit=0", "limit", "must be > 0");
    expect_error("limit=00", "limit", "must be > 0");
    expect_error("limit=10001", "limit", "must be at most 10000");
    expect_error("limit=99999999999999999999999999999", "limit", "must be at most 10000");
    expect_error("limit=-1", "limit", "not a number");
    expect_error("limit=+5", "limit", "not a number");
    expect_error("limit=5x", "limit", "not a number");
    expect_error("limit=0x10", "limit", "not a number");
    expect_error("limit=%205", "limit", "not a number");
    expect_error("limit=1e3", "limit", "not a number");
    expect_error("limit=%3", "limit", "bad percent-encoding");
    expect_error("limit", "limit", "empty value");
    expect_error("limit=", "limit", "empty value");
    expect_error("limit=5&limit=5", "limit", "repeated");
    expect_error("recursive=2", "recursive", "must be 0 or 1");
    expect_error("recursive=true", "recursive", "must be 0 or 1");
    expect_error("recursive=01", "recursive", "must be 0 or 1");
    expect_error("recursive", "recursive", "empty value");
    expect_error("recursive=1&recursive=1", "recursive", "repeated");
    expect_error("after=", "after", "empty value");
    expect_error("after", "after", "empty value");
    expect_error("after=a&after=b", "after", "repeated");
    expect_error("after=a%00b", "after", "bad percent-encoding");
    expect_error("after=a%zz", "after", "bad percent-encoding");
    expect_error("after=a%4", "after", "bad percent-encoding");
    expect_error("after=sub/x", "after", "contains '/': a path needs recursive=1");
    expect_error("after=sub%2Fx&recursive=0", "after", "contains '/': a path needs recursive=1");
    expect_error("foo=1", "foo", "unknown parameter");
    expect_error("RECURSIVE=1", "RECURSIVE", "unknown parameter");
    expect_error("Limit=5", "Limit", "unknown parameter");
    expect_error("=5", "", "empty parameter name");
    expect_error("%zz=1", "%zz", "bad percent-encoding");
    expect_error("%6c%69mit=0", "limit", "must be > 0"); /* names are decoded too */
    expect_error("a%20b%0a=1", "a?b?", "unknown parameter");
    expect_error("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=1",
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...", "unknown parameter");
    /* the first problem wins, left to right */
    expect_error("limit=0&foo=1", "limit", "must be > 0");
    expect_error("foo=1&limit=0", "foo", "unknown parameter");
    expect_error("after=a/b&limit=0", "limit", "must be > 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_after_decoding),
        cmocka_unit_test(test_after_length),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("listing_query", tests, NULL, NULL);
}
