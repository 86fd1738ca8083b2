/* cors.h - CORS for browser clients that read ranges cross-origin (off by default).
 *
 * cors_policy_parse() reads --cors-origin: "*" (any origin) or a comma-separated list of
 * origins, each "scheme://host[:port]" (http or https, no path); false with a message for
 * anything else. cors_allow_origin() gives the Access-Control-Allow-Origin value for a
 * request's Origin header ("*", or the origin itself when listed) or NULL when the request
 * gets no CORS headers. CORS_EXPOSE_HEADERS is what a browser script may read of a response:
 * without it a cross-origin reader cannot see Content-Range or ETag.
 */
#ifndef MMAPD_CORS_H
#define MMAPD_CORS_H

#include <stdbool.h>
#include <stddef.h>

#define CORS_MAX_ORIGINS 16
#define CORS_ORIGIN_LEN 256

#define CORS_EXPOSE_HEADERS                                                                  \
    "Content-Range, Content-Length, Content-Type, ETag, Last-Modified, Accept-Ranges, "       \
    "Sample-Seed, Sample-Next, Sample-Records, Sample-Slots, Mmapd-Instance"
#define CORS_ALLOW_METHODS "GET, HEAD, OPTIONS"
#define CORS_ALLOW_HEADERS                                                                   \
    "Range, If-Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, "     \
    "Authorization"
#define CORS_MAX_AGE "600"

struct cors_policy {
    bool enabled;
    bool any;
    size_t n;
    char origin[CORS_MAX_ORIGINS][CORS_ORIGIN_LEN];
};

bool cors_policy_parse(struct cors_policy *p, const char *list, char *err, size_t errlen);
const char *cors_allow_origin(const struct cors_policy *p, const char *origin);

#endif
