/* cors.c - the --cors-origin list and the origin check. */
#include "access/cors.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* scheme "://" host [":" port], host letters, digits, '-', '.', or a [v6] literal. */
static bool valid_origin(const char *s, size_t n)
{
    size_t i;
    if (n > 7 && strncasecmp(s, "http://", 7) == 0)
        i = 7;
    else if (n > 8 && strncasecmp(s, "https://", 8) == 0)
        i = 8;
    else
        return false;
    size_t host = i;
    if (s[i] == '[') {
        while (i < n && s[i] != ']')
            i++;
        if (i == n)
            return false;
        i++;
    } else {
        while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.'))
            i++;
        if (i == host)
            return false;
    }
    if (i < n && s[i] == ':') {
        size_t digits = ++i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == digits || i - digits > 5)
            return false;
    }
    return i == n;
}

bool cors_policy_parse(struct cors_policy *p, const char *list, char *err, size_t errlen)
{
    struct cors_policy next = {.enabled = true};
    const char *item = list;
    for (;;) {
        while (*item == ' ' || *item == '\t')
            item++;
        size_t n = strcspn(item, ",");
        size_t end = n;
        while (end > 0 && (item[end - 1] == ' ' || item[end - 1] == '\t'))
            end--;
        if (end == 1 && item[0] == '*') {
            next.any = true;
        } else if (end == 0 || end >= CORS_ORIGIN_LEN || !valid_origin(item, end)) {
            snprintf(err, errlen,
                     "'%.200s' is not '*' or a list of origins like https://example.org:8443",
                     list);
            return false;
        } else if (next.n == CORS_MAX_ORIGINS) {
            snprintf(err, errlen, "more than %d origins", CORS_MAX_ORIGINS);
            return false;
        } else {
            memcpy(next.origin[next.n], item, end);
            next.origin[next.n++][end] = '\0';
        }
        if (item[n] != ',')
            break;
        item += n + 1;
    }
    *p = next;
    return true;
}

const char *cors_allow_origin(const struct cors_policy *p, const char *origin)
{
    if (!p->enabled || !origin)
        return NULL;
    if (p->any)
        return "*";
    for (size_t i = 0; i < p->n; i++)
        if (strcasecmp(p->origin[i], origin) == 0)
            return origin;
    return NULL;
}
