/* fuzz_url_path.c - libFuzzer target: /files path decoding (http/url_path.h).
 * Checks that an accepted path never holds a NUL, a "." or ".." segment, or (unless allowed)
 * a dotfile segment, and always fits the buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/url_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(const char *out, size_t outsz, bool allow_dotfiles)
{
    size_t n = strnlen(out, outsz);
    if (n == outsz)
        abort();
    const char *seg = out;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t sl = slash ? (size_t)(slash - seg) : strlen(seg);
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            abort();
        if (!allow_dotfiles && sl > 0 && seg[0] == '.')
            abort();
        if (!slash)
            break;
        seg = slash + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char *raw = malloc(len + 1);
    memcpy(raw, data, len);
    raw[len] = '\0'; /* the URL as libmicrohttpd hands it over: a C string */
    char out[256];
    for (int allow = 0; allow < 2; allow++) {
        enum path_status st = url_path_decode(raw, allow, out, sizeof out);
        if (st == PATH_OK)
            check(out, sizeof out, allow);
        unsigned http = url_path_http_status(st);
        if ((st == PATH_OK) != (http == 0))
            abort();
    }
    free(raw);
    return 0;
}
