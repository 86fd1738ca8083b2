/* test_sample_body.c - /sample bodies (sampling/record_body.h, sampling/sample_layout.h) over
 * an in-memory "mapping": each format's exact bytes, the copying reader at every block size
 * and from random positions, the iovec view equal to the reader, JSON that jansson parses and
 * whose base64 decodes to the records, and the Sample-Offsets header limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filedata/sigbus_guard.h"
#include "http/base64.h"
#include "sampling/sample_layout.h"

#define FILE_SIZE 5000

static unsigned char file_bytes[FILE_SIZE];

static struct file_info fake_file(void)
{
    for (size_t i = 0; i < FILE_SIZE; i++)
        file_bytes[i] = (unsigned char)(i * 31 + (i >> 7));
    struct file_info fi = {.size = FILE_SIZE, .fd = -1,
                           .content_type = "application/octet-stream"};
    snprintf(fi.etag, sizeof fi.etag, "\"1-1388-abc\"");
    return fi;
}

static uint64_t *offsets_of(const uint64_t *o, size_t n)
{
    uint64_t *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    if (n)
        memcpy(p, o, n * sizeof *p);
    return p;
}

/* The whole body through the reader, `block` bytes per call; caller frees. */
static char *read_all(const struct record_body *b, size_t block)
{
    char *out = malloc(b->length + 1);
    assert_non_null(out);
    uint64_t pos = 0;
    while (pos < b->length) {
        struct held_copy c = {b->base, NULL, NULL, 0};
        ssize_t k = record_body_read(b, &c, pos, out + pos, block);
        assert_true(k > 0);
        assert_true((size_t)k <= block);
        pos += (uint64_t)k;
    }
    struct held_copy c = {b->base, NULL, NULL, 0};
    assert_int_equal(record_body_read(b, &c, pos, out, block), 0);
    out[b->length] = '\0';
    return out;
}

static void build(enum sample_format f, const uint64_t *o, size_t n, uint64_t size,
                  struct file_info *fi, struct record_body *b, char *ct)
{
    struct sample_page p = {f, "dir/file.bin", fi, file_bytes, 18446744073709551615u, size,
                            offsets_of(o, n), n};
    assert_true(sample_layout(&p, b, ct));
    assert_true(record_body_complete(b));
}

/* Reader at every block size from 1 to 64 and from 37 random starting points agrees with
 * `want`; for raw bodies the iovec view does too. */
static void check_views(const struct record_body *b, const char *want, size_t want_len)
{
    assert_int_equal(b->length, want_len);
    for (size_t block = 1; block <= 64; block++) {
        char *got = read_all(b, block);
        assert_memory_equal(got, want, want_len);
        free(got);
    }
    char buf[100];
    for (unsigned i = 0; i < 37 && want_len; i++) {
        uint64_t pos = (i * 7919u) % want_len;
        struct held_copy c = {b->base, NULL, NULL, 0};
        ssize_t k = record_body_read(b, &c, pos, buf, sizeof buf);
        assert_true(k > 0);
        assert_memory_equal(buf, want + pos, (size_t)k);
    }
    if (b->enc == RECORD_RAW) {
        struct MHD_IoVec *iov = malloc((2 * b->n + 1) * sizeof *iov);
        assert_non_null(iov);
        size_t k = record_body_iovec(b, iov), at = 0;
        assert_true(k <= 2 * b->n + 1);
        for (size_t i = 0; i < k; i++) {
            assert_true(iov[i].iov_len > 0);
            assert_memory_equal(iov[i].iov_base, want + at, iov[i].iov_len);
            at += iov[i].iov_len;
        }
        assert_int_equal(at, want_len);
        free(iov);
    }
}

static void test_raw(void **state)
{
    (void)state;
    struct file_info fi = fake_file();
    const uint64_t o[] = {4000, 0, 17, 999, 4990 - 10};
    struct record_body b;
    char ct[SAMPLE_CONTENT_TYPE_LEN];
    build(SAMPLE_FORMAT_RAW, o, 5, 20, &fi, &b, ct);
    assert_string_equal(ct, "application/octet-stream");
    char want[100];
    for (size_t i = 0; i < 5; i++)
        memcpy(want + 20 * i, file_bytes + o[i], 20);
    check_views(&b, want, 100);
    record_body_free(&b);
}

static void test_multipart(void **state)
{
    (void)state;
    struct file_info fi = fake_file();
    const uint64_t o[] = {64, 0, 4936};
    struct record_body b;
    char ct[SAMPLE_CONTENT_TYPE_LEN];
    build(SAMPLE_FORMAT_MULTIPART, o, 3, 64, &fi, &b, ct);
    const char *prefix = "multipart/byteranges; boundary=";
    assert_memory_equal(ct, prefix, strlen(prefix));
    const char *boundary = ct + strlen(prefix);
    assert_int_equal(strlen(boundary), 6 + 16);
    char *want = malloc(4096);
    assert_non_null(want);
    size_t len = 0;
    for (size_t i = 0; i < 3; i++) {
        len += (size_t)sprintf(want + len,
                               "%s--%s\r\nContent-Type: application/octet-stream\r\n"
                               "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/5000\r\n\r\n",
                               i ? "\r\n" : "", boundary, o[i], o[i] + 63);
        memcpy(want + len, file_bytes + o[i], 64);
        len += 64;
    }
    len += (size_t)sprintf(want + len, "\r\n--%s--\r\n", boundary);
    check_views(&b, want, len);
    record_body_free(&b);
    free(want);

    /* the same page gives the same boundary; another page another one */
    char ct2[SAMPLE_CONTENT_TYPE_LEN];
    build(SAMPLE_FORMAT_MULTIPART, o, 3, 64, &fi, &b, ct2);
    assert_string_equal(ct, ct2);
    record_body_free(&b);
    const uint64_t other[] = {64, 0, 128};
    build(SAMPLE_FORMAT_MULTIPART, other, 3, 64, &fi, &b, ct2);
    assert_string_not_equal(ct, ct2);
    record_body_free(&b);

    /* no parts: refused, the offsets freed */
    struct sample_page p = {SAMPLE_FORMAT_MULTIPART, "f", &fi, file_bytes, 1, 64,
                            offsets_of(o, 0), 0};
    assert_false(sample_layout(&p, &b, ct));
}

/* json for every record size from 1 to 12 (each base64 padding case, records ending
 * mid-group), checked byte for byte and through jansson. */
static void test_json(void **state)
{
    (void)state;
    struct file_info fi = fake_file();
    const uint64_t o[] = {3, 4000, 0, 2500};
    for (uint64_t size = 1; size <= 12; size++) {
        struct record_body b;
        char ct[SAMPLE_CONTENT_TYPE_LEN];
        build(SAMPLE_FORMAT_JSON, o, 4, size, &fi, &b, ct);
        assert_string_equal(ct, "application/json");
        char want[2048];
        size_t len = (size_t)sprintf(want, "{\"file\":\"dir/file.bin\",\"etag\":\"\\\"1-1388-abc\\\"\","
                                           "\"seed\":\"18446744073709551615\",\"records\":[");
        for (size_t i = 0; i < 4; i++) {
            len += (size_t)sprintf(want + len, "%s{\"offset\":%" PRIu64 ",\"data\":\"",
                                   i ? "," : "", o[i]);
            len += base64_encode(file_bytes + o[i], size, want + len);
            len += (size_t)sprintf(want + len, "\"}");
        }
        len += (size_t)sprintf(want + len, "]}\n");
        check_views(&b, want, len);

        char *text = read_all(&b, 1000);
        json_error_t jerr;
        json_t *doc = json_loadb(text, b.length, 0, &jerr);
        assert_non_null(doc);
        json_t *recs = json_object_get(doc, "records");
        assert_int_equal(json_array_size(recs), 4);
        assert_string_equal(json_string_value(json_object_get(doc, "seed")),
                            "18446744073709551615");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(recs, 1), "offset")),
                         4000);
        json_decref(doc);
        free(text);
        record_body_free(&b);
    }
}

static void test_json_empty_and_names(void **state)
{
    (void)state;
    struct file_info fi = fake_file();
    struct record_body b;
    char ct[SAMPLE_CONTENT_TYPE_LEN];
    struct sample_page p = {SAMPLE_FORMAT_JSON, "we\"ird\\\xff.bin", &fi, file_bytes, 7,
                            8, offsets_of(NULL, 0), 0};
    assert_true(sample_layout(&p, &b, ct));
    const char *want = "{\"file\":\"we\\\"ird\\\\\xef\xbf\xbd.bin\",\"etag\":\"\\\"1-1388-abc\\\"\","
                       "\"seed\":\"7\",\"records\":[]}\n";
    check_views(&b, want, strlen(want));
    record_body_free(&b);

    /* raw with no records: an empty body */
    p = (struct sample_page){SAMPLE_FORMAT_RAW, "f", &fi, file_bytes, 7, 8, offsets_of(NULL, 0), 0};
    assert_true(sample_layout(&p, &b, ct));
    assert_int_equal(b.length, 0);
    record_body_free(&b);
}

static void test_offsets_header(void **state)
{
    (void)state;
    uint64_t o[2000];
    for (size_t i = 0; i < 2000; i++)
        o[i] = i;
    char *h = sample_layout_offsets_header(o, 3);
    assert_string_equal(h, "[0,1,2]");
    free(h);
    h = sample_layout_offsets_header(o, 0);
    assert_string_equal(h, "[]");
    free(h);
    /* "[0,1,...,9," is 21 bytes; 4-digit offsets take 5 each with the comma: find the
     * largest n that fits exactly */
    size_t n = 0, len = 1;
    while (n < 2000) {
        char num[24];
        size_t add = (size_t)sprintf(num, "%zu", n) + (n ? 1 : 0);
        if (len + add + 1 > SAMPLE_OFFSETS_HEADER_MAX)
            break;
        len += add;
        n++;
    }
    h = sample_layout_offsets_header(o, n);
    assert_non_null(h);
    assert_int_equal(strlen(h), len + 1);
    free(h);
    assert_null(sample_layout_offsets_header(o, n + 1));
}

/* A truncated file under a body: the reader reports -1 instead of dying. */
static void test_reader_survives_sigbus(void **state)
{
    (void)state;
    assert_true(sigbus_guard_install());
    char path[] = "/tmp/mmapd-test-body-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    static unsigned char page[65536];
    assert_int_equal(write(fd, page, sizeof page), (ssize_t)sizeof page);
    unsigned char *base = mmap(NULL, sizeof page, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(base != MAP_FAILED);
    struct file_info fi = {.size = sizeof page, .fd = fd, .content_type = "x/y"};
    const uint64_t o[] = {0, 60000};
    for (int f = SAMPLE_FORMAT_MULTIPART; f <= SAMPLE_FORMAT_RAW; f++) {
        struct record_body b;
        char ct[SAMPLE_CONTENT_TYPE_LEN];
        struct sample_page p = {(enum sample_format)f, "f", &fi, base, 1, 100,
                                offsets_of(o, 2), 2};
        assert_true(sample_layout(&p, &b, ct));
        char buf[4096];
        struct held_copy c = {base, NULL, NULL, 0};
        assert_true(record_body_read(&b, &c, 0, buf, 50) > 0);
        assert_int_equal(ftruncate(fd, 4096), 0);
        assert_int_equal(record_body_read(&b, &c, 0, buf, sizeof buf), -1);
        assert_int_equal(ftruncate(fd, sizeof page), 0);
        assert_true(record_body_read(&b, &c, 0, buf, sizeof buf) > 0);
        record_body_free(&b);
    }
    munmap(base, sizeof page);
    close(fd);
}

/* A body that reads through the descriptor gives the bytes of the file, not of the mapping
 * it was laid out over (here a zeroed stand-in), in every format, and fails (-1) on a file
 * that shrank under it. */
static void test_read_through(void **state)
{
    (void)state;
    struct file_info fi = fake_file();
    char path[] = "/tmp/mmapd-test-through-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, file_bytes, FILE_SIZE), FILE_SIZE);
    static const unsigned char zeros[FILE_SIZE];
    const uint64_t o[] = {4990 - 490, 7, 1000, 0};
    for (int f = SAMPLE_FORMAT_MULTIPART; f <= SAMPLE_FORMAT_RAW; f++) {
        struct record_body want, got;
        char ct[SAMPLE_CONTENT_TYPE_LEN];
        build((enum sample_format)f, o, 4, 490, &fi, &want, ct);
        struct sample_page p = {(enum sample_format)f, "dir/file.bin", &fi, zeros,
                                18446744073709551615u, 490, offsets_of(o, 4), 4};
        assert_true(sample_layout(&p, &got, ct));
        record_body_read_through(&got, fd);
        char *a = read_all(&want, 4096), *b = read_all(&got, 37);
        assert_int_equal(got.length, want.length);
        assert_memory_equal(a, b, want.length);
        free(a);
        free(b);
        char buf[8192];
        struct held_copy c = {zeros, NULL, NULL, 0};
        assert_int_equal(ftruncate(fd, 4000), 0); /* the first record ends at 4990 */
        assert_int_equal(record_body_read(&got, &c, 0, buf, sizeof buf), -1);
        assert_int_equal(pwrite(fd, file_bytes, FILE_SIZE, 0), FILE_SIZE);
        record_body_free(&want);
        record_body_free(&got);
    }
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_empty_and_names),
        cmocka_unit_test(test_offsets_header),
        cmocka_unit_test(test_reader_survives_sigbus),
        cmocka_unit_test(test_read_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
