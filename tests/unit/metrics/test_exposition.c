/* test_exposition.c - the exposition writer: every metric type, escaping, histogram
 * consistency, OpenMetrics differences, content negotiation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/exposition.h"

static char *render(const struct metric_family *f, size_t n, enum exposition_format fmt)
{
    struct strbuf out = {0};
    assert_true(exposition_write(&out, f, n, fmt));
    return strbuf_take(&out, NULL);
}

static const char *const L_H[] = {"handler"};

static void counter_and_gauge_text(void **state)
{
    (void)state;
    const char *v1[] = {"files"}, *v2[] = {"health"};
    struct metric_sample cs[] = {{v1, 3, NULL}, {v2, 12345678901.0, NULL}};
    struct metric_sample gs[] = {{NULL, 0.5, NULL}};
    struct metric_family f[] = {
        {"x_requests_total", "Requests.", METRIC_COUNTER, L_H, 1, cs, 2},
        {"x_in_flight", "In flight.", METRIC_GAUGE, NULL, 0, gs, 1},
    };
    char *t = render(f, 2, EXPOSITION_TEXT);
    assert_string_equal(t, "# HELP x_requests_total Requests.\n"
                           "# TYPE x_requests_total counter\n"
                           "x_requests_total{handler=\"files\"} 3\n"
                           "x_requests_total{handler=\"health\"} 12345678901\n"
                           "# HELP x_in_flight In flight.\n"
                           "# TYPE x_in_flight gauge\n"
                           "x_in_flight 0.5\n");
    free(t);
}

static void counter_openmetrics(void **state)
{
    (void)state;
    const char *v1[] = {"files"};
    struct metric_sample cs[] = {{v1, 7, NULL}};
    struct metric_family f[] = {{"x_requests_total", "Say \"hi\".", METRIC_COUNTER, L_H, 1, cs, 1}};
    char *t = render(f, 1, EXPOSITION_OPENMETRICS);
    assert_string_equal(t, "# HELP x_requests Say \\\"hi\\\".\n"
                           "# TYPE x_requests counter\n"
                           "x_requests_total{handler=\"files\"} 7\n"
                           "# EOF\n");
    free(t);
}

static void label_and_help_escaping(void **state)
{
    (void)state;
    const char *v[] = {"a\\b\"c\nd"};
    struct metric_sample s[] = {{v, 1, NULL}};
    struct metric_family f[] = {{"x_g", "back\\slash\nnew \"q\"", METRIC_GAUGE, L_H, 1, s, 1}};
    char *t = render(f, 1, EXPOSITION_TEXT);
    /* text 0.0.4: HELP escapes backslash and newline only; label values also quotes */
    assert_string_equal(t, "# HELP x_g back\\\\slash\\nnew \"q\"\n"
                           "# TYPE x_g gauge\n"
                           "x_g{handler=\"a\\\\b\\\"c\\nd\"} 1\n");
    free(t);
}

static void histogram_consistency(void **state)
{
    (void)state;
    const double bounds[] = {0.001, 0.01, 1};
    const uint64_t counts[] = {2, 0, 3, 1}; /* last: above 1 s */
    struct metric_histogram h = {bounds, 3, counts, 4.25};
    const char *v[] = {"files"};
    struct metric_sample s[] = {{v, 0, &h}};
    struct metric_family f[] = {{"x_seconds", "Durations.", METRIC_HISTOGRAM, L_H, 1, s, 1}};
    char *t = render(f, 1, EXPOSITION_TEXT);
    assert_string_equal(t, "# HELP x_seconds Durations.\n"
                           "# TYPE x_seconds histogram\n"
                           "x_seconds_bucket{handler=\"files\",le=\"0.001\"} 2\n"
                           "x_seconds_bucket{handler=\"files\",le=\"0.01\"} 2\n"
                           "x_seconds_bucket{handler=\"files\",le=\"1\"} 5\n"
                           "x_seconds_bucket{handler=\"files\",le=\"+Inf\"} 6\n"
                           "x_seconds_sum{handler=\"files\"} 4.25\n"
                           "x_seconds_count{handler=\"files\"} 6\n");
    free(t);
}

static void histogram_without_labels_openmetrics(void **state)
{
    (void)state;
    const double bounds[] = {0.5};
    const uint64_t counts[] = {1, 1};
    struct metric_histogram h = {bounds, 1, counts, 0.75};
    struct metric_sample s[] = {{NULL, 0, &h}};
    struct metric_family f[] = {{"y_seconds", "D.", METRIC_HISTOGRAM, NULL, 0, s, 1}};
    char *t = render(f, 1, EXPOSITION_OPENMETRICS);
    assert_string_equal(t, "# HELP y_seconds D.\n"
                           "# TYPE y_seconds histogram\n"
                           "y_seconds_bucket{le=\"0.5\"} 1\n"
                           "y_seconds_bucket{le=\"+Inf\"} 2\n"
                           "y_seconds_sum 0.75\n"
                           "y_seconds_count 2\n"
                           "# EOF\n");
    free(t);
}

static void special_values(void **state)
{
    (void)state;
    struct metric_sample s[] = {{NULL, 1.0 / 0.0, NULL}, {NULL, 0.1, NULL}, {NULL, 1e300, NULL}};
    struct metric_family f[] = {{"z", "Z.", METRIC_GAUGE, NULL, 0, s, 3}};
    char *t = render(f, 1, EXPOSITION_TEXT);
    assert_string_equal(t, "# HELP z Z.\n# TYPE z gauge\nz +Inf\nz 0.1\nz 1e+300\n");
    free(t);
}

static void negotiation(void **state)
{
    (void)state;
    assert_int_equal(exposition_negotiate(NULL), EXPOSITION_TEXT);
    assert_int_equal(exposition_negotiate("*/*"), EXPOSITION_TEXT);
    assert_int_equal(exposition_negotiate("text/plain;version=0.0.4"), EXPOSITION_TEXT);
    assert_int_equal(exposition_negotiate("application/json"), EXPOSITION_TEXT);
    assert_int_equal(exposition_negotiate("application/openmetrics-text;version=1.0.0"),
                     EXPOSITION_OPENMETRICS);
    /* what Prometheus 2.x sends */
    assert_int_equal(exposition_negotiate("application/openmetrics-text;version=1.0.0,"
                                          "application/openmetrics-text;version=0.0.1;q=0.75,"
                                          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                     EXPOSITION_OPENMETRICS);
    assert_int_equal(exposition_negotiate("text/plain, Application/OpenMetrics-Text ; q=0.3"),
                     EXPOSITION_OPENMETRICS);
    assert_int_equal(exposition_negotiate("application/openmetrics-text;q=0"), EXPOSITION_TEXT);
    assert_int_equal(exposition_negotiate("application/openmetrics-textx"), EXPOSITION_TEXT);
    assert_string_equal(exposition_content_type(EXPOSITION_TEXT),
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(exposition_content_type(EXPOSITION_OPENMETRICS),
                        "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counter_and_gauge_text),
        cmocka_unit_test(counter_openmetrics),
        cmocka_unit_test(label_and_help_escaping),
        cmocka_unit_test(histogram_consistency),
        cmocka_unit_test(histogram_without_labels_openmetrics),
        cmocka_unit_test(special_values),
        cmocka_unit_test(negotiation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
