/* listing_text.h - the pure text helpers of directory listings (handlers/listing.c).
 *
 * File names are arbitrary non-NUL bytes, not necessarily UTF-8. Listings show them like this:
 *
 * - listing_text_put_utf8() appends a name as valid UTF-8 (what jansson accepts): every byte that
 *   does not start a well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
 *   nothing above U+10FFFF) becomes U+FFFD, one U+FFFD per bad byte. Valid names are copied
 *   unchanged. The result is for display only: it can be lossy.
 * - listing_text_put_html() appends the same text HTML-escaped for text and quoted attribute
 *   values: & < > " ' become &amp; &lt; &gt; &quot; &#39;, and control characters
 *   (U+0000-U+001F, U+007F) become U+FFFD as well.
 * - listing_text_put_href() appends the raw bytes percent-encoded (RFC 3986 2.1, upper-case hex):
 *   everything but the unreserved characters (ALPHA DIGIT - . _ ~) and '/'. It is lossless, so
 *   a link or an "href" always reaches the file, even when the displayed name is not exact.
 *
 * listing_text_wants_html() is the content negotiation: true when the Accept header gives
 * text/html a higher quality than application/json (RFC 9110 12.5.1: the most specific
 * matching media range decides each one's quality). So a browser ("text/html,application/
 * xhtml+xml,..." with the any-type range at q=0.8) or exactly "text/html" gets HTML; no
 * header, only the any-type range (curl's and wget's default), "application/json", or a tie
 * get JSON.
 *
 * listing_text_rfc3339() formats a Unix time as "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC), clamped
 * to the years 0000-9999 that the format can express.
 */
#ifndef MMAPD_LISTING_TEXT_H
#define MMAPD_LISTING_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/strbuf.h"

#define LISTING_RFC3339_LEN 24 /* "YYYY-MM-DDTHH:MM:SSZ" and the NUL, with room to spare */

void listing_text_put_utf8(struct strbuf *b, const char *s, size_t n);
void listing_text_put_html(struct strbuf *b, const char *s, size_t n);
void listing_text_put_href(struct strbuf *b, const char *s, size_t n);

/* The length of the well-formed UTF-8 sequence at s[0..n), or 0 when s[0] starts none. */
size_t listing_text_utf8_seq_len(const unsigned char *s, size_t n);

bool listing_text_wants_html(const char *accept);

void listing_text_rfc3339(time_t t, char out[LISTING_RFC3339_LEN]);

#endif
