/* test_prefetch_pool.c - the helper threads (filedata/prefetch_pool.h), with real threads, real
 * files and a real libmicrohttpd daemon on a loopback port whose handler suspends its request
 * and hands a job to the pool, as /files does: hint-only jobs run and give back their
 * mapping reference; a job with a connection reads its span into the response's buffer (or
 * says it could not) and resumes the connection, which is then served; a full queue refuses a
 * job at once (dropping its reference) and prefetch_pool_suspend_for() then leaves the
 * connection running; offload jobs run after the jobs queued with them;
 * prefetch_pool_destroy() runs every queued job before it returns.
 * Background tasks: jobs go first, a task's yield runs the jobs that wait, the lane is
 * bounded, one helper of two stays free, and tasks still queued at the end are dropped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit_support.h"
#include "filedata/advice.h"
#include "filedata/file_map.h"
#include "filedata/prefetch_pool.h"
#include "metrics/metrics.h"

#define DATA_LEN 20000u
#define WAIT_MS 2000u /* the longest any bounded wait here may take */

struct fixture {
    struct unit_dir root;
    struct advice_policy policy;
    struct metrics *metrics;
    struct file_map *fm;
    struct prefetch_pool *pool;
    struct MHD_Daemon *daemon;
    uint16_t port;
    unsigned char data[DATA_LEN]; /* what data.bin holds */
    uint64_t span_off, span_len;  /* the span the handler has its job read */
    atomic_int resumed_calls;     /* handler calls after a helper took the request */
};

/* One request's state, from the handler's first call to the completion callback. */
struct pending {
    bool taken;  /* a helper took the job */
    bool failed; /* the job's into_failed flag */
    char *into;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    advice_policy_defaults(&f->policy);
    f->metrics = metrics_create(INSTRUMENT_FULL);
    f->fm = f->metrics ? file_map_create(8, &f->policy, f->metrics, NULL) : NULL;
    if (!f->fm || !unit_dir_make(&f->root, "prefetch")) {
        file_map_destroy(f->fm);
        metrics_destroy(f->metrics);
        free(f);
        return -1;
    }
    for (size_t i = 0; i < DATA_LEN; i++)
        f->data[i] = (unsigned char)(i * 7 + i / 251);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    prefetch_pool_destroy(f->pool); /* before the daemon stops, as the server does */
    if (f->daemon)
        MHD_stop_daemon(f->daemon);
    file_map_destroy(f->fm);
    bool ok = unit_dir_remove(&f->root);
    metrics_destroy(f->metrics);
    free(f);
    return ok ? 0 : -1;
}

/* A detached entry of data.bin: a reference for a job to own. */
static struct mapped_file *entry(struct fixture *f)
{
    struct stat st;
    int fd = openat(f->root.fd, "data.bin", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    struct mapped_file *m = file_map_open(f->fm, "data.bin", ACCESS_STREAM, fd, &st);
    assert_non_null(m);
    return m;
}

static uint64_t open_files(struct fixture *f)
{
    struct file_map_counts c;
    file_map_counts(f->fm, &c);
    return c.open_files;
}

static uint64_t willneed_hints(struct fixture *f)
{
    return metrics_madvise_count(f->metrics, ACCESS_STREAM, ADVICE_WILLNEED, true);
}

/* Waits (bounded) until every job's reference was given back. */
static void expect_all_released(struct fixture *f)
{
    uint64_t until = unit_now_ms() + WAIT_MS;
    while (open_files(f) != 0 && unit_now_ms() < until)
        unit_sleep_ms(1);
    assert_int_equal(open_files(f), 0);
}

/* A job without a connection: the hints over the whole file, nobody waits. */
static bool submit_hints(struct fixture *f, bool by_read, bool willneed)
{
    struct prefetch_job job = {.map = entry(f), .by_read = by_read, .cls = ACCESS_STREAM,
                               .willneed = willneed, .handler = MH_FILES, .nspans = 1,
                               .one = {0, DATA_LEN, NULL}};
    return prefetch_pool_submit(f->pool, &job);
}

/* The access handler: the first call suspends the request and has a helper read the
 * fixture's span into the request's buffer (for /offload as an offload job: no hints, no
 * delay, as a streamed body's block); a later call (or the first, when the queue was
 * full) answers "taken=T failed=F\n" and the bytes of the span. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
    (void)method, (void)version, (void)upload, (void)upload_size;
    struct fixture *f = cls;
    struct pending *r = *req_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r || !(r->into = calloc(1, (size_t)f->span_len + 1))) {
            free(r);
            return MHD_NO;
        }
        *req_cls = r;
        bool offload = strcmp(url, "/offload") == 0;
        struct prefetch_job job = {.conn = c, .map = entry(f), .by_read = true,
                                   .cls = ACCESS_STREAM, .willneed = !offload,
                                   .offload = offload, .handler = MH_FILES,
                                   .nspans = 1, .one = {f->span_off, f->span_len, r->into},
                                   .into_failed = &r->failed};
        r->taken = prefetch_pool_suspend_for(f->pool, &job);
        if (r->taken)
            return MHD_YES;
    } else {
        atomic_fetch_add(&f->resumed_calls, 1);
    }
    char head[64];
    int n = snprintf(head, sizeof head, "taken=%d failed=%d\n", r->taken, r->failed);
    size_t len = (size_t)n + (size_t)f->span_len;
    char *body = malloc(len);
    if (!body)
        return MHD_NO;
    memcpy(body, head, (size_t)n);
    memcpy(body + n, r->into, (size_t)f->span_len);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY);
    free(body);
    return unit_queue(c, MHD_HTTP_OK, resp);
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    struct pending *r = *req_cls;
    if (r)
        free(r->into);
    free(r);
    *req_cls = NULL;
}

/* The pool (`threads` helpers, a queue of `cap`; jobs that give hints wait `delay_ms` before
 * they resume their connection), data.bin, and the daemon. */
static void start(struct fixture *f, unsigned threads, size_t cap, unsigned delay_ms)
{
    uint64_t delay[2] = {0, (uint64_t)delay_ms * 1000000u};
    unit_write_file(&f->root, "data.bin", f->data, DATA_LEN);
    f->pool = prefetch_pool_create(threads, cap, f->metrics, 4096, delay);
    assert_non_null(f->pool);
    int lfd = unit_listen(&f->port);
    f->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                                     MHD_USE_ITC,
                                 0, NULL, NULL, handle, f, MHD_OPTION_LISTEN_SOCKET, lfd,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    assert_non_null(f->daemon);
}

/* Sends a GET of `path` on a new connection: the client's descriptor. */
static int request_path(struct fixture *f, const char *path)
{
    char req[128];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    int fd = unit_connect(f->port);
    unit_send(fd, req);
    return fd;
}

static int request(struct fixture *f) { return request_path(f, "/x"); }

/* The response's body on `fd` (closed here), which must start with `head`. */
static const char *response(int fd, const char *head, char *buf, size_t cap)
{
    ssize_t n = unit_read_to_end(fd, buf, cap, WAIT_MS);
    close(fd);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    const char *body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    if (strncmp(body, head, strlen(head)) != 0)
        fail_msg("body starts with '%.20s', not '%s'", body, head);
    return body + strlen(head);
}

/* Jobs without a connection run on the helpers, give their hints (through the mapping or the
 * descriptor, only with `willneed`), and give back their mapping reference. */
static void test_hint_jobs_run_and_release(void **state)
{
    struct fixture *f = *state;
    start(f, 2, 8, 0);
    for (int i = 0; i < 3; i++)
        assert_true(submit_hints(f, false, true));
    for (int i = 0; i < 2; i++)
        assert_true(submit_hints(f, true, true));
    assert_true(submit_hints(f, false, false));
    expect_all_released(f);
    /* DATA_LEN bytes in windows of 4096: ADVICE_PREFETCH_WINDOWS (4) calls per job */
    assert_int_equal(willneed_hints(f), 5 * ADVICE_PREFETCH_WINDOWS);
    assert_int_equal(unit_metric(f->metrics, "mmapd_prefetch_duration_seconds_count{class=\"stream\"}"),
                     0); /* nobody waited */
}

/* A job with a connection reads its span into the request's buffer and resumes the request,
 * whose next handler call serves it; a span past the end of the file is reported. */
static void test_job_reads_and_resumes(void **state)
{
    struct fixture *f = *state;
    start(f, 2, 8, 0);
    char buf[DATA_LEN + 1024];
    f->span_off = 1000;
    f->span_len = 5000;
    const char *bytes = response(request(f), "taken=1 failed=0\n", buf, sizeof buf);
    assert_memory_equal(bytes, f->data + 1000, 5000);
    assert_int_equal(atomic_load(&f->resumed_calls), 1);

    f->span_off = DATA_LEN - 10; /* the file ends 10 bytes into the span */
    f->span_len = 100;
    bytes = response(request(f), "taken=1 failed=1\n", buf, sizeof buf);
    assert_memory_equal(bytes, f->data + DATA_LEN - 10, 10);
    assert_int_equal(atomic_load(&f->resumed_calls), 2);
    expect_all_released(f);
    assert_int_equal(unit_metric(f->metrics, "mmapd_prefetch_duration_seconds_count{class=\"stream\"}"),
                     2);
}

/* Waits until the one helper runs the job of a request (its hints are counted; it then waits
 * its delay before it resumes the request). */
static void wait_helper_busy(struct fixture *f, uint64_t hints_before)
{
    uint64_t until = unit_now_ms() + WAIT_MS;
    while (willneed_hints(f) == hints_before && unit_now_ms() < until)
        unit_sleep_ms(1);
    assert_true(willneed_hints(f) > hints_before);
}

/* One helper, a queue of `cap`, held by a request for its first 64 bytes, whose job waits
 * `delay_ms` before it resumes it: that request's descriptor. */
static int hold_the_helper(struct fixture *f, size_t cap, unsigned delay_ms)
{
    start(f, 1, cap, delay_ms);
    f->span_off = 0;
    f->span_len = 64;
    int slow = request(f);
    wait_helper_busy(f, 0);
    return slow;
}

/* With the one helper busy, the queue takes `cap` jobs and refuses the next at once, giving
 * back its reference; a request that finds the queue full is served without the helpers,
 * its read-into buffer marked unread (else a body read at once would send that buffer). */
static void test_full_queue_refuses(void **state)
{
    struct fixture *f = *state;
    enum { CAP = 2 };
    int slow = hold_the_helper(f, CAP, 600);
    for (int i = 0; i < CAP; i++)
        assert_true(submit_hints(f, false, false));
    uint64_t held = open_files(f);
    assert_int_equal(held, 1 + CAP);
    assert_false(submit_hints(f, false, false));
    assert_int_equal(open_files(f), held); /* the refused job's reference was dropped */

    char buf[4096];
    uint64_t t0 = unit_now_ms();
    /* served at once, told that nothing was read into its buffer */
    response(request(f), "taken=0 failed=1\n", buf, sizeof buf);
    assert_true(unit_now_ms() - t0 < 500);
    assert_int_equal(atomic_load(&f->resumed_calls), 0);
    const char *bytes = response(slow, "taken=1 failed=0\n", buf, sizeof buf);
    assert_memory_equal(bytes, f->data, 64);
    assert_int_equal(atomic_load(&f->resumed_calls), 1);
    expect_all_released(f);
}

/* Waits (bounded) until `n` jobs hold a reference: the requests' jobs are queued. */
static void wait_open_files(struct fixture *f, uint64_t n)
{
    uint64_t until = unit_now_ms() + WAIT_MS;
    while (open_files(f) != n && unit_now_ms() < until)
        unit_sleep_ms(1);
    assert_int_equal(open_files(f), n);
}

static uint64_t offloaded(struct fixture *f)
{
    return unit_metric(f->metrics, "mmapd_stream_offloaded_bytes_total");
}

/* Offload jobs have a queue of their own that a helper takes from only when no other job
 * waits: a request's job queued after an offload job runs first, and the offload job then
 * reads its block and resumes its request. */
static void test_offload_jobs_go_after_jobs(void **state)
{
    struct fixture *f = *state;
    int slow = hold_the_helper(f, 8, 600);
    uint64_t hints = willneed_hints(f);
    int block = request_path(f, "/offload");
    wait_open_files(f, 2);
    int next = request(f);
    wait_open_files(f, 3);
    wait_helper_busy(f, hints); /* the one helper runs next's job, and waits its delay */
    assert_int_equal(offloaded(f), 0); /* the offload job, queued first, has not run */
    char buf[4096];
    for (int i = 0; i < 3; i++) {
        int fd = i == 0 ? slow : i == 1 ? next : block;
        const char *bytes = response(fd, "taken=1 failed=0\n", buf, sizeof buf);
        assert_memory_equal(bytes, f->data, 64);
    }
    assert_int_equal(offloaded(f), 64);
    expect_all_released(f);
}

/* prefetch_pool_destroy() runs every queued job before it returns: their references are given
 * back and the suspended request is resumed, once. */
static void test_destroy_finishes_queued_jobs(void **state)
{
    struct fixture *f = *state;
    int slow = hold_the_helper(f, 8, 300);
    uint64_t hints = willneed_hints(f);
    for (int i = 0; i < 5; i++)
        assert_true(submit_hints(f, false, true));
    assert_int_equal(open_files(f), 6);
    prefetch_pool_destroy(f->pool);
    f->pool = NULL;
    assert_int_equal(open_files(f), 0); /* no waiting: every job ran */
    assert_int_equal(willneed_hints(f), hints + 5 * ADVICE_PREFETCH_WINDOWS);
    char buf[4096];
    const char *bytes = response(slow, "taken=1 failed=0\n", buf, sizeof buf);
    assert_memory_equal(bytes, f->data, 64);
    assert_int_equal(atomic_load(&f->resumed_calls), 1);
}

/* A background task that holds its helper until the test releases it, and notes the hints
 * given by then (jobs that ran before it, or inside its prefetch_pool_yield()). */
struct bg_task {
    struct fixture *f;
    bool yield;
    atomic_bool running, release, done, dropped;
    uint64_t hints_at_start, hints_before_yield, hints_after_yield;
};

static void bg_run(void *arg, struct prefetch_pool *p)
{
    struct bg_task *t = arg;
    t->hints_at_start = willneed_hints(t->f);
    atomic_store(&t->running, true);
    uint64_t until = unit_now_ms() + WAIT_MS;
    while (!atomic_load(&t->release) && unit_now_ms() < until)
        unit_sleep_ms(1);
    t->hints_before_yield = willneed_hints(t->f);
    if (t->yield)
        prefetch_pool_yield(p);
    t->hints_after_yield = willneed_hints(t->f);
    atomic_store(&t->done, true);
}

static void bg_drop(void *arg)
{
    atomic_store(&((struct bg_task *)arg)->dropped, true);
}

static bool submit_bg(struct fixture *f, struct bg_task *t)
{
    t->f = f;
    struct prefetch_task task = {bg_run, bg_drop, t};
    return prefetch_pool_submit_background(f->pool, &task);
}

static void wait_flag(atomic_bool *flag)
{
    uint64_t until = unit_now_ms() + WAIT_MS;
    while (!atomic_load(flag) && unit_now_ms() < until)
        unit_sleep_ms(1);
    assert_true(atomic_load(flag));
}

/* A running task's prefetch_pool_yield() runs the jobs that came in meanwhile, on its own
 * helper, before the task goes on. */
static void test_background_yields_to_jobs(void **state)
{
    struct fixture *f = *state;
    start(f, 1, 8, 0);
    struct bg_task a = {.yield = true};
    assert_true(submit_bg(f, &a));
    wait_flag(&a.running);
    assert_true(submit_hints(f, false, true));
    assert_true(submit_hints(f, false, true));
    unit_sleep_ms(20);
    assert_int_equal(willneed_hints(f), 0); /* the one helper is in the task */
    atomic_store(&a.release, true);
    wait_flag(&a.done);
    assert_int_equal(a.hints_before_yield, 0);
    assert_int_equal(a.hints_after_yield, 2 * ADVICE_PREFETCH_WINDOWS);
    expect_all_released(f);
}

/* Jobs go before queued tasks; the lane holds PREFETCH_BACKGROUND_CAP tasks per helper and
 * refuses the next; prefetch_pool_destroy() drops the tasks still queued. */
static void test_background_lane_order_cap_and_drop(void **state)
{
    struct fixture *f = *state;
    start(f, 1, 8, 0);
    struct bg_task a = {0}, b = {0}, c = {0}, d = {0};
    assert_true(submit_bg(f, &a));
    wait_flag(&a.running);
    assert_true(submit_bg(f, &b));
    assert_true(submit_hints(f, false, true)); /* queued after b, run before it */
    assert_true(submit_bg(f, &c));
    assert_false(submit_bg(f, &d)); /* 2 queued: the lane of one helper is full */
    atomic_store(&b.release, true);
    atomic_store(&a.release, true);
    wait_flag(&b.done);
    assert_int_equal(b.hints_at_start, ADVICE_PREFETCH_WINDOWS);
    wait_flag(&c.running); /* c holds the helper: queue d again, then stop the pool */
    assert_true(submit_bg(f, &d));
    atomic_store(&c.release, true);
    prefetch_pool_destroy(f->pool);
    f->pool = NULL;
    assert_true(atomic_load(&c.done));
    assert_true(atomic_load(&d.dropped) && !atomic_load(&d.running));
    expect_all_released(f);
}

/* With two helpers only one runs background tasks: the other serves a job at once. */
static void test_background_leaves_a_helper_free(void **state)
{
    struct fixture *f = *state;
    start(f, 2, 8, 0);
    struct bg_task a = {0}, b = {0};
    assert_true(submit_bg(f, &a));
    assert_true(submit_bg(f, &b));
    wait_flag(&a.running);
    assert_true(submit_hints(f, false, true));
    uint64_t until = unit_now_ms() + WAIT_MS;
    while (willneed_hints(f) == 0 && unit_now_ms() < until)
        unit_sleep_ms(1);
    assert_int_equal(willneed_hints(f), ADVICE_PREFETCH_WINDOWS); /* while a holds its helper */
    assert_false(atomic_load(&b.running));
    atomic_store(&a.release, true);
    atomic_store(&b.release, true);
    wait_flag(&b.done);
    expect_all_released(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hint_jobs_run_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_reads_and_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_finishes_queued_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offload_jobs_go_after_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_yields_to_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_lane_order_cap_and_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_leaves_a_helper_free, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
