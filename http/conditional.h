/* conditional.h - RFC 9110 section 13 conditional-request decision (pure, no I/O).
 *
 * Given the request's precondition headers (NULL when absent) and the representation's
 * validators, cond_evaluate() applies them in the RFC 9110 13.2.2 order and says whether to
 * answer 412, 304 or go on. cond_if_range() says whether a Range header still applies:
 * If-Range matches only a strong ETag equal to ours, or a date equal to Last-Modified; a
 * weak ETag never matches. Malformed field values never match.
 */
#ifndef MMAPD_CONDITIONAL_H
#define MMAPD_CONDITIONAL_H

#include <stdbool.h>
#include <time.h>

struct validators {
    const char *etag;     /* strong entity-tag, quoted: "\"abc\"" */
    time_t last_modified; /* seconds, never later than now */
    time_t now;           /* the request's time, for two-digit years in RFC 850 dates */
};

struct preconditions {
    const char *if_match;
    const char *if_none_match;
    const char *if_modified_since;
    const char *if_unmodified_since;
};

enum cond_decision {
    COND_PROCEED,
    COND_NOT_MODIFIED,       /* 304 (GET and HEAD) */
    COND_PRECONDITION_FAILED /* 412 */
};

enum cond_decision cond_evaluate(const struct preconditions *pre, const struct validators *v);
bool cond_if_range(const char *if_range, const struct validators *v);

/* True when the field value (an entity-tag list or "*") matches `etag`; `weak` selects the
 * weak comparison (If-None-Match) instead of the strong one (If-Match). */
bool cond_etag_list_matches(const char *list, const char *etag, bool weak);

#endif
