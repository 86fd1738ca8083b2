/* http_date.c - IMF-fixdate, RFC 850 and asctime dates for validators and conditionals. */
#include "http/http_date.h"

#include <stdio.h>
#include <string.h>

static const char wkday[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const weekday_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                            "Thursday", "Friday", "Saturday"};
static const char month[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void http_date_format(time_t t, char out[HTTP_DATE_LEN])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    snprintf(out, HTTP_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT", wkday[tm.tm_wday],
             tm.tm_mday, month[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static bool digits(const char **pp, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*pp)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *pp += n;
    *out = v;
    return true;
}

static bool lit(const char **pp, const char *s)
{
    size_t n = strlen(s);
    if (strncmp(*pp, s, n) != 0)
        return false;
    *pp += n;
    return true;
}

static bool month_name(const char **pp, int *mon)
{
    for (int i = 0; i < 12; i++)
        if (strncmp(*pp, month[i], 3) == 0) {
            *pp += 3;
            *mon = i;
            return true;
        }
    return false;
}

static bool time_of_day(const char **pp, struct tm *tm)
{
    return digits(pp, 2, &tm->tm_hour) && lit(pp, ":") && digits(pp, 2, &tm->tm_min) &&
           lit(pp, ":") && digits(pp, 2, &tm->tm_sec);
}

static bool day_name(const char **pp, bool long_form)
{
    for (int i = 0; i < 7; i++)
        if (lit(pp, long_form ? weekday_long[i] : wkday[i]))
            return true;
    return false;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static bool parse_imf(const char *p, struct tm *tm)
{
    return day_name(&p, false) && lit(&p, ", ") && digits(&p, 2, &tm->tm_mday) &&
           lit(&p, " ") && month_name(&p, &tm->tm_mon) && lit(&p, " ") &&
           digits(&p, 4, &tm->tm_year) && lit(&p, " ") && time_of_day(&p, tm) &&
           lit(&p, " GMT") && *p == '\0';
}

/* "Sunday, 06-Nov-94 08:49:37 GMT"; the century comes from `now` (RFC 9110 5.6.7). */
static bool parse_rfc850(const char *p, time_t now, struct tm *tm)
{
    if (!(day_name(&p, true) && lit(&p, ", ") && digits(&p, 2, &tm->tm_mday) && lit(&p, "-") &&
          month_name(&p, &tm->tm_mon) && lit(&p, "-") && digits(&p, 2, &tm->tm_year) &&
          lit(&p, " ") && time_of_day(&p, tm) && lit(&p, " GMT") && *p == '\0'))
        return false;
    struct tm now_tm;
    int this_year = gmtime_r(&now, &now_tm) ? now_tm.tm_year + 1900 : 1970;
    int year = this_year - this_year % 100 + tm->tm_year;
    if (year > this_year + 50)
        year -= 100;
    tm->tm_year = year;
    return true;
}

/* "Sun Nov  6 08:49:37 1994" */
static bool parse_asctime(const char *p, struct tm *tm)
{
    if (!(day_name(&p, false) && lit(&p, " ") && month_name(&p, &tm->tm_mon) && lit(&p, " ")))
        return false;
    if (*p == ' ') {
        p++;
        if (!digits(&p, 1, &tm->tm_mday))
            return false;
    } else if (!digits(&p, 2, &tm->tm_mday)) {
        return false;
    }
    return lit(&p, " ") && time_of_day(&p, tm) && lit(&p, " ") &&
           digits(&p, 4, &tm->tm_year) && *p == '\0';
}

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int mon /* 0-11 */)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return days[mon] + (mon == 1 && is_leap(y));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool http_date_parse(const char *s, time_t now, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!parse_imf(s, &tm) && !(memset(&tm, 0, sizeof tm), parse_rfc850(s, now, &tm)) &&
        !(memset(&tm, 0, sizeof tm), parse_asctime(s, &tm)))
        return false;
    /* tm_year holds the full year here */
    if (tm.tm_mday < 1 || tm.tm_mday > days_in_month(tm.tm_year, tm.tm_mon) ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    long long days = days_from_civil(tm.tm_year, tm.tm_mon + 1, tm.tm_mday);
    *out = (time_t)(days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
    return true;
}
