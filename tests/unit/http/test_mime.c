/* test_mime.c - mime_type_for() (http/mime.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/mime.h"

#define OCTET "application/octet-stream"

static void test_table(void **state)
{
    (void)state;
    static const struct {
        const char *path, *type;
    } cases[] = {
        {"a.txt", "text/plain; charset=utf-8"},
        {"a.log", "text/plain; charset=utf-8"},
        {"a.md", "text/markdown; charset=utf-8"},
        {"a.csv", "text/csv; charset=utf-8"},
        {"a.tsv", "text/tab-separated-values; charset=utf-8"},
        {"a.html", "text/html; charset=utf-8"},
        {"a.htm", "text/html; charset=utf-8"},
        {"a.css", "text/css; charset=utf-8"},
        {"a.js", "text/javascript; charset=utf-8"},
        {"a.json", "application/json"},
        {"a.jsonl", "application/jsonl"},
        {"a.ndjson", "application/x-ndjson"},
        {"a.xml", "application/xml"},
        {"a.pdf", "application/pdf"},
        {"a.zip", "application/zip"},
        {"a.gz", "application/gzip"},
        {"a.tar", "application/x-tar"},
        {"a.zst", "application/zstd"},
        {"a.xz", "application/x-xz"},
        {"a.bz2", "application/x-bzip2"},
        {"a.wasm", "application/wasm"},
        {"a.parquet", "application/vnd.apache.parquet"},
        {"a.arrow", "application/vnd.apache.arrow.file"},
        {"a.png", "image/png"},
        {"a.jpg", "image/jpeg"},
        {"a.jpeg", "image/jpeg"},
        {"a.gif", "image/gif"},
        {"a.webp", "image/webp"},
        {"a.svg", "image/svg+xml"},
        {"a.tif", "image/tiff"},
        {"a.tiff", "image/tiff"},
        {"a.mp4", "video/mp4"},
        {"a.webm", "video/webm"},
        {"a.mp3", "audio/mpeg"},
        {"a.wav", "audio/wav"},
        {"a.ogg", "audio/ogg"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(mime_type_for(cases[i].path), cases[i].type);
}

static void test_case_insensitive(void **state)
{
    (void)state;
    assert_string_equal(mime_type_for("PHOTO.JPG"), "image/jpeg");
    assert_string_equal(mime_type_for("Index.Html"), "text/html; charset=utf-8");
    assert_string_equal(mime_type_for("data.JSON"), "application/json");
}

static void test_last_extension_wins(void **state)
{
    (void)state;
    assert_string_equal(mime_type_for("archive.tar.gz"), "application/gzip");
    assert_string_equal(mime_type_for("notes.txt.pdf"), "application/pdf");
    assert_string_equal(mime_type_for("page.html.bak"), OCTET);
}

static void test_directories(void **state)
{
    (void)state;
    assert_string_equal(mime_type_for("dir/sub/file.css"), "text/css; charset=utf-8");
    /* a dot in a directory name is not the file's extension */
    assert_string_equal(mime_type_for("dir.png/file"), OCTET);
    assert_string_equal(mime_type_for("a.json/b/README"), OCTET);
    assert_string_equal(mime_type_for("dir/"), OCTET);
}

static void test_unknown_and_no_extension(void **state)
{
    (void)state;
    assert_string_equal(mime_type_for("README"), OCTET);
    assert_string_equal(mime_type_for("a.exe"), OCTET);
    assert_string_equal(mime_type_for("a.jp"), OCTET);   /* prefix of a known one */
    assert_string_equal(mime_type_for("a.jsonx"), OCTET); /* longer than a known one */
    assert_string_equal(mime_type_for("a."), OCTET);
    assert_string_equal(mime_type_for(""), OCTET);
    assert_string_equal(mime_type_for("txt"), OCTET);
}

static void test_dotfiles_have_no_extension(void **state)
{
    (void)state;
    assert_string_equal(mime_type_for(".png"), OCTET);
    assert_string_equal(mime_type_for("dir/.json"), OCTET);
    assert_string_equal(mime_type_for(".config.json"), "application/json");
}

static void test_static_strings(void **state)
{
    (void)state;
    /* the result is a static string: the same pointer every time */
    assert_ptr_equal(mime_type_for("x.png"), mime_type_for("y.PNG"));
    assert_ptr_equal(mime_type_for("x"), mime_type_for("y.unknown"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_last_extension_wins),
        cmocka_unit_test(test_directories),
        cmocka_unit_test(test_unknown_and_no_extension),
        cmocka_unit_test(test_dotfiles_have_no_extension),
        cmocka_unit_test(test_static_strings),
    };
    return cmocka_run_group_tests_name("mime", tests, NULL, NULL);
}
