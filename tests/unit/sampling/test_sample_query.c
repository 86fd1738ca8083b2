/* test_sample_query.c - the /sample query parser (sampling/sample_query.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/sample_query.h"

#define MAX_RECORDS 4096
#define MAX_BYTES (64u << 20)

/* Parses a heap copy of exactly strlen + 1 bytes, so ASan sees any read past the end. */
static bool parse_with(const char *query, uint64_t max_records, uint64_t max_bytes,
                       struct sample_query *q, struct query_error *err)
{
    char *copy = query ? strdup(query) : NULL;
    assert_true(!query || copy);
    memset(err, 0, sizeof *err);
    bool ok = sample_query_parse(copy, max_records, max_bytes, q, err);
    free(copy);
    return ok;
}

static struct sample_query parse_ok(const char *query)
{
    struct sample_query q;
    struct query_error err;
    if (!parse_with(query, MAX_RECORDS, MAX_BYTES, &q, &err)) {
        print_error("'%s': %s: %s\n", query, err.param, err.reason);
        fail();
    }
    return q;
}

static void expect_bad_with(const char *query, uint64_t max_records, uint64_t max_bytes,
                            const char *param, const char *reason)
{
    struct sample_query q;
    struct query_error err;
    bool ok = parse_with(query, max_records, max_bytes, &q, &err);
    if (ok || strcmp(err.param, param) != 0 || !err.reason || strcmp(err.reason, reason) != 0)
        print_error("'%s': %s, param '%s' reason '%s'; expected '%s' '%s'\n",
                    query ? query : "(null)", ok ? "accepted" : "refused", err.param,
                    err.reason ? err.reason : "(null)", param, reason);
    assert_false(ok);
    assert_string_equal(err.param, param);
    assert_string_equal(err.reason, reason);
    /* NULL err is allowed */
    char *copy = query ? strdup(query) : NULL;
    assert_false(sample_query_parse(copy, max_records, max_bytes, &q, NULL));
    free(copy);
}

static void expect_bad(const char *query, const char *param, const char *reason)
{
    expect_bad_with(query, MAX_RECORDS, MAX_BYTES, param, reason);
}

/* ---- accepted ---- */

static void test_minimal_defaults(void **state)
{
    (void)state;
    struct sample_query q = parse_ok("n=4&size=64");
    assert_true(q.n == 4 && q.size == 64);
    assert_true(q.align == 64 && !q.has_align);
    assert_false(q.has_seed);
    assert_true(q.epoch == 0 && q.rank == 0 && q.world == 1 && q.start == 0);
    assert_false(q.sharded);
    assert_false(q.replace);
    assert_int_equal(q.format, SAMPLE_FORMAT_MULTIPART);
}

static void test_every_parameter(void **state)
{
    (void)state;
    struct sample_query q = parse_ok("n=10&size=4096&align=512&seed=18446744073709551615"
                                     "&epoch=7&rank=2&world=3&start=99&replace=1&format=json");
    assert_true(q.n == 10 && q.size == 4096 && q.align == 512 && q.has_align);
    assert_true(q.seed == UINT64_MAX && q.has_seed);
    assert_true(q.epoch == 7 && q.rank == 2 && q.world == 3 && q.sharded && q.start == 99);
    assert_true(q.replace);
    assert_int_equal(q.format, SAMPLE_FORMAT_JSON);
    /* any order */
    struct sample_query r = parse_ok("format=json&replace=1&start=99&world=3&rank=2&epoch=7"
                                     "&seed=18446744073709551615&align=512&size=4096&n=10");
    assert_memory_equal(&q, &r, sizeof q);
}

static void test_values(void **state)
{
    (void)state;
    assert_true(parse_ok("n=1&size=1&seed=0").seed == 0);
    assert_true(parse_ok("n=1&size=1&seed=0").has_seed);
    assert_true(parse_ok("n=007&size=010").n == 7); /* leading zeros: still decimal */
    assert_true(parse_ok("n=1&size=000000000000000000000000000000000000000010").size == 10);
    assert_true(parse_ok("n=1&size=1&epoch=18446744073709551615").epoch == UINT64_MAX);
    assert_true(parse_ok("n=1&size=1&start=18446744073709551615").start == UINT64_MAX);
    assert_false(parse_ok("n=1&size=1&replace=0").replace);
    assert_int_equal(parse_ok("n=1&size=1&format=multipart").format, SAMPLE_FORMAT_MULTIPART);
    assert_int_equal(parse_ok("n=1&size=1&format=raw").format, SAMPLE_FORMAT_RAW);
    assert_true(parse_ok("n=1&size=1&rank=0&world=1").sharded);
    /* align larger than size, or smaller: both fine here (the sampler needs the file) */
    assert_true(parse_ok("n=1&size=8&align=1").align == 1);
    assert_true(parse_ok("n=1&size=8&align=1000000").align == 1000000);
}

static void test_percent_decoding_once(void **state)
{
    (void)state;
    struct sample_query q = parse_ok("%6E=5&si%7Ae=%36%34&format=%6a%73%6F%6E");
    assert_true(q.n == 5 && q.size == 64);
    assert_int_equal(q.format, SAMPLE_FORMAT_JSON);
    /* decoded once only: %2531 is "%31", not "1" */
    expect_bad("n=%2531&size=1", "n", "not a number");
    /* an encoded '&' or '=' is data, not a separator */
    expect_bad("n=1%26size=1", "n", "not a number");
    expect_bad("n%3D1&size=1", "n=1", "unknown parameter");
}

static void test_empty_elements_skipped(void **state)
{
    (void)state;
    struct sample_query q = parse_ok("&&n=3&&size=5&");
    assert_true(q.n == 3 && q.size == 5);
    q = parse_ok("n=3&size=5&&&&");
    assert_true(q.n == 3);
}

static void test_limits_boundaries(void **state)
{
    (void)state;
    assert_true(parse_ok("n=4096&size=16384").n == 4096); /* exactly 64 MiB */
    assert_true(parse_ok("n=1&size=67108864").size == 67108864);
    struct sample_query q;
    struct query_error err;
    assert_true(parse_with("n=3&size=3", 3, 9, &q, &err));
    expect_bad_with("n=4&size=1", 3, 9, "n", "exceeds --max-sample-records");
    expect_bad_with("n=2&size=10", 3, 9, "size", "exceeds --max-sample-bytes");
    expect_bad_with("n=2&size=5", 3, 9, "n", "n*size exceeds --max-sample-bytes");
}

/* ---- refused: every bad input ---- */

struct bad {
    const char *query, *param, *reason;
};

static void run_bad(const struct bad *cases, size_t count)
{
    for (size_t i = 0; i < count; i++)
        expect_bad(cases[i].query, cases[i].param, cases[i].reason);
}

static void test_missing(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"", "n", "missing"},
        {"size=4", "n", "missing"},
        {"n=4", "size", "missing"},
        {"&&&", "n", "missing"},
        {"seed=1&epoch=2", "n", "missing"},
        {"n=1&size=1&rank=0", "world", "missing (rank given)"},
        {"n=1&size=1&world=2", "rank", "missing (world given)"},
    };
    run_bad(cases, sizeof cases / sizeof cases[0]);
    expect_bad(NULL, "n", "missing");
}

static void test_not_a_number(void **state)
{
    (void)state;
    static const char *const params[] = {"n", "size", "align", "seed", "epoch", "start",
                                         "rank", "world"};
    static const char *const values[] = {"abc", "1a", "a1", "1.5", "1e3", "0x10", "+5", "%2B5",
                                         " 5", "5 ", "%205", "1,2", "-", "--1", "1-", "٣",
                                         "%C3%A9", "5%00"};
    for (size_t p = 0; p < sizeof params / sizeof params[0]; p++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            char q[128];
            /* rank and world need each other */
            snprintf(q, sizeof q, "n=1&size=1&%s=%s%s", params[p], values[v],
                     !strcmp(params[p], "rank")    ? "&world=2"
                     : !strcmp(params[p], "world") ? "&rank=0"
                                                   : "");
            /* n and size are already given above; test them alone */
            if (!strcmp(params[p], "n"))
                snprintf(q, sizeof q, "size=1&n=%s", values[v]);
            if (!strcmp(params[p], "size"))
                snprintf(q, sizeof q, "n=1&size=%s", values[v]);
            const char *want = strstr(values[v], "%00") ? "bad percent-encoding" : "not a number";
            expect_bad(q, params[p], want);
        }
    }
}

static void test_negative_zero_overflow(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"n=-1&size=1", "n", "must not be negative"},
        {"n=1&size=-64", "size", "must not be negative"},
        {"n=1&size=1&seed=-5", "seed", "must not be negative"},
        {"n=1&size=1&epoch=-0", "epoch", "must not be negative"},
        {"n=1&size=1&start=%2D3", "start", "must not be negative"},
        {"n=0&size=1", "n", "must be > 0"},
        {"n=1&size=0", "size", "must be > 0"},
        {"n=1&size=1&align=0", "align", "must be > 0"},
        {"n=1&size=1&align=000", "align", "must be > 0"},
        {"n=1&size=1&rank=0&world=0", "world", "must be > 0"},
        {"n=18446744073709551616&size=1", "n", "too large"},
        {"n=1&size=99999999999999999999999", "size", "too large"},
        {"n=1&size=1&seed=18446744073709551616", "seed", "too large"},
        {"n=1&size=1&epoch=100000000000000000000", "epoch", "too large"},
        {"n=1&size=1&start=18446744073709551620", "start", "too large"},
        {"n=1&size=1&align=184467440737095516150", "align", "too large"},
        {"n=1&size=1&rank=18446744073709551616&world=1", "rank", "too large"},
        /* syntax beats size: "99999999999999999999x" is not a number */
        {"n=99999999999999999999x&size=1", "n", "not a number"},
    };
    run_bad(cases, sizeof cases / sizeof cases[0]);
    /* 0 is fine where it means something */
    struct sample_query q = parse_ok("n=1&size=1&seed=0&epoch=0&start=0&rank=0&world=1");
    assert_true(q.seed == 0 && q.has_seed);
}

static void test_rank_world(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"n=1&size=1&rank=2&world=2", "rank", "must be < world"},
        {"n=1&size=1&rank=5&world=2", "rank", "must be < world"},
        {"n=1&size=1&world=3&rank=3", "rank", "must be < world"},
        {"n=1&size=1&rank=1", "world", "missing (rank given)"},
        {"n=1&size=1&world=1", "rank", "missing (world given)"},
    };
    run_bad(cases, sizeof cases / sizeof cases[0]);
    struct sample_query q = parse_ok("n=1&size=1&rank=6&world=7");
    assert_true(q.rank == 6 && q.world == 7);
}

static void test_repeated(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"n=1&n=1&size=1", "n", "repeated"},
        {"n=1&size=1&size=2", "size", "repeated"},
        {"n=1&size=1&seed=1&seed=1", "seed", "repeated"},
        {"n=1&size=1&format=json&format=json", "format", "repeated"},
        {"n=1&size=1&replace=0&replace=1", "replace", "repeated"},
        {"n=1&size=1&align=1&align=2", "align", "repeated"},
        {"n=1&size=1&epoch=1&epoch=2", "epoch", "repeated"},
        {"n=1&size=1&start=1&start=2", "start", "repeated"},
        {"n=1&size=1&rank=0&world=2&rank=1", "rank", "repeated"},
        {"n=1&size=1&world=2&rank=0&world=2", "world", "repeated"},
        /* spelled differently, the same parameter once decoded */
        {"n=1&%6E=1&size=1", "n", "repeated"},
        /* repeated even when the second one is bad: the first problem wins */
        {"n=1&n=x&size=1", "n", "repeated"},
        {"n=1&n&size=1", "n", "repeated"},
    };
    run_bad(cases, sizeof cases / sizeof cases[0]);
}

static void test_unknown(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"n=1&size=1&foo=1", "foo", "unknown parameter"},
        {"n=1&size=1&N=1", "N", "unknown parameter"},     /* names are case-sensitive */
        {"n=1&size=1&Size=1", "Size", "unknown parameter"},
        {"n=1&size=1&count", "count", "unknown parameter"},
        {"n=1&size=1&n%20=1", "n?", "unknown parameter"}, /* decoded space, sanitised */
        {"n=1&size=1&+n=1", "+n", "unknown parameter"},   /* '+' is not a space */
        {"n=1&size=1&b%C3%A9=1", "b??", "unknown parameter"},
        {"n=1&size=1&a\"b\\c=1", "a\"b\\c", "unknown parameter"},
        {"n=1&size=1&=5", "", "empty parameter name"},
        {"n=1&size=1&=", "", "empty parameter name"},
        /* the unknown name is reported before anything wrong with its value */
        {"n=1&size=1&x=%zz", "x", "unknown parameter"},
        {"foo=1&n=x", "foo", "unknown parameter"},
        /* the first problem in the query wins */
        {"n=x&foo=1", "n", "not a number"},
    };
    run_bad(cases, sizeof cases / sizeof cases[0]);
    /* a long name is truncated to 36 bytes plus "..." */
    char q[300];
    snprintf(q, sizeof q, "n=1&size=1&%s=1",
             "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    expect_bad(q, "abcdefghijklmnopqrstuvwxyz0123456789...", "unknown parameter");
    snprintf(q, sizeof q, "n=1&size=1&%s=1", "abcdefghijklmnopqrstuvwxyz0123456789ABC");
    expect_bad(q, "abcdefghijklmnopqrstuvwxyz0123456789ABC", "unknown parameter");
    snprintf(q, sizeof q, "n=1&size=1&%s=1", "abcdefghijklmnopqrstuvwxyz0123456789ABCD");
    expect_bad(q, "abcdefghijklmnopqrstuvwxyz0123456789...", "unknown parameter");
}

static void test_empty_values(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"n=&size=1", "n", "empty value"},
        {"n&size=1", "n", "empty value"},
        {"n=1&size=", "size", "empty value"},
        {"n=1&size=1&seed=", "seed", "empty value"},
        {"n=1&size=1&format=", "format", "empty value"},
        {"n=1&size=1&format", "format", "empty value"},
        {"n=1&size=1&replace=", "replace", "empty value"},
        {"n=1&size=1&rank=&world=2", "rank", "empty value"},
    };
    run_bad(cases, sizeof cases / sizeof cases[0]);
}

static void test_format_and_replace(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"n=1&size=1&format=xml", "format", "unknown format"},
        {"n=1&size=1&format=JSON", "format", "unknown format"},
        {"n=1&size=1&format=json%20", "format", "unknown format"},
        {"n=1&size=1&format=jsonx", "format", "unknown format"},
        {"n=1&size=1&format=multipartmultipartmultipart", "format", "unknown format"},
        {"n=1&size=1&format=js", "format", "unknown format"},
        {"n=1&size=1&format=%", "format", "bad percent-encoding"},
        {"n=1&size=1&replace=2", "replace", "must be 0 or 1"},
        {"n=1&size=1&replace=true", "replace", "must be 0 or 1"},
        {"n=1&size=1&replace=00", "replace", "must be 0 or 1"},
        {"n=1&size=1&replace=-1", "replace", "must be 0 or 1"},
        {"n=1&size=1&replace=%", "replace", "bad percent-encoding"},
    };
    run_bad(cases, sizeof cases / sizeof cases[0]);
    assert_true(parse_ok("n=1&size=1&replace=%31").replace);
    assert_string_equal(sample_query_format_name(SAMPLE_FORMAT_MULTIPART), "multipart");
    assert_string_equal(sample_query_format_name(SAMPLE_FORMAT_JSON), "json");
    assert_string_equal(sample_query_format_name(SAMPLE_FORMAT_RAW), "raw");
}

static void test_bad_percent_encoding(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"n=%&size=1", "n", "bad percent-encoding"},
        {"n=%4&size=1", "n", "bad percent-encoding"},
        {"n=1&size=%4", "size", "bad percent-encoding"},
        {"n=%zz&size=1", "n", "bad percent-encoding"},
        {"n=%00&size=1", "n", "bad percent-encoding"},
        {"n=1&size=1%", "size", "bad percent-encoding"},
        {"n=1&size=1&seed=1%0", "seed", "bad percent-encoding"},
        /* in a name: reported with the name as received */
        {"n=1&size=1&%zz=1", "%zz", "bad percent-encoding"},
        {"n=1&size=1&n%00=1", "n%00", "bad percent-encoding"},
        {"n=1&size=1&%", "%", "bad percent-encoding"},
    };
    run_bad(cases, sizeof cases / sizeof cases[0]);
}

/* Limits come after every per-element check and after the missing ones. */
static void test_check_order(void **state)
{
    (void)state;
    expect_bad_with("n=5&size=x", 3, 9, "size", "not a number");
    expect_bad_with("n=5", 3, 9, "size", "missing");
    expect_bad_with("n=5&size=1&rank=1", 3, 9, "world", "missing (rank given)");
    expect_bad_with("n=5&size=1&rank=4&world=4", 3, 9, "rank", "must be < world");
    expect_bad_with("n=5&size=100", 3, 9, "n", "exceeds --max-sample-records");
    /* huge n * size must not wrap: 2^32 * 2^32 = 2^64 */
    expect_bad_with("n=4294967296&size=4294967296", UINT64_MAX, UINT64_MAX, "n",
                    "n*size exceeds --max-sample-bytes");
    struct sample_query q;
    struct query_error err;
    assert_true(parse_with("n=4294967295&size=4294967297", UINT64_MAX, UINT64_MAX, &q, &err));
}

static void test_spec(void **state)
{
    (void)state;
    struct sample_query q = parse_ok("n=3&size=8&epoch=2&start=5&replace=1&rank=1&world=2");
    struct sample_spec sp;
    sample_query_spec(&q, 1000, 0xabc, &sp);
    assert_true(sp.file_size == 1000 && sp.size == 8 && sp.align == 8 && sp.n == 3);
    assert_true(sp.seed == 0xabc); /* the handler's seed, since the query has none */
    assert_true(sp.epoch == 2 && sp.rank == 1 && sp.world == 2 && sp.start == 5 && sp.replace);
    q = parse_ok("n=3&size=8&seed=77&align=2");
    sample_query_spec(&q, 1000, 0xabc, &sp);
    assert_true(sp.seed == 77 && sp.align == 2 && sp.rank == 0 && sp.world == 1 && !sp.replace);
    /* the two modules report in one shape */
    q = parse_ok("n=3&size=2000");
    sample_query_spec(&q, 1000, 1, &sp);
    struct sampler s;
    struct query_error err;
    assert_int_equal(sampler_init(&s, &sp, &err), SAMPLE_SIZE_EXCEEDS_FILE);
    assert_string_equal(err.param, "size");
    assert_string_equal(err.reason, "larger than the file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_every_parameter),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_percent_decoding_once),
        cmocka_unit_test(test_empty_elements_skipped),
        cmocka_unit_test(test_limits_boundaries),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_not_a_number),
        cmocka_unit_test(test_negative_zero_overflow),
        cmocka_unit_test(test_rank_world),
        cmocka_unit_test(test_repeated),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_empty_values),
        cmocka_unit_test(test_format_and_replace),
        cmocka_unit_test(test_bad_percent_encoding),
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_spec),
    };
    return cmocka_run_group_tests_name("sample_query", tests, NULL, NULL);
}
