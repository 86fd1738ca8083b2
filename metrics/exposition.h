/* exposition.h - Prometheus text format 0.0.4 and OpenMetrics 1.0.0 writer (pure).
 *
 * exposition_write() renders a snapshot of metric families into `out`: HELP and TYPE lines,
 * one line per sample, label values escaped (backslash, double quote, newline), histograms as
 * cumulative _bucket{le} lines ending in le="+Inf", then _sum and _count. For OpenMetrics,
 * counter families are announced without their _total suffix, HELP text escapes quotes too,
 * and the output ends with "# EOF". Family names must be valid metric names and counter names
 * must end in "_total"; the writer does not check. Returns false when out of memory.
 */
#ifndef MMAPD_EXPOSITION_H
#define MMAPD_EXPOSITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

enum exposition_format { EXPOSITION_TEXT, EXPOSITION_OPENMETRICS };

struct metric_histogram {
    const double *bounds;   /* ascending upper bounds, +Inf implied after the last */
    size_t nbounds;
    const uint64_t *counts; /* per bucket, NOT cumulative: nbounds + 1 entries */
    double sum;
};

struct metric_sample {
    const char *const *label_values; /* one per family label */
    double value;                    /* counters and gauges */
    const struct metric_histogram *histogram;
};

struct metric_family {
    const char *name;
    const char *help;
    enum metric_type type;
    const char *const *label_names;
    size_t nlabels;
    const struct metric_sample *samples;
    size_t nsamples;
};

bool exposition_write(struct strbuf *out, const struct metric_family *families, size_t n,
                      enum exposition_format fmt);

/* OpenMetrics when the Accept header asks for application/openmetrics-text (with a q > 0),
 * text 0.0.4 otherwise (no header, any type, text/plain, anything unknown). */
enum exposition_format exposition_negotiate(const char *accept);

const char *exposition_content_type(enum exposition_format fmt);

#endif
