/* test_listing_text.c - UTF-8 repair, HTML escaping, href encoding, Accept negotiation and
 * RFC 3339 dates of the listings (http/listing_text.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/listing_text.h"

#define FFFD "\xEF\xBF\xBD"

typedef void (*put_fn)(struct strbuf *, const char *, size_t);

/* Runs `put` over the n bytes at `in` and compares with `want` (NUL-terminated). */
static void expect_n(put_fn put, const char *in, size_t n, const char *want)
{
    struct strbuf b = {0};
    put(&b, in, n);
    size_t len = 0;
    char *got = strbuf_take(&b, &len);
    assert_non_null(got);
    if (len != strlen(want) || memcmp(got, want, len) != 0)
        print_error("input of %zu bytes: got '%s', expected '%s'\n", n, got, want);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    free(got);
}

static void expect(put_fn put, const char *in, const char *want)
{
    expect_n(put, in, strlen(in), want);
}

static void test_utf8_valid_unchanged(void **state)
{
    (void)state;
    expect(listing_text_put_utf8, "", "");
    expect(listing_text_put_utf8, "plain.txt", "plain.txt");
    expect(listing_text_put_utf8, "caf\xC3\xA9", "caf\xC3\xA9");                 /* U+00E9 */
    expect(listing_text_put_utf8, "\xE2\x82\xAC", "\xE2\x82\xAC");               /* U+20AC */
    expect(listing_text_put_utf8, "\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80");       /* U+1F600 */
    expect(listing_text_put_utf8, "\xC2\x80\xDF\xBF", "\xC2\x80\xDF\xBF");       /* 2-byte edges */
    expect(listing_text_put_utf8, "\xE0\xA0\x80\xEF\xBF\xBF", "\xE0\xA0\x80\xEF\xBF\xBF");
    expect(listing_text_put_utf8, "\xED\x9F\xBF\xEE\x80\x80", "\xED\x9F\xBF\xEE\x80\x80");
    expect(listing_text_put_utf8, "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
           "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF");
    expect(listing_text_put_utf8, "<&>\"'", "<&>\"'"); /* no escaping: jansson does JSON's */
}

static void test_utf8_invalid_bytes_replaced(void **state)
{
    (void)state;
    expect(listing_text_put_utf8, "bad\xFF\xFE.bin", "bad" FFFD FFFD ".bin");
    expect(listing_text_put_utf8, "\x80", FFFD);                       /* lone continuation */
    expect(listing_text_put_utf8, "\xC0\x80", FFFD FFFD);              /* overlong NUL */
    expect(listing_text_put_utf8, "\xC1\xBF", FFFD FFFD);              /* overlong */
    expect(listing_text_put_utf8, "\xE0\x80\x80", FFFD FFFD FFFD);     /* overlong 3-byte */
    expect(listing_text_put_utf8, "\xED\xA0\x80", FFFD FFFD FFFD);     /* surrogate U+D800 */
    expect(listing_text_put_utf8, "\xF0\x80\x80\x80", FFFD FFFD FFFD FFFD);
    expect(listing_text_put_utf8, "\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* above U+10FFFF */
    expect(listing_text_put_utf8, "\xF5\x80", FFFD FFFD);
    expect(listing_text_put_utf8, "a\xE2\x82", "a" FFFD FFFD);         /* cut at the end */
    expect(listing_text_put_utf8, "\xE2\x82x", FFFD FFFD "x");         /* cut in the middle */
    expect(listing_text_put_utf8, "\xC3\xA9\xFF\xC3\xA9", "\xC3\xA9" FFFD "\xC3\xA9");
}

/* Every output is a string jansson accepts, and every input jansson accepts is unchanged. */
static void test_utf8_agrees_with_jansson(void **state)
{
    (void)state;
    srand(4);
    unsigned char in[24];
    for (int round = 0; round < 200000; round++) {
        size_t n = (size_t)(rand() % (int)sizeof in);
        for (size_t i = 0; i < n; i++) {
            int r = rand();
            /* mostly bytes that matter to UTF-8 */
            in[i] = (unsigned char)(r % 4 == 0 ? 'a' : r % 4 == 1 ? 0x80 + (r >> 8) % 64
                                                               : 0xC0 + (r >> 8) % 64);
            if (in[i] == 0)
                in[i] = 'z';
        }
        struct strbuf b = {0};
        listing_text_put_utf8(&b, (const char *)in, n);
        size_t len = 0;
        char *out = strbuf_take(&b, &len);
        assert_non_null(out);
        json_t *s = json_stringn(out, len);
        if (!s)
            print_error("round %d: output rejected by jansson\n", round);
        assert_non_null(s);
        json_decref(s);
        json_t *orig = json_stringn((const char *)in, n);
        if (orig) {
            assert_int_equal(len, n);
            assert_memory_equal(out, in, n);
            json_decref(orig);
        }
        free(out);
    }
}

static void test_html_escapes(void **state)
{
    (void)state;
    expect(listing_text_put_html, "a <b> & \"c\" 'd'.txt",
           "a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;.txt");
    expect(listing_text_put_html, "&amp;", "&amp;amp;"); /* escaped once more, never interpreted */
    expect(listing_text_put_html, "<script>alert(1)</script>",
           "&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(listing_text_put_html, "caf\xC3\xA9 \xF0\x9F\x98\x80", "caf\xC3\xA9 \xF0\x9F\x98\x80");
    expect(listing_text_put_html, "bad\xFF.bin", "bad" FFFD ".bin");
    expect(listing_text_put_html, "tab\there\nnl\x7F\x01", "tab" FFFD "here" FFFD "nl" FFFD FFFD);
    expect_n(listing_text_put_html, "a\0b", 3, "a" FFFD "b");
}

/* No byte that HTML gives a meaning in text or a quoted attribute ever comes through. */
static void test_html_all_bytes(void **state)
{
    (void)state;
    char in[256];
    for (int i = 0; i < 256; i++)
        in[i] = (char)i;
    struct strbuf b = {0};
    listing_text_put_html(&b, in, sizeof in);
    size_t len = 0;
    char *out = strbuf_take(&b, &len);
    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        assert_true(out[i] != '<' && out[i] != '>' && out[i] != '"' && out[i] != '\'');
        assert_true((unsigned char)out[i] >= 0x20 && out[i] != 0x7F);
        if (out[i] == '&')
            assert_true(strncmp(out + i, "&amp;", 5) == 0 || strncmp(out + i, "&lt;", 4) == 0 ||
                        strncmp(out + i, "&gt;", 4) == 0 || strncmp(out + i, "&quot;", 6) == 0 ||
                        strncmp(out + i, "&#39;", 5) == 0);
    }
    json_t *s = json_stringn(out, len); /* valid UTF-8 as well */
    assert_non_null(s);
    json_decref(s);
    free(out);
}

static void test_href_percent_encoding(void **state)
{
    (void)state;
    expect(listing_text_put_href, "plain-name_1.0~x.txt", "plain-name_1.0~x.txt");
    expect(listing_text_put_href, "dir/sub/a b.txt", "dir/sub/a%20b.txt");
    expect(listing_text_put_href, "a <b> & \"c\" 'd'.txt",
           "a%20%3Cb%3E%20%26%20%22c%22%20%27d%27.txt");
    expect(listing_text_put_href, "?#%+;=:@!$()*,[]",
           "%3F%23%25%2B%3B%3D%3A%40%21%24%28%29%2A%2C%5B%5D");
    expect(listing_text_put_href, "caf\xC3\xA9", "caf%C3%A9");
    expect(listing_text_put_href, "bad\xFF\xFE", "bad%FF%FE");
    expect(listing_text_put_href, "\x01\x7F", "%01%7F");
}

/* Every byte: unreserved and '/' as is, everything else %XX; decoding gives the input back. */
static void test_href_all_bytes(void **state)
{
    (void)state;
    for (int c = 1; c < 256; c++) {
        char in[1] = {(char)c};
        struct strbuf b = {0};
        listing_text_put_href(&b, in, 1);
        size_t len = 0;
        char *out = strbuf_take(&b, &len);
        assert_non_null(out);
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
        if (plain) {
            assert_int_equal(len, 1);
            assert_int_equal((unsigned char)out[0], c);
        } else {
            char want[4];
            snprintf(want, sizeof want, "%%%02X", c);
            assert_string_equal(out, want);
        }
        free(out);
    }
}

static void test_utf8_seq_len(void **state)
{
    (void)state;
    assert_int_equal(listing_text_utf8_seq_len((const unsigned char *)"a", 1), 1);
    assert_int_equal(listing_text_utf8_seq_len((const unsigned char *)"\xC3\xA9", 2), 2);
    assert_int_equal(listing_text_utf8_seq_len((const unsigned char *)"\xC3\xA9", 1), 0);
    assert_int_equal(listing_text_utf8_seq_len((const unsigned char *)"\xE2\x82\xAC", 3), 3);
    assert_int_equal(listing_text_utf8_seq_len((const unsigned char *)"\xF0\x9F\x98\x80", 4), 4);
    assert_int_equal(listing_text_utf8_seq_len((const unsigned char *)"\xF0\x9F\x98\x80", 3), 0);
    assert_int_equal(listing_text_utf8_seq_len((const unsigned char *)"", 0), 0);
}

static void expect_html(const char *accept, bool want)
{
    bool got = listing_text_wants_html(accept);
    if (got != want)
        print_error("Accept '%s': html %d, expected %d\n", accept ? accept : "(none)", got, want);
    assert_int_equal(got, want);
}

static void test_accept(void **state)
{
    (void)state;
    /* browsers */
    expect_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true);
    expect_html("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
                "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7", true);
    expect_html("text/html", true);
    expect_html("TEXT/HTML", true);
    expect_html("  text/html ; charset=utf-8 ", true);
    expect_html("text/*", true);
    expect_html("text/html;q=0.9, application/json;q=0.5", true);
    expect_html("application/json;q=0.5, text/html;q=0.6", true);
    /* programs */
    expect_html(NULL, false);
    expect_html("", false);
    expect_html("*/*", false);
    expect_html("application/json", false);
    expect_html("application/json, text/html", false);       /* a tie: JSON */
    expect_html("text/html, application/json", false);
    expect_html("text/html;q=0.5, application/json", false);
    expect_html("text/html;q=0, */*", false);                /* html refused */
    expect_html("text/html;q=0", false);
    expect_html("text/plain", false);
    expect_html("text/html;q=0.5, */*;q=0.5", false);
    expect_html("application/*, text/html;q=0.9", false);
    expect_html("text/html;q=abc", false);                   /* malformed q counts for nothing */
    expect_html("text/html;q=1.5", false);
    expect_html("texthtml", false);
    expect_html(",,,", false);
    /* the most specific range decides */
    expect_html("text/*;q=0.1, text/html, */*;q=0.5", true);
    expect_html("text/html;q=0.1, text/*, application/json;q=0.5", false);
    expect_html("text/html;level=1, application/json;q=0.9", true);
    expect_html("text/html ;q=0.950, application/json;q=0.949", true);
    expect_html("text/html;Q=0.2, application/json;q=0.1", true);
}

static void expect_date(time_t t, const char *want)
{
    char out[LISTING_RFC3339_LEN];
    listing_text_rfc3339(t, out);
    assert_string_equal(out, want);
}

static void test_rfc3339(void **state)
{
    (void)state;
    expect_date(0, "1970-01-01T00:00:00Z");
    expect_date(1795501419, "2026-11-24T06:23:39Z");
    expect_date(951782400, "2000-02-29T00:00:00Z");
    expect_date(-1, "1969-12-31T23:59:59Z");
    expect_date(253402300799, "9999-12-31T23:59:59Z");
    expect_date(253402300800, "9999-12-31T23:59:59Z"); /* year 10000: clamped */
    expect_date(-62167219200, "0000-01-01T00:00:00Z");
    expect_date(-62167219201, "0000-01-01T00:00:00Z"); /* year -1: clamped */
    expect_date((time_t)INT64_MAX, "9999-12-31T23:59:59Z");
    expect_date((time_t)INT64_MIN, "0000-01-01T00:00:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid_unchanged),
        cmocka_unit_test(test_utf8_invalid_bytes_replaced),
        cmocka_unit_test(test_utf8_agrees_with_jansson),
        cmocka_unit_test(test_utf8_seq_len),
        cmocka_unit_test(test_html_escapes),
        cmocka_unit_test(test_html_all_bytes),
        cmocka_unit_test(test_href_percent_encoding),
        cmocka_unit_test(test_href_all_bytes),
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests_name("listing_text", tests, NULL, NULL);
}
