/* token_set.c - bearer token file and constant-time checking. */
#include "access/token_set.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool token68_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool token_set_load(struct token_set *s, const char *path, char *err, size_t errlen)
{
    char line[ACCESS_MAX_TOKEN_LEN + 64];
    unsigned lineno = 0;
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "--auth-token-file %s: %s", path, strerror(errno));
        return false;
    }
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            snprintf(err, errlen, "--auth-token-file %s: line %u is too long", path, lineno);
            ok = false;
            break;
        }
        char *p = line;
        while (is_space(*p))
            p++;
        n = strlen(p);
        while (n > 0 && is_space(p[n - 1]))
            p[--n] = '\0';
        if (n == 0 || p[0] == '#')
            continue;
        bool valid = n <= ACCESS_MAX_TOKEN_LEN - 1;
        for (size_t i = 0; valid && i < n; i++)
            valid = token68_char(p[i]);
        if (!valid) {
            snprintf(err, errlen,
                     "--auth-token-file %s: line %u is not a token (1-%d characters of "
                     "A-Z a-z 0-9 - . _ ~ + / =)",
                     path, lineno, ACCESS_MAX_TOKEN_LEN - 1);
            ok = false;
        } else if (s->n == ACCESS_MAX_TOKENS) {
            snprintf(err, errlen, "--auth-token-file %s: more than %d tokens", path,
                     ACCESS_MAX_TOKENS);
            ok = false;
        } else {
            memcpy(s->token[s->n], p, n);
            s->len[s->n++] = n;
        }
    }
    if (ok && ferror(f)) {
        snprintf(err, errlen, "--auth-token-file %s: read error", path);
        ok = false;
    }
    fclose(f);
    if (ok && s->n == 0) {
        snprintf(err, errlen, "--auth-token-file %s: no token in the file", path);
        ok = false;
    }
    if (!ok)
        memset(s, 0, sizeof *s);
    return ok;
}

/* 1 when a and b are equal, 0 otherwise, in time that depends only on the lengths. */
static unsigned equal_ct(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned diff = alen != blen;
    for (size_t i = 0; i < alen; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)(i < blen ? b[i] : 0);
    return diff == 0;
}

enum auth_result token_set_check(const struct token_set *s, const char *authorization)
{
    if (!authorization)
        return AUTH_MISSING;
    const char *p = authorization;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return AUTH_MISSING;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = 0;
    while (token68_char(p[n]))
        n++;
    const char *rest = p + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (n == 0 || n >= ACCESS_MAX_TOKEN_LEN || *rest != '\0')
        return AUTH_INVALID;
    unsigned match = 0;
    for (size_t i = 0; i < s->n; i++)
        match |= equal_ct(p, n, s->token[i], s->len[i]);
    return match ? AUTH_OK : AUTH_INVALID;
}
