/* exposition.c - render metric families as Prometheus text 0.0.4 or OpenMetrics 1.0.0. */
#include "metrics/exposition.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Shortest of %.15g / %.17g that reads back as v; integers without exponent. */
static void format_value(double v, char buf[40])
{
    if (isnan(v)) {
        strcpy(buf, "NaN");
    } else if (isinf(v)) {
        strcpy(buf, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, 40, "%.0f", v);
    } else {
        snprintf(buf, 40, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, 40, "%.17g", v);
    }
}

/* Escapes backslash and newline, and double quote when `quote`. */
static void put_escaped(struct strbuf *out, const char *s, bool quote)
{
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (*p == '"' && quote)
            rep = "\\\"";
        if (rep) {
            strbuf_append(out, run, (size_t)(p - run));
            strbuf_puts(out, rep);
            run = p + 1;
        }
    }
    strbuf_puts(out, run);
}

/* {a="x",b="y"} plus an optional extra label (le), or nothing when there are no labels. */
static void put_labels(struct strbuf *out, const struct metric_family *f,
                       const struct metric_sample *s, const char *extra_name,
                       const char *extra_value)
{
    if (f->nlabels == 0 && !extra_name)
        return;
    strbuf_puts(out, "{");
    for (size_t i = 0; i < f->nlabels; i++) {
        strbuf_printf(out, "%s%s=\"", i ? "," : "", f->label_names[i]);
        put_escaped(out, s->label_values[i], true);
        strbuf_puts(out, "\"");
    }
    if (extra_name) {
        strbuf_printf(out, "%s%s=\"", f->nlabels ? "," : "", extra_name);
        put_escaped(out, extra_value, true);
        strbuf_puts(out, "\"");
    }
    strbuf_puts(out, "}");
}

static void put_sample(struct strbuf *out, const struct metric_family *f,
                       const struct metric_sample *s, const char *suffix, const char *extra_name,
                       const char *extra_value, double v)
{
    char num[40];
    format_value(v, num);
    strbuf_puts(out, f->name);
    strbuf_puts(out, suffix);
    put_labels(out, f, s, extra_name, extra_value);
    strbuf_printf(out, " %s\n", num);
}

static void put_histogram(struct strbuf *out, const struct metric_family *f,
                          const struct metric_sample *s)
{
    const struct metric_histogram *h = s->histogram;
    uint64_t cumulative = 0;
    char le[40];
    for (size_t i = 0; i <= h->nbounds; i++) {
        cumulative += h->counts[i];
        if (i < h->nbounds)
            format_value(h->bounds[i], le);
        else
            strcpy(le, "+Inf");
        put_sample(out, f, s, "_bucket", "le", le, (double)cumulative);
    }
    put_sample(out, f, s, "_sum", NULL, NULL, h->sum);
    put_sample(out, f, s, "_count", NULL, NULL, (double)cumulative);
}

static const char *type_name(enum metric_type t)
{
    switch (t) {
    case METRIC_COUNTER: return "counter";
    case METRIC_HISTOGRAM: return "histogram";
    case METRIC_GAUGE:
    default: return "gauge";
    }
}

bool exposition_write(struct strbuf *out, const struct metric_family *families, size_t n,
                      enum exposition_format fmt)
{
    bool om = fmt == EXPOSITION_OPENMETRICS;
    for (size_t i = 0; i < n; i++) {
        const struct metric_family *f = &families[i];
        size_t namelen = strlen(f->name);
        /* OpenMetrics names a counter family without its _total suffix */
        if (om && f->type == METRIC_COUNTER && namelen > 6 &&
            strcmp(f->name + namelen - 6, "_total") == 0)
            namelen -= 6;
        strbuf_printf(out, "# HELP %.*s ", (int)namelen, f->name);
        put_escaped(out, f->help, om);
        strbuf_printf(out, "\n# TYPE %.*s %s\n", (int)namelen, f->name, type_name(f->type));
        for (size_t j = 0; j < f->nsamples; j++) {
            const struct metric_sample *s = &f->samples[j];
            if (f->type == METRIC_HISTOGRAM)
                put_histogram(out, f, s);
            else
                put_sample(out, f, s, "", NULL, NULL, s->value);
        }
    }
    if (om)
        strbuf_puts(out, "# EOF\n");
    return !out->failed;
}

/* The q value of one media range's parameters (1 when absent). */
static double quality(const char *params, size_t len)
{
    for (const char *p = params; p < params + len; p++)
        if ((p == params || p[-1] == ';' || p[-1] == ' ') && strncasecmp(p, "q=", 2) == 0)
            return strtod(p + 2, NULL);
    return 1.0;
}

enum exposition_format exposition_negotiate(const char *accept)
{
    static const char om[] = "application/openmetrics-text";
    if (!accept)
        return EXPOSITION_TEXT;
    const char *p = accept;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *q = p;
        while (q < p + len && (*q == ' ' || *q == '\t'))
            q++;
        size_t mlen = strcspn(q, ";,");
        while (mlen > 0 && (q[mlen - 1] == ' ' || q[mlen - 1] == '\t'))
            mlen--;
        if (mlen == sizeof om - 1 && strncasecmp(q, om, mlen) == 0 &&
            quality(q + mlen, len - (size_t)(q + mlen - p)) > 0)
            return EXPOSITION_OPENMETRICS;
        p += len;
        if (*p == ',')
            p++;
    }
    return EXPOSITION_TEXT;
}

const char *exposition_content_type(enum exposition_format fmt)
{
    return fmt == EXPOSITION_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                         : "text/plain; version=0.0.4; charset=utf-8";
}
