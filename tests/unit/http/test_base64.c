/* test_base64.c - RFC 4648 base64 encoding (http/base64.h): the RFC's test vectors, every
 * length against an independent decoder, and encoding in 3-byte-aligned pieces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http/base64.h"

static void expect(const char *in, const char *out)
{
    char buf[64];
    memset(buf, '#', sizeof buf);
    size_t n = base64_encode((const unsigned char *)in, strlen(in), buf);
    assert_int_equal(n, strlen(out));
    assert_int_equal(n, base64_encoded_len(strlen(in)));
    assert_memory_equal(buf, out, n);
    assert_int_equal(buf[n], '#'); /* nothing written past the end */
}

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    expect("", "");
    expect("f", "Zg==");
    expect("fo", "Zm8=");
    expect("foo", "Zm9v");
    expect("foob", "Zm9vYg==");
    expect("fooba", "Zm9vYmE=");
    expect("foobar", "Zm9vYmFy");
}

static int value(char c)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(a, c);
    return c && p ? (int)(p - a) : -1;
}

/* A plain decoder, written apart from the encoder; returns the decoded length. */
static size_t decode(const char *s, size_t n, unsigned char *out)
{
    size_t k = 0;
    assert_int_equal(n % 4, 0);
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++)
            v[j] = s[i + j] == '=' ? 0 : value(s[i + j]);
        for (int j = 0; j < 4; j++)
            assert_true(v[j] >= 0);
        unsigned bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
                        (unsigned)v[3];
        out[k++] = (unsigned char)(bits >> 16);
        if (s[i + 2] != '=')
            out[k++] = (unsigned char)(bits >> 8);
        if (s[i + 3] != '=')
            out[k++] = (unsigned char)bits;
    }
    return k;
}

static void test_every_byte_and_length(void **state)
{
    (void)state;
    unsigned char in[770], back[770];
    char out[1100];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 7 + (i >> 8));
    for (size_t len = 0; len <= sizeof in; len++) {
        size_t n = base64_encode(in, len, out);
        assert_int_equal(n, (len + 2) / 3 * 4);
        assert_int_equal(decode(out, n, back), len);
        assert_memory_equal(back, in, len);
    }
}

static void test_pieces_concatenate(void **state)
{
    (void)state;
    unsigned char in[100];
    char whole[200], parts[200];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(255 - i);
    size_t n = base64_encode(in, sizeof in, whole);
    for (size_t cut = 0; cut <= sizeof in; cut += 3) {
        size_t a = base64_encode(in, cut, parts);
        size_t b = base64_encode(in + cut, sizeof in - cut, parts + a);
        assert_int_equal(a + b, n);
        assert_memory_equal(parts, whole, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_every_byte_and_length),
        cmocka_unit_test(test_pieces_concatenate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
