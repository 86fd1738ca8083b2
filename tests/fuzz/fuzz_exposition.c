/* fuzz_exposition.c - libFuzzer target: the exposition writer (metrics/exposition.h).
 * Help text and label values come from the input; every output line must be a comment or a
 * sample of the family, with no raw newline inside label values or help text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/exposition.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check_lines(const char *text, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            abort(); /* every line ends in a newline */
        if (line[0] != '#' && strncmp(line, name, nlen) != 0)
            abort(); /* a line that is neither a comment nor a sample: an escaping bug */
        line = end + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = '\0';
    char *help = text, *value = strchr(text, '\t');
    if (value)
        *value++ = '\0';
    else
        value = text;
    static const char *const names[] = {"handler"};
    const char *values[] = {value};
    const double bounds[] = {0.001, 1};
    const uint64_t counts[] = {len, 1, 2};
    struct metric_histogram h = {bounds, 2, counts, (double)len / 7};
    struct metric_sample s[] = {{values, (double)len * 0.5, &h}};
    struct metric_family f[] = {
        {"fz_requests_total", help, METRIC_COUNTER, names, 1, s, 1},
        {"fz_gauge", help, METRIC_GAUGE, names, 1, s, 1},
        {"fz_seconds", help, METRIC_HISTOGRAM, names, 1, s, 1},
    };
    for (int fmt = 0; fmt < 2; fmt++) {
        struct strbuf out = {0};
        if (!exposition_write(&out, f, 3, (enum exposition_format)fmt))
            abort();
        char *t = strbuf_take(&out, NULL);
        check_lines(t, "fz_");
        free(t);
    }
    (void)exposition_negotiate(text);
    free(text);
    return 0;
}
