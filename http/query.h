/* query.h - what every query-string parser shares (pure, no I/O): percent-decoding exactly
 * once, the name step of an element, and the error that names the parameter at fault.
 *
 * A query is elements separated by '&' (empty ones skipped by the caller); an element is
 * NAME or NAME=VALUE, split at the first '='. Names and values are percent-decoded once: a
 * '%' not followed by two hex digits, or an escape that decodes to NUL, is "bad
 * percent-encoding"; '+' is a literal plus sign. query_element() checks, in this order:
 *   name encoding     "bad percent-encoding"  (param: the name as received, sanitised)
 *   empty name        "empty parameter name"  (param: "")
 *   known name        "unknown parameter"     (param: the client's name, sanitised)
 *   first occurrence  "repeated"
 *   a value present   "empty value"           ("n" and "n=" alike)
 * and leaves the value to the caller's parser.
 */
#ifndef MMAPD_QUERY_H
#define MMAPD_QUERY_H

#include <stdbool.h>
#include <stddef.h>

/* The parameter at fault and why. `param` is always printable ASCII (NUL-terminated, at
 * most 39 bytes): a known parameter name, or a client's unknown name sanitised (other bytes
 * as '?', truncated), safe for json_string(). `reason` is a fixed English phrase. */
struct query_error {
    char param[40];
    const char *reason;
};

/* Fills `err` (nothing when NULL): `len` bytes of `param` with bytes outside 0x21-0x7e as
 * '?', cut to 36 bytes plus "..." when longer than 39; `reason` is stored as is. */
void query_error_set(struct query_error *err, const char *param, size_t len,
                     const char *reason);

enum { QUERY_END = -1, QUERY_BAD = -2 };

/* The next byte of [*p, end) percent-decoded (0-255), QUERY_END, or QUERY_BAD for a bad
 * escape or a decoded NUL. */
int query_next_byte(const char **p, const char *end);

/* Percent-decodes [p, end) into out (room for `cap` bytes, no terminator added); *len is the
 * full decoded length even when it exceeds cap. false on a bad escape or a decoded NUL. */
bool query_decode(const char *p, const char *end, char *out, size_t cap, size_t *len);

/* buf[0, len) is `word`; safe when len exceeds the buffer. */
bool query_word_equals(const char *buf, size_t len, const char *word);

/* The name step of element [b, e): the index of its name in names[0, n), marked in seen[],
 * with *value pointing after the '=' (the value runs to e); -1 with `err` set otherwise. */
int query_element(const char *b, const char *e, const char *const *names, int n, bool *seen,
                  const char **value, struct query_error *err);

#endif
