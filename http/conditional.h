/* conditional.h - RFC 9110 section 13 conditional-request decision (pure, no I/O).
 *
 * Given the request's precondition headers (NULL when absent) and the representation's
 * validators, conditional_evaluate() applies them in the RFC 9110 13.2.2 order and says whether to
 * answer 412, 304 or go on. conditional_if_range() says whether a Range header still applies:
 * If-Range matches only a strong ETag equal to ours, or a date equal to a Last-Modified that
 * is a strong validator; a weak ETag never matches. Malformed field values never match.
 *
 * RFC 9110 13.1.5 lets only a strong validator match If-Range, and 8.8.2.2 lets an origin
 * server count a Last-Modified date as strong only when it knows the file did not change twice
 * within the second that date covers. A file can change again within the second its mtime
 * names, and a file system's clock (NFS, SMB) can run apart from ours, so a Last-Modified
 * counts as strong once it is COND_STRONG_DATE_AGE seconds older than `now` (Apache's 60):
 * an If-Range date of a file changed more recently never matches, and the whole file is sent.
 * The ETag path is not affected.
 */
#ifndef MMAPD_CONDITIONAL_H
#define MMAPD_CONDITIONAL_H

#include <stdbool.h>
#include <time.h>

#define COND_STRONG_DATE_AGE 60 /* seconds */

struct validators {
    const char *etag;     /* strong entity-tag, quoted: "\"abc\"" */
    time_t last_modified; /* seconds, never later than now */
    time_t now;           /* the request's time: two-digit years in RFC 850 dates, and
                             whether Last-Modified is old enough to be strong */
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

enum cond_decision conditional_evaluate(const struct preconditions *pre,
                                        const struct validators *v);
bool conditional_if_range(const char *if_range, const struct validators *v);

/* True when the field value (an entity-tag list or "*") matches `etag`; `weak` selects the
 * weak comparison (If-None-Match) instead of the strong one (If-Match). */
bool conditional_etag_list_matches(const char *list, const char *etag, bool weak);

#endif
