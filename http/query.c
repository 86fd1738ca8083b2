/* query.c - percent-decoding once, element names, the parameter at fault. */
#include "http/query.h"

#include <string.h>

#include "http/url_path.h"

void query_error_set(struct query_error *err, const char *param, size_t len,
                     const char *reason)
{
    if (!err)
        return;
    const size_t room = sizeof err->param - 1;
    size_t n = len <= room ? len : room - 3;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)param[i];
        err->param[i] = c >= 0x21 && c <= 0x7e ? (char)c : '?';
    }
    if (len > room) {
        memcpy(err->param + n, "...", 3);
        n += 3;
    }
    err->param[n] = '\0';
    err->reason = reason;
}

int query_next_byte(const char **p, const char *end)
{
    if (*p >= end)
        return QUERY_END;
    int c = (unsigned char)*(*p)++;
    if (c != '%')
        return c;
    int hi = end - *p >= 2 ? url_path_hex_digit((*p)[0]) : -1;
    int lo = hi < 0 ? -1 : url_path_hex_digit((*p)[1]);
    if (hi < 0 || lo < 0 || hi + lo == 0)
        return QUERY_BAD;
    *p += 2;
    return hi * 16 + lo;
}

bool query_decode(const char *p, const char *end, char *out, size_t cap, size_t *len)
{
    size_t n = 0;
    for (int c; (c = query_next_byte(&p, end)) != QUERY_END; n++) {
        if (c == QUERY_BAD)
            return false;
        if (n < cap)
            out[n] = (char)c;
    }
    *len = n;
    return true;
}

bool query_word_equals(const char *buf, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(buf, word, len) == 0;
}

static int fail(struct query_error *err, const char *param, size_t len, const char *reason)
{
    query_error_set(err, param, len, reason);
    return -1;
}

int query_element(const char *b, const char *e, const char *const *names, int n, bool *seen,
                  const char **value, struct query_error *err)
{
    const char *eq = memchr(b, '=', (size_t)(e - b));
    const char *name_end = eq ? eq : e;
    char name[40];
    size_t name_len;
    if (!query_decode(b, name_end, name, sizeof name, &name_len))
        return fail(err, b, (size_t)(name_end - b), "bad percent-encoding");
    if (name_len == 0)
        return fail(err, "", 0, "empty parameter name");
    int id = -1;
    for (int i = 0; i < n && id < 0; i++)
        if (query_word_equals(name, name_len, names[i]))
            id = i;
    if (id < 0) /* longer than the buffer: reported cut (query_error_set keeps 36 bytes) */
        return fail(err, name, name_len <= sizeof name ? name_len : sizeof name + 1,
                    "unknown parameter");
    if (seen[id])
        return fail(err, names[id], strlen(names[id]), "repeated");
    seen[id] = true;
    if (!eq || eq + 1 == e)
        return fail(err, names[id], strlen(names[id]), "empty value");
    *value = eq + 1;
    return id;
}
