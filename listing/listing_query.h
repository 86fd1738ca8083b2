/* listing_query.h - the query of a directory listing, parsed and checked (pure, no I/O).
 *
 * listing_query_parse() reads the raw query: the bytes after '?', percent-escapes as the
 * client sent them (the server keeps escapes). The grammar is http/query.h's, shared with
 * /sample's query:
 *   - Elements are separated by '&'; empty elements ("?&recursive=1&") are skipped. Each
 *     element is NAME or NAME=VALUE, split at the first '='.
 *   - Names and values are percent-decoded here, exactly once: "recursive=%31" is
 *     recursive=1, "after=a%2520b" the cursor "a%20b". A '%' not followed by two hex digits,
 *     or an escape that decodes to NUL, is an error. '+' is a plus sign, never a space.
 *     Names are case-sensitive.
 *
 * Parameters:
 *   recursive  0 or 1 (default 0): list subdirectories as well.
 *   limit      entries per page, 1 to LISTING_MAX_LIMIT (default LISTING_DEFAULT_LIMIT);
 *              unsigned decimal, digits only.
 *   after      the cursor: the page starts after this name (with recursive=1: relative
 *              path) in byte order. Any bytes but NUL, at most LISTING_MAX_AFTER of them once
 *              decoded; without recursive=1 no '/' (a name, not a path). It is only ever
 *              compared with names, never opened: it may name nothing that exists.
 *
 * The first problem found is reported, scanning elements left to right and checking, in each:
 *   name encoding        "bad percent-encoding"    (param: the name as received, sanitised)
 *   empty name           "empty parameter name"    (param: "")
 *   known name           "unknown parameter"       (param: the client's name, sanitised)
 *   first occurrence     "repeated"
 *   a value is present   "empty value"             ("limit" and "limit=" alike)
 *   value encoding       "bad percent-encoding"
 *   recursive            "must be 0 or 1"
 *   limit                "not a number" (anything but digits), "must be > 0",
 *                        "must be at most 10000" (LISTING_MAX_LIMIT)
 *   after                "too long"
 * then, after the last element:
 *   after with a '/' and no recursive=1   "contains '/': a path needs recursive=1"
 * Sanitised: bytes outside 0x21-0x7e become '?', and a name longer than 39 bytes is cut to
 * 36 plus "...". Work is linear in the length of the query.
 */
#ifndef MMAPD_LISTING_QUERY_H
#define MMAPD_LISTING_QUERY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "http/query.h" /* struct query_error: the parameter at fault */

#define LISTING_DEFAULT_LIMIT 1000
#define LISTING_MAX_LIMIT 10000 /* a literal: its reason text spells it */
#define LISTING_MAX_AFTER (PATH_MAX - 1)

struct listing_query {
    bool recursive;
    size_t limit;
    bool has_after;
    size_t after_len;
    char after[LISTING_MAX_AFTER + 1]; /* NUL-terminated when has_after */
};

/* Parses `query` (NULL or "" means no parameters: the defaults). true fills `q`; false fills
 * `err` (when not NULL) and leaves `q` unspecified. */
bool listing_query_parse(const char *query, struct listing_query *q,
                         struct query_error *err);

#endif
