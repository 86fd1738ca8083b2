/* token_set.h - who may read: bearer tokens (RFC 6750) from a file, checked in constant time.
 *
 * token_set_load() reads one token per line from `path` (blank lines and lines starting with
 * '#' are skipped, surrounding whitespace trimmed); a token is 1 to ACCESS_MAX_TOKEN_LEN
 * characters of the RFC 6750 token68 alphabet. It fails with one line in `err` for an
 * unreadable file, a bad line (named by number, never by content) or no token at all.
 * token_set_check() takes an Authorization field value and compares the presented token
 * against every loaded token without an early exit, so the time taken does not depend on
 * which token, or which prefix of one, matched. Tokens are never copied into messages.
 */
#ifndef MMAPD_TOKEN_SET_H
#define MMAPD_TOKEN_SET_H

#include <stdbool.h>
#include <stddef.h>

#define ACCESS_MAX_TOKENS 64
#define ACCESS_MAX_TOKEN_LEN 512

struct token_set {
    size_t n;
    size_t len[ACCESS_MAX_TOKENS];
    char token[ACCESS_MAX_TOKENS][ACCESS_MAX_TOKEN_LEN];
};

enum auth_result {
    AUTH_OK,
    AUTH_MISSING, /* no Authorization header, or not the Bearer scheme */
    AUTH_INVALID, /* a bearer token that is not one of ours */
};

bool token_set_load(struct token_set *s, const char *path, char *err, size_t errlen);
enum auth_result token_set_check(const struct token_set *s, const char *authorization);

#endif
