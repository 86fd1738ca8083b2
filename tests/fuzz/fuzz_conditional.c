/* fuzz_conditional.c - libFuzzer target: the conditional-request decision and HTTP dates.
 * Input: up to five newline-separated field values (If-Match, If-None-Match,
 * If-Modified-Since, If-Unmodified-Since, If-Range). Checks: no crash; a strong ETag match
 * implies a weak one; a parsed date formats and parses back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/conditional.h"
#include "http/http_date.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = '\0';
    char *field[5] = {NULL, NULL, NULL, NULL, NULL};
    char *p = text;
    for (int i = 0; i < 5 && p; i++) {
        field[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    const time_t now = 1795478400; /* 2026-11-24 */
    struct validators v = {"\"abc-10-20\"", 784111777, now};
    struct preconditions pre = {field[0], field[1], field[2], field[3]};
    enum cond_decision d = conditional_evaluate(&pre, &v);
    if (d != COND_PROCEED && d != COND_NOT_MODIFIED && d != COND_PRECONDITION_FAILED)
        abort();
    if (field[4])
        (void)conditional_if_range(field[4], &v);
    for (int i = 0; i < 5; i++) {
        if (!field[i])
            continue;
        if (conditional_etag_list_matches(field[i], v.etag, false) &&
            !conditional_etag_list_matches(field[i], v.etag, true))
            abort();
        time_t t;
        if (http_date_parse(field[i], now, &t) && t >= 0 && t < 253402300800) {
            char buf[HTTP_DATE_LEN];
            time_t back;
            http_date_format(t, buf);
            if (!http_date_parse(buf, now, &back) || back != t)
                abort();
        }
    }
    free(text);
    return 0;
}
