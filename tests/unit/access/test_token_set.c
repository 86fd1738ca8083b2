/* test_token_set.c - bearer token files and checks (access/token_set.h), CORS origin lists
 * (access/cors.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "access/token_set.h"
#include "access/cors.h"

static struct token_set set;

static bool load_text(const char *text, char *err, size_t errlen)
{
    char path[] = "/tmp/mmapd-test-tokens-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    bool ok = token_set_load(&set, path, err, errlen);
    unlink(path);
    return ok;
}

static void loads_tokens(void **state)
{
    (void)state;
    char err[256] = "";
    assert_true(load_text("# comment\n\n  abc.DEF-1  \r\nsecond~+/==\n", err, sizeof err));
    assert_int_equal(set.n, 2);
    assert_string_equal(set.token[0], "abc.DEF-1");
    assert_string_equal(set.token[1], "second~+/==");
    assert_int_equal(token_set_check(&set, "Bearer abc.DEF-1"), AUTH_OK);
    assert_int_equal(token_set_check(&set, "bearer second~+/=="), AUTH_OK);
    assert_int_equal(token_set_check(&set, "  BEARER \t abc.DEF-1 \t"), AUTH_OK);
}

static void rejects_bad_files(void **state)
{
    (void)state;
    char err[256];
    assert_false(load_text("good\nbad token\n", err, sizeof err));
    assert_non_null(strstr(err, "line 2 is not a token"));
    assert_null(strstr(err, "bad token"));
    assert_int_equal(set.n, 0);
    assert_false(load_text("# only a comment\n", err, sizeof err));
    assert_non_null(strstr(err, "no token"));
    assert_false(load_text("caf\xc3\xa9\n", err, sizeof err));
    char big[ACCESS_MAX_TOKEN_LEN + 10];
    memset(big, 'a', sizeof big - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    assert_false(load_text(big, err, sizeof err));
    assert_false(token_set_load(&set, "/nonexistent/tokens", err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
}

static void checks_headers(void **state)
{
    (void)state;
    char err[256];
    assert_true(load_text("tok123\nzz\n", err, sizeof err));
    assert_int_equal(token_set_check(&set, NULL), AUTH_MISSING);
    assert_int_equal(token_set_check(&set, ""), AUTH_MISSING);
    assert_int_equal(token_set_check(&set, "Basic tok123"), AUTH_MISSING);
    assert_int_equal(token_set_check(&set, "Bearertok123"), AUTH_MISSING);
    assert_int_equal(token_set_check(&set, "Bearer"), AUTH_MISSING);
    assert_int_equal(token_set_check(&set, "Bearer "), AUTH_INVALID);
    assert_int_equal(token_set_check(&set, "Bearer tok12"), AUTH_INVALID);
    assert_int_equal(token_set_check(&set, "Bearer tok1234"), AUTH_INVALID);
    assert_int_equal(token_set_check(&set, "Bearer TOK123"), AUTH_INVALID);
    assert_int_equal(token_set_check(&set, "Bearer tok123 zz"), AUTH_INVALID);
    assert_int_equal(token_set_check(&set, "Bearer tok123,zz"), AUTH_INVALID);
    assert_int_equal(token_set_check(&set, "Bearer z"), AUTH_INVALID);
    assert_int_equal(token_set_check(&set, "Bearer zz"), AUTH_OK);
    assert_int_equal(token_set_check(&set, "Bearer tok123"), AUTH_OK);
}

static void cors_lists(void **state)
{
    (void)state;
    struct cors_policy p = {0};
    char err[256];
    assert_null(cors_allow_origin(&p, "https://a.org")); /* off */
    assert_true(cors_policy_parse(&p, "https://a.org, http://localhost:3000,https://[::1]:8443", err,
                                  sizeof err));
    assert_int_equal(p.n, 3);
    assert_string_equal(cors_allow_origin(&p, "https://a.org"), "https://a.org");
    assert_string_equal(cors_allow_origin(&p, "HTTPS://A.ORG"), "HTTPS://A.ORG");
    assert_non_null(cors_allow_origin(&p, "http://localhost:3000"));
    assert_non_null(cors_allow_origin(&p, "https://[::1]:8443"));
    assert_null(cors_allow_origin(&p, "http://a.org"));
    assert_null(cors_allow_origin(&p, "https://a.org.evil"));
    assert_null(cors_allow_origin(&p, "null"));
    assert_null(cors_allow_origin(&p, NULL));
    assert_true(cors_policy_parse(&p, "*", err, sizeof err));
    assert_string_equal(cors_allow_origin(&p, "https://anyone.example"), "*");
    static const char *const bad[] = {"", " ", "a.org", "https://", "https://a.org/", "ftp://a.org",
                                      "https://a.org:", "https://a.org:1234567", "https://a b.org",
                                      "*,", ",https://a.org", "https://[::1"};
    struct cors_policy before = p;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(cors_policy_parse(&p, bad[i], err, sizeof err));
        assert_memory_equal(&p, &before, sizeof p); /* unchanged on error */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_tokens),
        cmocka_unit_test(rejects_bad_files),
        cmocka_unit_test(checks_headers),
        cmocka_unit_test(cors_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
