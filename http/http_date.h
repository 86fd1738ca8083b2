/* http_date.h - HTTP-date formatting and parsing (RFC 9110 5.6.7), pure.
 *
 * http_date_format() writes an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into a buffer
 * of at least HTTP_DATE_LEN bytes. http_date_parse() accepts the three forms a recipient must
 * accept (IMF-fixdate, RFC 850, asctime) and returns false for anything else, including days
 * that do not exist (31 Nov, 29 Feb 2001). An RFC 850 two-digit year is the most recent year
 * with those digits that is not more than 50 years after `now` (RFC 9110 5.6.7).
 */
#ifndef MMAPD_HTTP_DATE_H
#define MMAPD_HTTP_DATE_H

#include <stdbool.h>
#include <time.h>

#define HTTP_DATE_LEN 40 /* 29 characters for years 0-9999, room for more */

void http_date_format(time_t t, char out[HTTP_DATE_LEN]);
bool http_date_parse(const char *s, time_t now, time_t *out);

#endif
