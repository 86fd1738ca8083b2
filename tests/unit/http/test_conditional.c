/* test_conditional.c - conditional_evaluate(), conditional_if_range(),
 * conditional_etag_list_matches() (http/conditional.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/conditional.h"

#define ETAG "\"abc\""
#define LM 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */
#define DATE_EQ "Sun, 06 Nov 1994 08:49:37 GMT"
#define DATE_BEFORE "Sun, 06 Nov 1994 08:49:36 GMT"
#define DATE_AFTER "Sun, 06 Nov 1994 08:49:38 GMT"
#define DATE_EQ_850 "Sunday, 06-Nov-94 08:49:37 GMT"
#define DATE_EQ_ASC "Sun Nov  6 08:49:37 1994"
#define DATE_BEFORE_ASC "Sun Nov  6 08:49:36 1994"
#define DATE_BEFORE_850 "Sunday, 06-Nov-94 08:49:36 GMT"

static const struct validators V = {ETAG, LM, LM + 86400};

static enum cond_decision eval(const char *im, const char *inm, const char *ims,
                               const char *ius)
{
    struct preconditions pre = {
        .if_match = im, .if_none_match = inm, .if_modified_since = ims,
        .if_unmodified_since = ius};
    return conditional_evaluate(&pre, &V);
}

/* ---- conditional_evaluate ---- */

static void test_no_preconditions(void **state)
{
    (void)state;
    assert_int_equal(eval(NULL, NULL, NULL, NULL), COND_PROCEED);
}

static void test_if_match_strong(void **state)
{
    (void)state;
    assert_int_equal(eval(ETAG, NULL, NULL, NULL), COND_PROCEED);
    assert_int_equal(eval("\"xyz\"", NULL, NULL, NULL), COND_PRECONDITION_FAILED);
    assert_int_equal(eval("\"ab\"", NULL, NULL, NULL), COND_PRECONDITION_FAILED);
    assert_int_equal(eval("\"abcd\"", NULL, NULL, NULL), COND_PRECONDITION_FAILED);
    assert_int_equal(eval("\"ABC\"", NULL, NULL, NULL), COND_PRECONDITION_FAILED);
    assert_int_equal(eval("  \"abc\"  ", NULL, NULL, NULL), COND_PROCEED);
}

static void test_if_match_star(void **state)
{
    (void)state;
    assert_int_equal(eval("*", NULL, NULL, NULL), COND_PROCEED);
    assert_int_equal(eval(" * ", NULL, NULL, NULL), COND_PROCEED);
}

static void test_if_match_list(void **state)
{
    (void)state;
    assert_int_equal(eval("\"x\", \"abc\"", NULL, NULL, NULL), COND_PROCEED);
    assert_int_equal(eval("\"abc\",\"x\"", NULL, NULL, NULL), COND_PROCEED);
    assert_int_equal(eval("\"x\", \"y\", \"z\"", NULL, NULL, NULL), COND_PRECONDITION_FAILED);
    assert_int_equal(eval(", ,\"abc\", ,", NULL, NULL, NULL), COND_PROCEED);
}

static void test_if_match_weak_never_matches(void **state)
{
    (void)state;
    assert_int_equal(eval("W/\"abc\"", NULL, NULL, NULL), COND_PRECONDITION_FAILED);
    assert_int_equal(eval("W/\"abc\", \"x\"", NULL, NULL, NULL), COND_PRECONDITION_FAILED);
    /* a strong entry in the same list still matches */
    assert_int_equal(eval("W/\"abc\", \"abc\"", NULL, NULL, NULL), COND_PROCEED);
}

static void test_if_match_malformed_fails(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "abc", "\"abc", "abc\"", "\"abc\" junk", "\"x\" \"abc\"", "", "   ", "*, \"abc\"",
        "**", "w/\"abc\"", "W/abc", "\"a bc\"", "\"abc\";\"abc\"", "\"abc\", bogus"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (eval(bad[i], NULL, NULL, NULL) != COND_PRECONDITION_FAILED)
            print_error("If-Match '%s' did not fail\n", bad[i]);
        assert_int_equal(eval(bad[i], NULL, NULL, NULL), COND_PRECONDITION_FAILED);
    }
}

static void test_if_unmodified_since(void **state)
{
    (void)state;
    assert_int_equal(eval(NULL, NULL, NULL, DATE_EQ), COND_PROCEED);
    assert_int_equal(eval(NULL, NULL, NULL, DATE_AFTER), COND_PROCEED);
    assert_int_equal(eval(NULL, NULL, NULL, DATE_BEFORE), COND_PRECONDITION_FAILED);
    assert_int_equal(eval(NULL, NULL, NULL, DATE_BEFORE_850), COND_PRECONDITION_FAILED);
    assert_int_equal(eval(NULL, NULL, NULL, DATE_BEFORE_ASC), COND_PRECONDITION_FAILED);
    assert_int_equal(eval(NULL, NULL, NULL, DATE_EQ_ASC), COND_PROCEED);
}

static void test_if_unmodified_since_ignored_with_if_match(void **state)
{
    (void)state;
    assert_int_equal(eval(ETAG, NULL, NULL, DATE_BEFORE), COND_PROCEED);
    assert_int_equal(eval("*", NULL, NULL, DATE_BEFORE), COND_PROCEED);
    /* If-Match failing decides on its own */
    assert_int_equal(eval("\"x\"", NULL, NULL, DATE_AFTER), COND_PRECONDITION_FAILED);
}

static void test_if_unmodified_since_invalid_ignored(void **state)
{
    (void)state;
    static const char *const bad[] = {"yesterday", "", "Sun, 06 Nov 1994 08:49:36 GMT junk",
                                      "Sun, 06 Nov 1994 08:49:36", "0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(eval(NULL, NULL, NULL, bad[i]), COND_PROCEED);
}

static void test_if_none_match(void **state)
{
    (void)state;
    assert_int_equal(eval(NULL, ETAG, NULL, NULL), COND_NOT_MODIFIED);
    assert_int_equal(eval(NULL, "\"x\"", NULL, NULL), COND_PROCEED);
    assert_int_equal(eval(NULL, "\"ABC\"", NULL, NULL), COND_PROCEED);
}

static void test_if_none_match_weak_comparison(void **state)
{
    (void)state;
    assert_int_equal(eval(NULL, "W/\"abc\"", NULL, NULL), COND_NOT_MODIFIED);
    assert_int_equal(eval(NULL, "W/\"x\"", NULL, NULL), COND_PROCEED);
}

static void test_if_none_match_star_and_lists(void **state)
{
    (void)state;
    assert_int_equal(eval(NULL, "*", NULL, NULL), COND_NOT_MODIFIED);
    assert_int_equal(eval(NULL, "\"x\", W/\"abc\"", NULL, NULL), COND_NOT_MODIFIED);
    assert_int_equal(eval(NULL, "\"x\",\t\"abc\", \"y\"", NULL, NULL), COND_NOT_MODIFIED);
    assert_int_equal(eval(NULL, "\"x\", W/\"y\"", NULL, NULL), COND_PROCEED);
}

static void test_if_none_match_malformed_never_matches(void **state)
{
    (void)state;
    static const char *const bad[] = {"abc", "\"abc", "\"abc\" garbage", "\"x\" \"abc\"",
                                      "*, \"abc\"", "W/abc", "w/\"abc\"", "\"abc\", bogus", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (eval(NULL, bad[i], NULL, NULL) != COND_PROCEED)
            print_error("If-None-Match '%s' matched\n", bad[i]);
        assert_int_equal(eval(NULL, bad[i], NULL, NULL), COND_PROCEED);
    }
}

static void test_if_modified_since(void **state)
{
    (void)state;
    assert_int_equal(eval(NULL, NULL, DATE_EQ, NULL), COND_NOT_MODIFIED);
    assert_int_equal(eval(NULL, NULL, DATE_AFTER, NULL), COND_NOT_MODIFIED);
    assert_int_equal(eval(NULL, NULL, DATE_BEFORE, NULL), COND_PROCEED);
    assert_int_equal(eval(NULL, NULL, DATE_EQ_850, NULL), COND_NOT_MODIFIED);
    assert_int_equal(eval(NULL, NULL, DATE_EQ_ASC, NULL), COND_NOT_MODIFIED);
    assert_int_equal(eval(NULL, NULL, DATE_BEFORE_ASC, NULL), COND_PROCEED);
}

static void test_if_modified_since_ignored_with_if_none_match(void **state)
{
    (void)state;
    /* If-None-Match present and not matching: If-Modified-Since is not consulted */
    assert_int_equal(eval(NULL, "\"x\"", DATE_AFTER, NULL), COND_PROCEED);
    /* malformed If-None-Match still counts as present */
    assert_int_equal(eval(NULL, "garbage", DATE_AFTER, NULL), COND_PROCEED);
    /* If-None-Match matching decides alone */
    assert_int_equal(eval(NULL, ETAG, DATE_BEFORE, NULL), COND_NOT_MODIFIED);
}

static void test_if_modified_since_invalid_ignored(void **state)
{
    (void)state;
    assert_int_equal(eval(NULL, NULL, "not a date", NULL), COND_PROCEED);
    assert_int_equal(eval(NULL, NULL, "Sun, 06 Nov 1994 08:49:37 GMT, x", NULL), COND_PROCEED);
    assert_int_equal(eval(NULL, NULL, "Sun, 32 Nov 1994 08:49:37 GMT", NULL), COND_PROCEED);
}

static void test_evaluation_order(void **state)
{
    (void)state;
    /* step 1 before step 3: a failing If-Match wins over a matching If-None-Match */
    assert_int_equal(eval("\"x\"", ETAG, NULL, NULL), COND_PRECONDITION_FAILED);
    /* passing If-Match, then If-None-Match matches: 304 */
    assert_int_equal(eval(ETAG, ETAG, NULL, NULL), COND_NOT_MODIFIED);
    assert_int_equal(eval(ETAG, "\"x\"", NULL, NULL), COND_PROCEED);
    /* step 2 before step 3/4 */
    assert_int_equal(eval(NULL, ETAG, NULL, DATE_BEFORE), COND_PRECONDITION_FAILED);
    assert_int_equal(eval(NULL, NULL, DATE_EQ, DATE_BEFORE), COND_PRECONDITION_FAILED);
    assert_int_equal(eval(NULL, NULL, DATE_EQ, DATE_EQ), COND_NOT_MODIFIED);
    /* all four, all passing the 412 checks, INM not matching, IMS ignored */
    assert_int_equal(eval(ETAG, "\"x\"", DATE_AFTER, DATE_BEFORE), COND_PROCEED);
    /* all four, INM matching */
    assert_int_equal(eval("*", "*", DATE_BEFORE, DATE_AFTER), COND_NOT_MODIFIED);
}

/* ---- conditional_if_range ---- */

static void test_if_range_etag(void **state)
{
    (void)state;
    assert_true(conditional_if_range(ETAG, &V));
    assert_true(conditional_if_range("  \"abc\"\t", &V));
    assert_false(conditional_if_range("W/\"abc\"", &V));
    assert_false(conditional_if_range("\"xyz\"", &V));
    assert_false(conditional_if_range("\"ab\"", &V));
    assert_false(conditional_if_range("\"abcd\"", &V));
    assert_false(conditional_if_range("\"abc\"x", &V));
    assert_false(conditional_if_range("\"abc\", \"abc\"", &V)); /* one entity-tag, not a list */
    assert_false(conditional_if_range("\"abc", &V));
    assert_false(conditional_if_range("*", &V));
}

static void test_if_range_date(void **state)
{
    (void)state;
    assert_true(conditional_if_range(DATE_EQ, &V));
    assert_true(conditional_if_range(DATE_EQ_850, &V));
    assert_true(conditional_if_range(DATE_EQ_ASC, &V));
    assert_false(conditional_if_range(DATE_BEFORE, &V));
    assert_false(conditional_if_range(DATE_AFTER, &V));
}

/* RFC 9110 8.8.2.2: a Last-Modified date is strong only when the file cannot have changed
 * twice within its second; mmapd asks for COND_STRONG_DATE_AGE seconds of age. */
static void test_if_range_date_weak_when_recent(void **state)
{
    (void)state;
    static const time_t ages[] = {0, 1, 2, COND_STRONG_DATE_AGE - 1};
    for (size_t i = 0; i < sizeof ages / sizeof ages[0]; i++) {
        struct validators v = {ETAG, LM, LM + ages[i]};
        assert_false(conditional_if_range(DATE_EQ, &v));
        assert_false(conditional_if_range(DATE_EQ_850, &v));
        assert_false(conditional_if_range(DATE_EQ_ASC, &v));
        /* the strong ETag still matches, whatever the file's age */
        assert_true(conditional_if_range(ETAG, &v));
        assert_false(conditional_if_range("W/\"abc\"", &v));
    }
    struct validators v = {ETAG, LM, LM + COND_STRONG_DATE_AGE};
    assert_true(conditional_if_range(DATE_EQ, &v));
    assert_false(conditional_if_range(DATE_BEFORE, &v));
    v.now = LM + COND_STRONG_DATE_AGE + 1;
    assert_true(conditional_if_range(DATE_EQ, &v));
    /* a file dated long before 1970 does not overflow the age test */
    struct validators old = {ETAG, -2208988800, LM}; /* Mon, 01 Jan 1900 00:00:00 GMT */
    assert_true(conditional_if_range("Mon, 01 Jan 1900 00:00:00 GMT", &old));
}

static void test_if_range_garbage(void **state)
{
    (void)state;
    assert_false(conditional_if_range("", &V));
    assert_false(conditional_if_range("   ", &V));
    assert_false(conditional_if_range("garbage", &V));
    assert_false(conditional_if_range("784111777", &V));
    assert_false(conditional_if_range("Sun, 06 Nov 1994 08:49:37 GMTx", &V));
    assert_false(conditional_if_range("W/", &V));
}

/* ---- conditional_etag_list_matches ---- */

static void test_list_matches_strong_vs_weak(void **state)
{
    (void)state;
    assert_true(conditional_etag_list_matches(ETAG, ETAG, false));
    assert_true(conditional_etag_list_matches(ETAG, ETAG, true));
    assert_false(conditional_etag_list_matches("W/\"abc\"", ETAG, false));
    assert_true(conditional_etag_list_matches("W/\"abc\"", ETAG, true));
    assert_false(conditional_etag_list_matches("\"abd\"", ETAG, true));
}

static void test_list_matches_star(void **state)
{
    (void)state;
    assert_true(conditional_etag_list_matches("*", ETAG, false));
    assert_true(conditional_etag_list_matches("*", ETAG, true));
    assert_true(conditional_etag_list_matches("\t* ", ETAG, false));
    assert_false(conditional_etag_list_matches("**", ETAG, true));
    assert_false(conditional_etag_list_matches("*,*", ETAG, true));
    assert_false(conditional_etag_list_matches("* \"abc\"", ETAG, true));
}

static void test_list_matches_lists(void **state)
{
    (void)state;
    assert_true(conditional_etag_list_matches("\"a\", \"b\", \"abc\"", ETAG, false));
    assert_true(conditional_etag_list_matches("\"abc\",", ETAG, false));
    assert_true(conditional_etag_list_matches(",\"abc\"", ETAG, false));
    assert_true(conditional_etag_list_matches(" , \"abc\" , ", ETAG, false));
    assert_false(conditional_etag_list_matches("\"a\", \"b\"", ETAG, true));
    assert_false(conditional_etag_list_matches("", ETAG, true));
    assert_false(conditional_etag_list_matches(" , , ", ETAG, true));
    /* the empty opaque-tag is valid and matches only itself */
    assert_true(conditional_etag_list_matches("\"\"", "\"\"", false));
    assert_false(conditional_etag_list_matches("\"\"", ETAG, true));
}

static void test_list_matches_malformed(void **state)
{
    (void)state;
    /* a malformed list never matches, even when a good element would */
    assert_false(conditional_etag_list_matches("\"abc\", bogus", ETAG, true));
    assert_false(conditional_etag_list_matches("\"abc\" \"abc\"", ETAG, true));
    assert_false(conditional_etag_list_matches("\"abc\"x", ETAG, true));
    assert_false(conditional_etag_list_matches("w/\"abc\"", ETAG, true));
    assert_false(conditional_etag_list_matches("W/ \"abc\"", ETAG, true));
    assert_false(conditional_etag_list_matches("\"a\x7f\"", "\"a\x7f\"", true)); /* DEL not etagc */
    assert_false(conditional_etag_list_matches("\"a b\"", "\"a b\"", true));     /* SP not etagc */
}

static void test_list_matches_obs_text(void **state)
{
    (void)state;
    /* obs-text (0x80-0xFF) and '!' are etagc */
    assert_true(conditional_etag_list_matches("\"\xe9t\xe9\"", "\"\xe9t\xe9\"", false));
    assert_true(conditional_etag_list_matches("\"!#~\"", "\"!#~\"", false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_preconditions),
        cmocka_unit_test(test_if_match_strong),
        cmocka_unit_test(test_if_match_star),
        cmocka_unit_test(test_if_match_list),
        cmocka_unit_test(test_if_match_weak_never_matches),
        cmocka_unit_test(test_if_match_malformed_fails),
        cmocka_unit_test(test_if_unmodified_since),
        cmocka_unit_test(test_if_unmodified_since_ignored_with_if_match),
        cmocka_unit_test(test_if_unmodified_since_invalid_ignored),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_if_none_match_weak_comparison),
        cmocka_unit_test(test_if_none_match_star_and_lists),
        cmocka_unit_test(test_if_none_match_malformed_never_matches),
        cmocka_unit_test(test_if_modified_since),
        cmocka_unit_test(test_if_modified_since_ignored_with_if_none_match),
        cmocka_unit_test(test_if_modified_since_invalid_ignored),
        cmocka_unit_test(test_evaluation_order),
        cmocka_unit_test(test_if_range_etag),
        cmocka_unit_test(test_if_range_date),
        cmocka_unit_test(test_if_range_date_weak_when_recent),
        cmocka_unit_test(test_if_range_garbage),
        cmocka_unit_test(test_list_matches_strong_vs_weak),
        cmocka_unit_test(test_list_matches_star),
        cmocka_unit_test(test_list_matches_lists),
        cmocka_unit_test(test_list_matches_malformed),
        cmocka_unit_test(test_list_matches_obs_text),
    };
    return cmocka_run_group_tests_name("conditional", tests, NULL, NULL);
}
