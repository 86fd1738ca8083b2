/* test_http_date.c - http_date_format() and http_date_parse() (http/http_date.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/http_date.h"

/* the request time used for RFC 850 two-digit years: 2026-11-24T00:00:00Z */
#define NOW ((time_t)1795478400)

static void expect_format(time_t t, const char *want)
{
    char buf[HTTP_DATE_LEN];
    memset(buf, 'x', sizeof buf);
    http_date_format(t, buf);
    assert_string_equal(buf, want);
}

static void expect_parse(const char *s, time_t want)
{
    time_t t = 12345;
    bool ok = http_date_parse(s, NOW, &t);
    if (!ok)
        print_error("'%s' was rejected\n", s);
    assert_true(ok);
    assert_int_equal((int64_t)t, (int64_t)want);
}

static void expect_reject(const char *s)
{
    time_t t = 12345;
    bool ok = http_date_parse(s, NOW, &t);
    if (ok)
        print_error("'%s' was accepted as %lld\n", s, (long long)t);
    assert_false(ok);
}

/* ---- format ---- */

static void test_format_known(void **state)
{
    (void)state;
    expect_format(784111777, "Sun, 06 Nov 1994 08:49:37 GMT");
    expect_format(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    expect_format(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
    expect_format(1000000000, "Sun, 09 Sep 2001 01:46:40 GMT");
    expect_format(2147483647, "Tue, 19 Jan 2038 03:14:07 GMT");
    expect_format((time_t)253402300799, "Fri, 31 Dec 9999 23:59:59 GMT");
}

static void test_format_before_epoch(void **state)
{
    (void)state;
    expect_format(-1, "Wed, 31 Dec 1969 23:59:59 GMT");
    expect_format(-315619200, "Fri, 01 Jan 1960 00:00:00 GMT");
}

static void test_format_length(void **state)
{
    (void)state;
    char buf[HTTP_DATE_LEN];
    http_date_format(784111777, buf);
    assert_int_equal(strlen(buf), 29);
}

/* ---- parse: the three forms ---- */

static void test_parse_imf_fixdate(void **state)
{
    (void)state;
    expect_parse("Sun, 06 Nov 1994 08:49:37 GMT", 784111777);
    expect_parse("Thu, 01 Jan 1970 00:00:00 GMT", 0);
    expect_parse("Tue, 29 Feb 2000 00:00:00 GMT", 951782400);
    expect_parse("Tue, 19 Jan 2038 03:14:07 GMT", 2147483647);
    expect_parse("Fri, 31 Dec 9999 23:59:59 GMT", (time_t)253402300799);
    expect_parse("Fri, 01 Jan 1960 00:00:00 GMT", -315619200);
}

static void test_parse_rfc850(void **state)
{
    (void)state;
    expect_parse("Sunday, 06-Nov-94 08:49:37 GMT", 784111777);
    expect_parse("Wednesday, 16-Nov-94 08:49:37 GMT", 784975777);
    /* two-digit years below 70 are 20xx */
    expect_parse("Saturday, 01-Jan-00 00:00:00 GMT", 946684800);
    expect_parse("Tuesday, 01-Jan-69 00:00:00 GMT", (time_t)3124224000);
    /* RFC 9110 5.6.7: at most 50 years after now (2026), else the century before */
    expect_parse("Thursday, 01-Jan-71 00:00:00 GMT", (time_t)3187296000);
    expect_parse("Saturday, 01-Jan-77 00:00:00 GMT", (time_t)220924800);
}

static void test_parse_asctime(void **state)
{
    (void)state;
    expect_parse("Sun Nov  6 08:49:37 1994", 784111777);
    expect_parse("Wed Nov 16 08:49:37 1994", 784975777);
    expect_parse("Sun Nov 06 08:49:37 1994", 784111777); /* 2DIGIT day is also allowed */
    expect_parse("Thu Jan  1 00:00:00 1970", 0);
}

static void test_parse_leap_second(void **state)
{
    (void)state;
    /* second 60 is allowed (leap second) and normalised */
    expect_parse("Sun, 06 Nov 1994 23:59:60 GMT", 784166400);
}

/* A valid IMF-fixdate one second before the epoch is a real date: time_t -1. */
static void test_parse_one_second_before_epoch(void **state)
{
    (void)state;
    expect_parse("Wed, 31 Dec 1969 23:59:59 GMT", -1);
}

/* ---- parse: rejects ---- */

static void test_reject_garbage(void **state)
{
    (void)state;
    expect_reject("");
    expect_reject("garbage");
    expect_reject("784111777");
    expect_reject("1994-11-06T08:49:37Z");
    expect_reject("Sun, 06 Nov 1994");
    expect_reject("Sun, 06 Nov 1994 08:49:37");
    expect_reject("Sun, 06 Nov 1994 08:49:37 UTC");
    expect_reject("Sun, 06 Nov 1994 08:49:37 gmt");
    expect_reject("Sun,06 Nov 1994 08:49:37 GMT");
    expect_reject("Sun, 6 Nov 1994 08:49:37 GMT");
    expect_reject("Sun, 06 nov 1994 08:49:37 GMT");
    expect_reject("Sun, 06 NOV 1994 08:49:37 GMT");
    expect_reject("Sun, 06 November 1994 08:49:37 GMT");
    expect_reject("Sun, 06 Nov 94 08:49:37 GMT");
    expect_reject("Sun, 06 Nov 1994 8:49:37 GMT");
    expect_reject("Sun, 06 Nov 1994 08:49 GMT");
    expect_reject("Sun, 06 Nov 1994 08-49-37 GMT");
    expect_reject("Sun, 06 Xyz 1994 08:49:37 GMT");
    expect_reject("Sun, 0a Nov 1994 08:49:37 GMT");
    expect_reject("Sun, 06 Nov 19x4 08:49:37 GMT");
}

static void test_reject_wrong_day_names(void **state)
{
    (void)state;
    expect_reject("Xyz, 06 Nov 1994 08:49:37 GMT");
    expect_reject("sun, 06 Nov 1994 08:49:37 GMT");
    expect_reject("SUN, 06 Nov 1994 08:49:37 GMT");
    expect_reject("Sunday, 06 Nov 1994 08:49:37 GMT"); /* long name in IMF-fixdate */
    expect_reject("Sun, 06-Nov-94 08:49:37 GMT");      /* short name in RFC 850 */
    expect_reject("Sonntag, 06-Nov-94 08:49:37 GMT");
    expect_reject("Sunday 06-Nov-94 08:49:37 GMT");
    expect_reject("Sunday Nov  6 08:49:37 1994"); /* long name in asctime */
    expect_reject("Xyz Nov  6 08:49:37 1994");
    expect_reject(", 06 Nov 1994 08:49:37 GMT");
}

static void test_reject_out_of_range(void **state)
{
    (void)state;
    expect_reject("Sun, 00 Nov 1994 08:49:37 GMT");
    expect_reject("Sun, 32 Nov 1994 08:49:37 GMT");
    expect_reject("Sun, 99 Nov 1994 08:49:37 GMT");
    expect_reject("Sun, 06 Nov 1994 24:00:00 GMT");
    expect_reject("Sun, 06 Nov 1994 08:60:00 GMT");
    expect_reject("Sun, 06 Nov 1994 08:49:61 GMT");
    expect_reject("Sun, 06 Nov 1994 99:99:99 GMT");
    expect_reject("Sunday, 32-Nov-94 08:49:37 GMT");
    expect_reject("Sunday, 06-Nov-94 25:49:37 GMT");
    expect_reject("Sun Nov  0 08:49:37 1994");
    expect_reject("Sun Nov 32 08:49:37 1994");
    expect_reject("Sun Nov  6 08:70:37 1994");
}

static void test_parse_last_days_of_month(void **state)
{
    (void)state;
    expect_parse("Sat, 29 Feb 2020 00:00:00 GMT", 1582934400); /* leap year */
    expect_parse("Wed, 30 Nov 1994 00:00:00 GMT", 786153600);
}

/* Days that do not exist in their month are out-of-range fields too: they must not be
 * silently normalised into the next month. */
static void test_reject_nonexistent_calendar_dates(void **state)
{
    (void)state;
    expect_reject("Thu, 31 Nov 1994 08:49:37 GMT"); /* November has 30 days */
    expect_reject("Thu, 29 Feb 2001 00:00:00 GMT"); /* 2001 is not a leap year */
    expect_reject("Mon, 30 Feb 2026 00:00:00 GMT");
    expect_reject("Thursday, 31-Apr-94 00:00:00 GMT");
    expect_reject("Thu Feb 29 00:00:00 2001");
}

static void test_reject_trailing_junk(void **state)
{
    (void)state;
    expect_reject("Sun, 06 Nov 1994 08:49:37 GMTx");
    expect_reject("Sun, 06 Nov 1994 08:49:37 GMT ");
    expect_reject("Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    expect_reject("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT");
    expect_reject("Sunday, 06-Nov-94 08:49:37 GMT;");
    expect_reject("Sun Nov  6 08:49:37 1994 ");
    expect_reject("Sun Nov  6 08:49:37 19945");
    expect_reject(" Sun, 06 Nov 1994 08:49:37 GMT");
}

static void test_reject_wrong_shapes(void **state)
{
    (void)state;
    expect_reject("Sun Nov 6 08:49:37 1994");   /* asctime day needs SP DIGIT or 2DIGIT */
    expect_reject("Sun Nov  6 08:49:37 94");    /* asctime year is 4 digits */
    expect_reject("Sunday, 06-Nov-1994 08:49:37 GMT"); /* RFC 850 year is 2 digits */
    expect_reject("Sunday, 06 Nov 94 08:49:37 GMT");
    expect_reject("Sun, 06-Nov-1994 08:49:37 GMT");
    expect_reject("Sun Nov  6 08:49:37 1994 GMT");
}

/* ---- round trip ---- */

static void test_round_trip(void **state)
{
    (void)state;
    static const time_t ts[] = {0, 1, 59, 60, 3599, 86399, 86400, 784111777, 951782400,
                                951868800, 1000000000, 1234567890, 1700000000, 2147483647,
                                (time_t)4102444800, (time_t)253402300799, -315619200};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        char buf[HTTP_DATE_LEN];
        http_date_format(ts[i], buf);
        time_t back = 0;
        assert_true(http_date_parse(buf, NOW, &back));
        assert_int_equal((int64_t)back, (int64_t)ts[i]);
    }
}

static void test_parse_then_format_canonical(void **state)
{
    (void)state;
    static const char *const in[] = {"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                                     "Sun, 06 Nov 1994 08:49:37 GMT"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        time_t t;
        char buf[HTTP_DATE_LEN];
        assert_true(http_date_parse(in[i], NOW, &t));
        http_date_format(t, buf);
        assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known),
        cmocka_unit_test(test_format_before_epoch),
        cmocka_unit_test(test_format_length),
        cmocka_unit_test(test_parse_imf_fixdate),
        cmocka_unit_test(test_parse_rfc850),
        cmocka_unit_test(test_parse_asctime),
        cmocka_unit_test(test_parse_leap_second),
        cmocka_unit_test(test_parse_one_second_before_epoch),
        cmocka_unit_test(test_reject_garbage),
        cmocka_unit_test(test_reject_wrong_day_names),
        cmocka_unit_test(test_reject_out_of_range),
        cmocka_unit_test(test_parse_last_days_of_month),
        cmocka_unit_test(test_reject_nonexistent_calendar_dates),
        cmocka_unit_test(test_reject_trailing_junk),
        cmocka_unit_test(test_reject_wrong_shapes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_parse_then_format_canonical),
    };
    return cmocka_run_group_tests_name("http_date", tests, NULL, NULL);
}
