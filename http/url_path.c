/* url_path.c - one percent-decoding pass and per-segment checks for /files paths. */
#include "http/url_path.h"

#include <string.h>

int url_path_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static enum path_status check_segment(const char *seg, size_t len, bool allow_dotfiles)
{
    if (len == 0 || seg[0] != '.')
        return PATH_OK;
    if (len == 1 || (len == 2 && seg[1] == '.'))
        return PATH_FORBIDDEN;
    return allow_dotfiles ? PATH_OK : PATH_FORBIDDEN;
}

enum path_status url_path_decode(const char *raw, bool allow_dotfiles, char *out, size_t outsz)
{
    size_t n = 0;
    for (const char *p = raw; *p; p++) {
        char c = *p;
        if (c == '%') {
            int hi = url_path_hex_digit(p[1]), lo = hi < 0 ? -1 : url_path_hex_digit(p[2]);
            if (hi < 0 || lo < 0)
                return PATH_BAD_REQUEST;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return PATH_BAD_REQUEST;
            p += 2;
        }
        if (n + 1 >= outsz)
            return PATH_TOO_LONG;
        out[n++] = c;
    }
    out[n] = '\0';
    if (n == 0)
        return PATH_EMPTY;

    const char *seg = out;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        enum path_status st = check_segment(seg, len, allow_dotfiles);
        if (st != PATH_OK)
            return st;
        if (!slash)
            break;
        seg = slash + 1;
    }
    return PATH_OK;
}

unsigned url_path_http_status(enum path_status st)
{
    switch (st) {
    case PATH_EMPTY: return 404;
    case PATH_BAD_REQUEST: return 400;
    case PATH_FORBIDDEN: return 403;
    case PATH_TOO_LONG: return 414;
    case PATH_OK:
    default: return 0;
    }
}
