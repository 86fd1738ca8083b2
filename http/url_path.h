/* url_path.h - turns the raw path of a /files URL into a relative file path (pure).
 *
 * url_path_decode() percent-decodes `raw` exactly once into `out` and checks every segment:
 * invalid escapes and decoded NUL bytes are PATH_BAD_REQUEST; "." and ".." segments are always
 * PATH_FORBIDDEN, other segments starting with '.' (dotfiles) are unless `allow_dotfiles`;
 * results longer than `outsz - 1` are PATH_TOO_LONG; an empty path is PATH_EMPTY. The result
 * is only a candidate: openat2(RESOLVE_BENEATH) still decides what it may reach.
 */
#ifndef MMAPD_URL_PATH_H
#define MMAPD_URL_PATH_H

#include <stdbool.h>
#include <stddef.h>

enum path_status {
    PATH_OK,
    PATH_EMPTY,
    PATH_BAD_REQUEST,
    PATH_FORBIDDEN,
    PATH_TOO_LONG,
};

enum path_status url_path_decode(const char *raw, bool allow_dotfiles, char *out, size_t outsz);

/* The value of one hex digit of a percent-escape (either case), or -1. */
int url_path_hex_digit(char c);

/* The HTTP status for a path_status: 0 for PATH_OK, 404 for PATH_EMPTY, else 400/403/414. */
unsigned url_path_http_status(enum path_status st);

#endif
