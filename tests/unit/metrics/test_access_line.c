/* test_access_line.c - access_line_format() and access_request_id_ok() (metrics/access_line.h):
 * every line parses, whatever bytes went in, and gives them back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/access_line.h"

static struct access_bytes bytes(const char *s, size_t n)
{
    return (struct access_bytes){s, n, false};
}

static struct access_entry entry(void)
{
    return (struct access_entry){
        .time_ms = 1764719083123, /* 2025-12-02T23:44:43.123Z */
        .remote = "127.0.0.1",
        .method = bytes("GET", 3),
        .target = bytes("/files/a.bin?x=1", 16),
        .version = "HTTP/1.1",
        .status = 206,
        .body_bytes = 4096,
        .has_file = true,
        .file_size = 1 << 20,
        .range = bytes("bytes=0-4095", 12),
        .ranges = 1,
        .prefetch_wait_ns = 1500000,
        .duration_ns = 2345678,
        .request_id = "abc-1",
        .user_agent = bytes("curl/7.88.1", 11),
        .outcome = "completed",
    };
}

/* Formats e as JSON, checks the line's shape and parses it (the caller decrefs). */
static json_t *parsed(const struct access_entry *e)
{
    char *line = malloc(ACCESS_LINE_MAX); /* heap: ASan sees a write past the bound */
    assert_non_null(line);
    size_t n = access_line_format(ACCESS_JSON, e, line);
    assert_true(n > 1 && n <= ACCESS_LINE_MAX);
    assert_int_equal(line[n - 1], '\n');
    assert_null(memchr(line, '\n', n - 1));
    json_error_t err;
    json_t *doc = json_loadb(line, n - 1, JSON_ALLOW_NUL, &err); /* \u0000 is JSON */
    if (!doc)
        fail_msg("not JSON (%s): %.*s", err.text, (int)n, line);
    free(line);
    return doc;
}

/* The string a JSON field decodes to, as bytes (one code point U+0000..U+00FF per byte). */
static size_t latin1(json_t *doc, const char *key, unsigned char *out, size_t cap)
{
    json_t *v = json_object_get(doc, key);
    const char *s = json_string_value(v);
    assert_non_null(s);
    const unsigned char *end = (const unsigned char *)s + json_string_length(v);
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; p < end; n++) {
        assert_true(n < cap);
        if (*p < 0x80) {
            out[n] = *p++;
        } else { /* U+0080..U+00FF: two bytes 0xC2/0xC3 */
            assert_true(*p == 0xc2 || *p == 0xc3);
            out[n] = (unsigned char)(((p[0] & 0x1f) << 6) | (p[1] & 0x3f));
            p += 2;
        }
    }
    return n;
}

static void test_json_fields(void **state)
{
    (void)state;
    struct access_entry e = entry();
    json_t *d = parsed(&e);
    assert_string_equal(json_string_value(json_object_get(d, "time")), "2025-12-02T23:44:43.123Z");
    assert_string_equal(json_string_value(json_object_get(d, "target")), "/files/a.bin?x=1");
    assert_int_equal(json_integer_value(json_object_get(d, "status")), 206);
    assert_int_equal(json_integer_value(json_object_get(d, "bytes")), 4096);
    assert_int_equal(json_integer_value(json_object_get(d, "file_size")), 1 << 20);
    assert_int_equal(json_integer_value(json_object_get(d, "ranges")), 1);
    assert_true(json_is_false(json_object_get(d, "cold")));
    assert_true(json_real_value(json_object_get(d, "prefetch_wait_ms")) == 1.5);
    assert_true(json_real_value(json_object_get(d, "duration_ms")) == 2.345);
    assert_string_equal(json_string_value(json_object_get(d, "request_id")), "abc-1");
    assert_true(json_is_null(json_object_get(d, "tls")));
    assert_null(json_object_get(d, "target_truncated"));
    json_decref(d);

    e.has_file = false;
    e.range.ptr = NULL;
    e.method.ptr = NULL;
    d = parsed(&e);
    assert_true(json_is_null(json_object_get(d, "file_size")));
    assert_true(json_is_null(json_object_get(d, "range")));
    assert_true(json_is_null(json_object_get(d, "method")));
    json_decref(d);
}

/* Every byte value in the target, the user agent and the range comes back as it went in. */
static void test_json_any_bytes(void **state)
{
    (void)state;
    unsigned char all[256], back[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    struct access_entry e = entry();
    e.target = bytes((const char *)all, 256);
    e.user_agent = bytes((const char *)all + 0xe0, 32); /* 192 escaped bytes, not cut */
    e.range = bytes("\xff\xfe\"\\\x01", 5);
    json_t *d = parsed(&e);
    assert_int_equal(latin1(d, "target", back, sizeof back), 256);
    assert_memory_equal(back, all, 256);
    assert_int_equal(latin1(d, "user_agent", back, sizeof back), 32);
    assert_memory_equal(back, all + 0xe0, 32);
    assert_int_equal(latin1(d, "range", back, sizeof back), 5);
    assert_memory_equal(back, "\xff\xfe\"\\\x01", 5);
    json_decref(d);
}

/* A 100 KB target of the worst bytes, and long fields everywhere: cut, marked, still JSON. */
static void test_json_cut(void **state)
{
    (void)state;
    size_t big = 100 * 1000;
    char *junk = malloc(big);
    assert_non_null(junk);
    for (size_t i = 0; i < big; i++)
        junk[i] = (char)(i % 3 == 0 ? 0x01 : i % 3 == 1 ? '"' : 0xff);
    struct access_entry e = entry();
    e.target = bytes(junk, big);
    e.method = bytes(junk, big);
    e.range = bytes(junk, big);
    e.user_agent = bytes(junk, big);
    json_t *d = parsed(&e);
    assert_true(json_is_true(json_object_get(d, "target_truncated")));
    assert_true(json_is_true(json_object_get(d, "range_truncated")));
    assert_true(json_is_true(json_object_get(d, "user_agent_truncated")));
    assert_true(json_is_true(json_object_get(d, "method_truncated")));
    unsigned char back[ACCESS_TARGET_MAX];
    size_t n = latin1(d, "target", back, sizeof back);
    assert_true(n > 300);
    assert_memory_equal(back, junk, n); /* a prefix, never half an escape */
    json_decref(d);
    /* cut before it got here (the router keeps the first bytes only) */
    e = entry();
    e.target.cut = true;
    d = parsed(&e);
    assert_true(json_is_true(json_object_get(d, "target_truncated")));
    json_decref(d);
    free(junk);
}

static void test_combined(void **state)
{
    (void)state;
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^[^ ]+ - - \\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:"
                             "[0-9]{2} \\+0000\\] \"([^\"\\\\]|\\\\x[0-9a-f]{2})*\" [0-9]{3} "
                             "([0-9]+|-) \"([^\"\\\\]|\\\\x[0-9a-f]{2})*\" "
                             "\"([^\"\\\\]|\\\\x[0-9a-f]{2})*\"\n$",
                             REG_EXTENDED),
                     0);
    char *line = malloc(ACCESS_LINE_MAX + 1);
    assert_non_null(line);
    struct access_entry e = entry();
    size_t n = access_line_format(ACCESS_COMBINED, &e, line);
    line[n] = '\0';
    assert_string_equal(line, "127.0.0.1 - - [02/Dec/2025:23:44:43 +0000] \"GET /files/a.bin?x=1 "
                              "HTTP/1.1\" 206 4096 \"-\" \"curl/7.88.1\"\n");
    e.target = bytes("/a\"b\\c\x01\xff d", 10);
    e.user_agent = bytes("\xc3\xa9", 2);
    e.body_bytes = 0;
    n = access_line_format(ACCESS_COMBINED, &e, line);
    line[n] = '\0';
    assert_string_equal(line, "127.0.0.1 - - [02/Dec/2025:23:44:43 +0000] \"GET "
                              "/a\\x22b\\x5cc\\x01\\xff d HTTP/1.1\" 206 - \"-\" \"\\xc3\\xa9\"\n");
    assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
    char *junk = malloc(100000);
    assert_non_null(junk);
    memset(junk, '"', 100000);
    e.target = bytes(junk, 100000);
    e.user_agent = bytes(junk, 100000);
    e.referer = bytes(junk, 100000);
    n = access_line_format(ACCESS_COMBINED, &e, line);
    line[n] = '\0';
    assert_true(n <= ACCESS_LINE_MAX);
    assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
    assert_non_null(strstr(line, "\\x22... HTTP/1.1\""));
    free(junk);
    free(line);
    regfree(&re);
}

static void test_request_id(void **state)
{
    (void)state;
    char long_id[ACCESS_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id);
    long_id[ACCESS_ID_MAX] = '\0';
    assert_true(access_request_id_ok(long_id));
    long_id[ACCESS_ID_MAX] = 'a';
    long_id[ACCESS_ID_MAX + 1] = '\0';
    assert_false(access_request_id_ok(long_id));
    assert_true(access_request_id_ok("0f3c9a8e-1b2d-4c5e-8f70-123456789abc"));
    assert_true(access_request_id_ok("Root=1-67891233-abcdef012345678912345678"));
    assert_true(access_request_id_ok("a+b/c=_.:@~"));
    assert_false(access_request_id_ok(NULL));
    assert_false(access_request_id_ok(""));
    assert_false(access_request_id_ok("a b"));
    assert_false(access_request_id_ok("a\"b"));
    assert_false(access_request_id_ok("a\\b"));
    assert_false(access_request_id_ok("caf\xc3\xa9"));
    assert_false(access_request_id_ok("a,b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_any_bytes),
        cmocka_unit_test(test_json_cut),
        cmocka_unit_test(test_combined),
        cmocka_unit_test(test_request_id),
    };
    return cmocka_run_group_tests_name("access_line", tests, NULL, NULL);
}
