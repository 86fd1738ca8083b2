/* test_metrics.c - per-thread shards summed at render time (metrics/metrics.h): exact
 * counts from several threads, histogram placement, instrument levels, more threads than
 * shards, both exposition formats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filedata/advice.h"
#include "metrics/metrics.h"

#define MS 1000000ull /* nanoseconds */

static const struct metrics_inputs no_inputs = {0};

static char *render(struct metrics *m, const struct metrics_inputs *in,
                    enum exposition_format fmt)
{
    size_t len = 0;
    char *t = metrics_render(m, in ? in : &no_inputs, fmt, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    return t;
}

/* The line of `series` (name and labels exactly as rendered), or NULL. */
static const char *find_series(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return p;
    return NULL;
}

/* The value of `series`; fails the test when it is missing. */
static double value_of(const char *text, const char *series)
{
    const char *line = find_series(text, series);
    if (!line)
        fail_msg("no sample '%s' in:\n%s", series, text);
    char *end;
    double v = strtod(line + strlen(series) + 1, &end);
    if (*end != '\n')
        fail_msg("sample '%s' has no plain value", series);
    return v;
}

/* Requires the exact line "series value\n". */
static void expect_line(const char *text, const char *series, uint64_t value)
{
    char want[512];
    snprintf(want, sizeof want, "%s %" PRIu64 "\n", series, value);
    const char *line = find_series(text, series);
    if (!line)
        fail_msg("no sample '%s' (wanted '%s')", series, want);
    if (strncmp(line, want, strlen(want)) != 0)
        fail_msg("wanted '%s', got '%.*s'", want, (int)strcspn(line, "\n"), line);
}

static void expect_no_series(const char *text, const char *series)
{
    if (find_series(text, series))
        fail_msg("unexpected sample '%s'", series);
}

static struct request_record rec(enum metric_handler h, enum metric_method meth,
                                 unsigned status, uint64_t body, uint64_t age_ns,
                                 uint64_t miss)
{
    return (struct request_record){h, meth, status, body, metrics_now_ns() - age_ns, miss, 0};
}

/* ---- two threads with known records ---- */

/* The duration bucket bounds of the exposition (metrics.c), for placement checks. */
static const char *const les[] = {"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                                  "0.005", "0.01",   "0.025",   "0.05",   "0.1",   "0.25",
                                  "0.5",   "1",      "2.5",     "5",      "10",    "+Inf"};
#define NLES (sizeof les / sizeof les[0])

struct worker {
    struct metrics *m;
    int which;
};

/* Durations sit in the middle of wide buckets (30 ms in (0.025, 0.05], 150 ms in
 * (0.1, 0.25], 1.5 s in (1, 2.5], 20 s above 10), so a scheduling delay of up to 20 ms
 * cannot move a sample to another bucket. */
static void *two_threads_worker(void *arg)
{
    struct worker *w = arg;
    struct metrics *m = w->m;
    struct request_record r;
    if (w->which == 0) {
        for (int i = 0; i < 3; i++) {
            r = rec(MH_FILES, MM_GET, 200, 1000, 30 * MS, 0);
            metrics_request_done(m, &r);
        }
        for (int i = 0; i < 2; i++) {
            r = rec(MH_FILES, MM_HEAD, 200, 0, 150 * MS, 0);
            metrics_request_done(m, &r);
        }
        r = rec(MH_OTHER, MM_POST, 404, 50, 30 * MS, 0);
        metrics_request_done(m, &r);
        metrics_range(m, MR_SINGLE);
        metrics_range(m, MR_UNSATISFIABLE);
        metrics_read_error(m, MRE_SIGBUS);
        metrics_madvise(m, ACCESS_STREAM, ADVICE_WILLNEED, true);
        metrics_connection_rejected(m, MRJ_PER_IP);
        metrics_file_cache(m, MFC_HIT);
        metrics_file_cache(m, MFC_MISS);
        metrics_file_cache(m, MFC_ADMISSION);
        metrics_blocking_read(m, MH_SAMPLE);
    } else {
        for (int i = 0; i < 4; i++) {
            r = rec(MH_FILES, MM_GET, 206, 10, 1500 * MS, 0);
            metrics_request_done(m, &r);
        }
        r = rec(MH_FILES, MM_GET, 200, 1000, 20000 * MS, 0);
        metrics_request_done(m, &r);
        r = rec(MH_HEALTH, MM_GET, 299, 16, 30 * MS, 0); /* not a known code: "other" */
        metrics_request_done(m, &r);
        r = rec(MH_METRICS, MM_OTHER, 405, 7, 30 * MS, 0);
        metrics_request_done(m, &r);
        metrics_range(m, MR_SINGLE);
        metrics_range(m, MR_MULTI);
        metrics_range(m, MR_IGNORED);
        metrics_range(m, MR_IGNORED);
        metrics_read_error(m, MRE_SHORT);
        metrics_read_error(m, MRE_SHORT);
        metrics_madvise(m, ACCESS_STREAM, ADVICE_WILLNEED, true);
        metrics_madvise(m, ACCESS_RANDOM, ADVICE_RANDOM, false);
        metrics_connection_rejected(m, MRJ_PER_IP);
        metrics_connection_rejected(m, MRJ_MEMORY_POOL);
        metrics_file_cache(m, MFC_HIT);
        metrics_file_cache(m, MFC_HIT);
        metrics_file_cache(m, MFC_EVICTION);
    }
    return NULL;
}

static void run_two_threads(struct metrics *m)
{
    pthread_t t[2];
    struct worker w[2] = {{m, 0}, {m, 1}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, two_threads_worker, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
}

/* Requires the cumulative buckets of one handler's duration histogram to be `want`
 * (NLES entries, per bucket, not cumulative), and returns _sum after checking _count. */
static double expect_histogram(const char *text, const char *handler, const uint64_t *want)
{
    char series[160];
    uint64_t cumulative = 0;
    for (size_t i = 0; i < NLES; i++) {
        cumulative += want[i];
        snprintf(series, sizeof series,
                 "mmapd_http_request_duration_seconds_bucket{handler=\"%s\",le=\"%s\"}", handler,
                 les[i]);
        expect_line(text, series, cumulative);
    }
    snprintf(series, sizeof series, "mmapd_http_request_duration_seconds_count{handler=\"%s\"}",
             handler);
    expect_line(text, series, cumulative);
    snprintf(series, sizeof series, "mmapd_http_request_duration_seconds_sum{handler=\"%s\"}",
             handler);
    return value_of(text, series);
}

/* The sum of durations is at least the nominal one, and exceeds it by less than the
 * scheduling slack allowed per sample (the samples did not move buckets either). */
static void expect_sum(double sum, double nominal, unsigned samples)
{
    if (!(sum >= nominal && sum < nominal + 0.02 * samples))
        fail_msg("duration sum %.9f, nominal %.3f for %u samples", sum, nominal, samples);
}

static void two_threads_text(void **state)
{
    (void)state;
    struct metrics *m = metrics_create(INSTRUMENT_FULL);
    assert_non_null(m);
    assert_int_equal(metrics_level(m), INSTRUMENT_FULL);
    run_two_threads(m);
    struct metrics_inputs in = {.in_flight = 7, .mapped_files = 3, .mapped_bytes = 12345,
                                .connections_open = 5, .open_files = 9,
                                .file_cache_entries = 8, .file_cache_capacity = 100};
    char *t = render(m, &in, EXPOSITION_TEXT);

    expect_line(t, "mmapd_http_requests_total{handler=\"files\",method=\"GET\",code=\"200\"}", 4);
    expect_line(t, "mmapd_http_requests_total{handler=\"files\",method=\"HEAD\",code=\"200\"}", 2);
    expect_line(t, "mmapd_http_requests_total{handler=\"files\",method=\"GET\",code=\"206\"}", 4);
    expect_line(t, "mmapd_http_requests_total{handler=\"other\",method=\"POST\",code=\"404\"}", 1);
    expect_line(t, "mmapd_http_requests_total{handler=\"health\",method=\"GET\",code=\"other\"}",
                1);
    expect_line(t,
                "mmapd_http_requests_total{handler=\"metrics\",method=\"other\",code=\"405\"}", 1);
    /* only the series that counted something are rendered */
    expect_no_series(t,
                     "mmapd_http_requests_total{handler=\"files\",method=\"HEAD\",code=\"206\"}");
    expect_no_series(t,
                     "mmapd_http_requests_total{handler=\"sample\",method=\"GET\",code=\"200\"}");

    expect_line(t, "mmapd_http_response_bytes_total{handler=\"files\"}", 3 * 1000 + 4 * 10 + 1000);
    expect_line(t, "mmapd_http_response_bytes_total{handler=\"other\"}", 50);
    expect_line(t, "mmapd_http_response_bytes_total{handler=\"health\"}", 16);
    expect_line(t, "mmapd_http_response_bytes_total{handler=\"metrics\"}", 7);
    expect_line(t, "mmapd_http_response_bytes_total{handler=\"sample\"}", 0);

    /* files: 3 x 30 ms, 2 x 150 ms, 4 x 1.5 s, 1 x 20 s */
    uint64_t files[NLES] = {0};
    files[9] = 3;  /* le=0.05 */
    files[11] = 2; /* le=0.25 */
    files[14] = 4; /* le=2.5 */
    files[17] = 1; /* +Inf */
    expect_sum(expect_histogram(t, "files", files), 3 * 0.030 + 2 * 0.150 + 4 * 1.5 + 20, 10);
    uint64_t one30[NLES] = {0};
    one30[9] = 1;
    expect_sum(expect_histogram(t, "other", one30), 0.030, 1);
    expect_sum(expect_histogram(t, "health", one30), 0.030, 1);
    expect_sum(expect_histogram(t, "metrics", one30), 0.030, 1);
    uint64_t none[NLES] = {0};
    assert_true(expect_histogram(t, "sample", none) == 0);
    assert_true(expect_histogram(t, "list", none) == 0);

    expect_line(t, "mmapd_range_requests_total{kind=\"single\"}", 2);
    expect_line(t, "mmapd_range_requests_total{kind=\"multi\"}", 1);
    expect_line(t, "mmapd_range_requests_total{kind=\"unsatisfiable\"}", 1);
    expect_line(t, "mmapd_range_requests_total{kind=\"ignored\"}", 2);
    expect_line(t, "mmapd_read_errors_total{reason=\"sigbus\"}", 1);
    expect_line(t, "mmapd_read_errors_total{reason=\"efault\"}", 0);
    expect_line(t, "mmapd_read_errors_total{reason=\"short\"}", 2);
    expect_line(t, "mmapd_connections_rejected_total{reason=\"max_connections\"}", 0);
    expect_line(t, "mmapd_connections_rejected_total{reason=\"per_ip\"}", 2);
    expect_line(t, "mmapd_connections_rejected_total{reason=\"memory_pool\"}", 1);
    expect_line(t,
                "mmapd_madvise_calls_total{class=\"stream\",advice=\"willneed\",result=\"ok\"}",
                2);
    expect_line(t,
                "mmapd_madvise_calls_total{class=\"random\",advice=\"random\",result=\"error\"}",
                1);
    expect_line(t,
                "mmapd_madvise_calls_total{class=\"random\",advice=\"random\",result=\"ok\"}", 0);
    assert_int_equal(metrics_madvise_count(m, ACCESS_STREAM, ADVICE_WILLNEED, true), 2);
    assert_int_equal(metrics_madvise_count(m, ACCESS_RANDOM, ADVICE_RANDOM, false), 1);
    assert_int_equal(metrics_madvise_count(m, ACCESS_RANDOM, ADVICE_RANDOM, true), 0);

    expect_line(t, "mmapd_http_requests_in_flight", 7);
    expect_line(t, "mmapd_mapped_files", 3);
    expect_line(t, "mmapd_mapped_bytes", 12345);
    expect_line(t, "mmapd_connections_open", 5);
    expect_line(t, "mmapd_open_files", 9);
    expect_line(t, "mmapd_file_cache_entries", 8);
    expect_line(t, "mmapd_file_cache_capacity", 100);
    expect_line(t, "mmapd_file_cache_hits_total", 3);
    expect_line(t, "mmapd_file_cache_misses_total", 1);
    expect_line(t, "mmapd_file_cache_admissions_total", 1);
    expect_line(t, "mmapd_file_cache_evictions_total", 1);
    expect_line(t, "mmapd_blocking_reads_total{handler=\"sample\"}", 1);
    expect_line(t, "mmapd_blocking_reads_total{handler=\"files\"}", 0);
    /* no miss bytes were recorded */
    expect_line(t, "mmapd_page_cache_miss_bytes_total{handler=\"files\"}", 0);

    char build[256];
    snprintf(build, sizeof build,
             "mmapd_build_info{version=\"%s\",libmicrohttpd=\"%s\",jansson=\"%s\"}",
             MMAPD_VERSION, MHD_get_version(), JANSSON_VERSION);
    expect_line(t, build, 1);
    assert_true(value_of(t, "process_resident_memory_bytes") > 0);
    assert_true(value_of(t, "process_open_fds") > 0);
    assert_true(value_of(t, "process_start_time_seconds") > 1e9);
    (void)value_of(t, "process_cpu_seconds_total");

    /* text 0.0.4: families keep their _total name, no EOF marker */
    assert_non_null(strstr(t, "# TYPE mmapd_http_requests_total counter\n"));
    assert_non_null(strstr(t, "# TYPE mmapd_http_request_duration_seconds histogram\n"));
    assert_null(strstr(t, "# EOF"));
    assert_int_equal(t[strlen(t) - 1], '\n');
    free(t);
    metrics_destroy(m);
}

static void two_threads_openmetrics(void **state)
{
    (void)state;
    struct metrics *m = metrics_create(INSTRUMENT_FULL);
    assert_non_null(m);
    run_two_threads(m);
    char *t = render(m, NULL, EXPOSITION_OPENMETRICS);
    size_t n = strlen(t);
    assert_true(n > 6);
    assert_string_equal(t + n - 6, "# EOF\n");
    assert_ptr_equal(strstr(t, "# EOF"), t + n - 6); /* once, at the end */
    /* counter families are announced without _total, samples keep it */
    assert_non_null(strstr(t, "# TYPE mmapd_http_requests counter\n"));
    assert_null(strstr(t, "# TYPE mmapd_http_requests_total"));
    assert_non_null(strstr(t, "# TYPE mmapd_http_response_bytes counter\n"));
    assert_non_null(strstr(t, "# TYPE process_cpu_seconds counter\n"));
    expect_line(t, "mmapd_http_requests_total{handler=\"files\",method=\"GET\",code=\"200\"}", 4);
    expect_line(t, "mmapd_http_response_bytes_total{handler=\"files\"}", 4040);
    uint64_t files[NLES] = {0};
    files[9] = 3;
    files[11] = 2;
    files[14] = 4;
    files[17] = 1;
    expect_sum(expect_histogram(t, "files", files), 3 * 0.030 + 2 * 0.150 + 4 * 1.5 + 20, 10);
    expect_line(t, "mmapd_range_requests_total{kind=\"ignored\"}", 2);
    free(t);
    metrics_destroy(m);
}

/* ---- instrument levels ---- */

/* Takes `pages` fresh minor faults on this thread. */
static void take_faults(size_t pages)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *p = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    for (size_t i = 0; i < pages; i++)
        ((volatile unsigned char *)p)[i * ps] = 1;
    munmap(p, pages * ps);
}

struct level_run {
    struct metrics *m;
    pthread_barrier_t done, rendered;
};

/* On a fresh thread (so it claims its own shard), as an HTTP thread does: enter /files, one
 * request, 256 faults, one more request with miss bytes; then stay alive until the metrics
 * were rendered, so that its faults since it entered /files are read from /proc. */
static void *level_worker(void *arg)
{
    struct level_run *run = arg;
    metrics_handler_enter(run->m, MH_FILES);
    struct request_record r = rec(MH_FILES, MM_GET, 200, 100, 30 * MS, 4096);
    metrics_request_done(run->m, &r);
    take_faults(256);
    r = rec(MH_FILES, MM_GET, 200, 100, 30 * MS, 1000);
    metrics_request_done(run->m, &r);
    pthread_barrier_wait(&run->done);
    pthread_barrier_wait(&run->rendered);
    return NULL;
}

static char *run_level(enum instrument_level level, struct metrics **out)
{
    struct level_run run = {.m = metrics_create(level)};
    assert_non_null(run.m);
    assert_int_equal(metrics_level(run.m), level);
    assert_int_equal(pthread_barrier_init(&run.done, NULL, 2), 0);
    assert_int_equal(pthread_barrier_init(&run.rendered, NULL, 2), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, level_worker, &run), 0);
    pthread_barrier_wait(&run.done);
    char *text = render(run.m, NULL, EXPOSITION_TEXT);
    pthread_barrier_wait(&run.rendered);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_barrier_destroy(&run.done);
    pthread_barrier_destroy(&run.rendered);
    *out = run.m;
    return text;
}

/* Faults go to the handler the thread runs when it takes them: 100 in /files, 300 in
 * /sample, counted at each switch (the thread is gone when the metrics are rendered). */
static void *switch_worker(void *arg)
{
    struct metrics *m = arg;
    metrics_handler_enter(m, MH_FILES);
    take_faults(100);
    metrics_handler_enter(m, MH_SAMPLE);
    metrics_handler_enter(m, MH_SAMPLE); /* no change: nothing counted */
    take_faults(300);
    metrics_handler_enter(m, MH_HEALTH);
    return NULL;
}

static void faults_follow_the_handler(void **state)
{
    (void)state;
    struct metrics *m = metrics_create(INSTRUMENT_FULL);
    assert_non_null(m);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, switch_worker, m), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    char *text = render(m, NULL, EXPOSITION_TEXT);
    double files = value_of(text, "mmapd_page_faults_total{handler=\"files\",type=\"minor\"}");
    double sample = value_of(text, "mmapd_page_faults_total{handler=\"sample\",type=\"minor\"}");
    /* a few more than touched: the mmap and munmap around the pages may fault too */
    if (files < 100 || files >= 200 || sample < 300 || sample >= 400)
        fail_msg("100 faults in /files and 300 in /sample, counted %.0f and %.0f", files, sample);
    expect_line(text, "mmapd_page_faults_total{handler=\"health\",type=\"minor\"}", 0);
    free(text);
    metrics_destroy(m);
}

static void level_full(void **state)
{
    (void)state;
    struct metrics *m;
    char *t = run_level(INSTRUMENT_FULL, &m);
    expect_line(t, "mmapd_http_requests_total{handler=\"files\",method=\"GET\",code=\"200\"}", 2);
    expect_line(t, "mmapd_page_cache_miss_bytes_total{handler=\"files\"}", 4096 + 1000);
    double minor = value_of(t, "mmapd_page_faults_total{handler=\"files\",type=\"minor\"}");
    if (minor < 256)
        fail_msg("256 pages touched between two requests, %.0f minor faults counted", minor);
    (void)value_of(t, "mmapd_page_faults_total{handler=\"files\",type=\"major\"}");
    expect_line(t, "mmapd_page_faults_total{handler=\"other\",type=\"minor\"}", 0);
    free(t);
    metrics_destroy(m);
}

static void level_basic(void **state)
{
    (void)state;
    struct metrics *m;
    char *t = run_level(INSTRUMENT_BASIC, &m);
    expect_line(t, "mmapd_http_requests_total{handler=\"files\",method=\"GET\",code=\"200\"}", 2);
    expect_line(t, "mmapd_http_response_bytes_total{handler=\"files\"}", 200);
    expect_line(t, "mmapd_http_request_duration_seconds_count{handler=\"files\"}", 2);
    expect_line(t, "mmapd_page_cache_miss_bytes_total{handler=\"files\"}", 0);
    expect_line(t, "mmapd_page_faults_total{handler=\"files\",type=\"minor\"}", 0);
    expect_line(t, "mmapd_page_faults_total{handler=\"files\",type=\"major\"}", 0);
    free(t);
    metrics_destroy(m);
}

/* mmapd_sample_records_total: a plain counter, summed over threads, skipped when off */
static void sample_records(void **state)
{
    (void)state;
    for (int level = INSTRUMENT_OFF; level <= INSTRUMENT_FULL; level++) {
        struct metrics *m = metrics_create((enum instrument_level)level);
        assert_non_null(m);
        char *t = render(m, NULL, EXPOSITION_TEXT);
        assert_non_null(strstr(t, "# TYPE mmapd_sample_records_total counter\n"));
        expect_line(t, "mmapd_sample_records_total", 0);
        free(t);
        metrics_sample_records(m, 4096);
        metrics_sample_records(m, 0);
        metrics_sample_records(m, 7);
        t = render(m, NULL, EXPOSITION_TEXT);
        expect_line(t, "mmapd_sample_records_total", level == INSTRUMENT_OFF ? 0 : 4103);
        free(t);
        t = render(m, NULL, EXPOSITION_OPENMETRICS);
        assert_non_null(strstr(t, "# TYPE mmapd_sample_records counter\n"));
        expect_line(t, "mmapd_sample_records_total", level == INSTRUMENT_OFF ? 0 : 4103);
        free(t);
        metrics_destroy(m);
    }
}

static void level_off(void **state)
{
    (void)state;
    struct metrics *m;
    char *t = run_level(INSTRUMENT_OFF, &m);
    /* the family is announced, with no sample */
    assert_non_null(strstr(t, "# TYPE mmapd_http_requests_total counter\n"));
    assert_null(strstr(t, "\nmmapd_http_requests_total{"));
    expect_line(t, "mmapd_http_response_bytes_total{handler=\"files\"}", 0);
    expect_line(t, "mmapd_http_request_duration_seconds_count{handler=\"files\"}", 0);
    expect_line(t, "mmapd_http_request_duration_seconds_bucket{handler=\"files\",le=\"+Inf\"}", 0);
    expect_line(t, "mmapd_http_request_duration_seconds_sum{handler=\"files\"}", 0);
    expect_line(t, "mmapd_page_cache_miss_bytes_total{handler=\"files\"}", 0);
    expect_line(t, "mmapd_page_faults_total{handler=\"files\",type=\"minor\"}", 0);
    expect_line(t, "mmapd_page_faults_total{handler=\"files\",type=\"major\"}", 0);
    free(t);
    metrics_destroy(m);
}

/* ---- more threads than shards ---- */

#define MANY_THREADS 70 /* more than the 64 shards: the last ones share the overflow shard */
#define PER_THREAD 2000

struct many {
    struct metrics *m;
    pthread_barrier_t start;
};

static void *many_worker(void *arg)
{
    struct many *s = arg;
    pthread_barrier_wait(&s->start); /* all threads record at once */
    for (int i = 0; i < PER_THREAD; i++) {
        struct request_record r = rec(MH_FILES, MM_GET, 206, 3, 30 * MS, 0);
        metrics_request_done(s->m, &r);
        metrics_madvise(s->m, ACCESS_RANDOM, ADVICE_WILLNEED, true);
        metrics_range(s->m, MR_MULTI);
        if (i % 2 == 0)
            metrics_read_error(s->m, MRE_EFAULT);
        metrics_connection_rejected(s->m, MRJ_MAX_CONNECTIONS);
        metrics_sample_records(s->m, 3);
    }
    return NULL;
}

static void more_threads_than_shards(void **state)
{
    (void)state;
    struct many s;
    s.m = metrics_create(INSTRUMENT_FULL);
    assert_non_null(s.m);
    assert_int_equal(pthread_barrier_init(&s.start, NULL, MANY_THREADS), 0);
    pthread_t t[MANY_THREADS];
    for (int i = 0; i < MANY_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, many_worker, &s), 0);
    for (int i = 0; i < MANY_THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&s.start);

    const uint64_t total = (uint64_t)MANY_THREADS * PER_THREAD;
    assert_int_equal(metrics_madvise_count(s.m, ACCESS_RANDOM, ADVICE_WILLNEED, true), total);
    assert_int_equal(metrics_madvise_count(s.m, ACCESS_RANDOM, ADVICE_WILLNEED, false), 0);
    char *t1 = render(s.m, NULL, EXPOSITION_TEXT);
    expect_line(t1, "mmapd_http_requests_total{handler=\"files\",method=\"GET\",code=\"206\"}",
                total);
    expect_line(t1, "mmapd_http_response_bytes_total{handler=\"files\"}", 3 * total);
    expect_line(t1, "mmapd_sample_records_total", 3 * total);
    expect_line(t1, "mmapd_http_request_duration_seconds_count{handler=\"files\"}", total);
    expect_line(t1, "mmapd_http_request_duration_seconds_bucket{handler=\"files\",le=\"+Inf\"}",
                total);
    expect_line(t1, "mmapd_range_requests_total{kind=\"multi\"}", total);
    expect_line(t1, "mmapd_read_errors_total{reason=\"efault\"}", total / 2);
    expect_line(t1, "mmapd_connections_rejected_total{reason=\"max_connections\"}", total);
    expect_line(t1,
                "mmapd_madvise_calls_total{class=\"random\",advice=\"willneed\",result=\"ok\"}",
                total);
    free(t1);
    metrics_destroy(s.m);
}

/* ---- small pieces ---- */

static void method_names(void **state)
{
    (void)state;
    assert_int_equal(metrics_method("GET"), MM_GET);
    assert_int_equal(metrics_method("HEAD"), MM_HEAD);
    assert_int_equal(metrics_method("POST"), MM_POST);
    assert_int_equal(metrics_method("PUT"), MM_PUT);
    assert_int_equal(metrics_method("DELETE"), MM_DELETE);
    assert_int_equal(metrics_method("OPTIONS"), MM_OPTIONS);
    assert_int_equal(metrics_method("PATCH"), MM_PATCH);
    assert_int_equal(metrics_method("get"), MM_OTHER); /* methods are case-sensitive */
    assert_int_equal(metrics_method("BREW"), MM_OTHER);
    assert_int_equal(metrics_method(""), MM_OTHER);
    uint64_t a = metrics_now_ns(), b = metrics_now_ns();
    assert_true(b >= a);
}

/* The main thread records into a new metrics object after an old one was destroyed: its
 * cached shard must not carry over, even when the new object lands at the old address
 * (forced here by serving these allocations with mmap, which hands the same address back). */
static void recreate_after_destroy(void **state)
{
    (void)state;
    mallopt(M_MMAP_THRESHOLD, 4096); /* glibc; ignored under AddressSanitizer */
    void *prev = NULL;
    int reused = 0;
    for (int i = 0; i < 5; i++) {
        struct metrics *m = metrics_create(INSTRUMENT_FULL);
        assert_non_null(m);
        reused += (void *)m == prev;
        prev = m;
        metrics_madvise(m, ACCESS_STREAM, ADVICE_SEQUENTIAL, true);
        metrics_range(m, MR_SINGLE);
        struct request_record r = rec(MH_FILES, MM_GET, 200, 5, 30 * MS, 0);
        metrics_request_done(m, &r);
        assert_int_equal(metrics_madvise_count(m, ACCESS_STREAM, ADVICE_SEQUENTIAL, true), 1);
        char *t = render(m, NULL, EXPOSITION_TEXT);
        expect_line(t, "mmapd_range_requests_total{kind=\"single\"}", 1);
        expect_line(t, "mmapd_http_requests_total{handler=\"files\",method=\"GET\",code=\"200\"}",
                    1);
        expect_line(t, "mmapd_http_response_bytes_total{handler=\"files\"}", 5);
        free(t);
        metrics_destroy(m);
    }
    if (!reused)
        print_message("note: no address was reused, the reuse case was not exercised\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_threads_text),
        cmocka_unit_test(two_threads_openmetrics),
        cmocka_unit_test(level_full),
        cmocka_unit_test(faults_follow_the_handler),
        cmocka_unit_test(level_basic),
        cmocka_unit_test(level_off),
        cmocka_unit_test(sample_records),
        cmocka_unit_test(more_threads_than_shards),
        cmocka_unit_test(method_names),
        cmocka_unit_test(recreate_after_destroy),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
