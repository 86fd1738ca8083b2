/* test_sample_lookahead.c - the /sample lookahead table (handlers/sample_lookahead.h) with a
 * real prefetch pool and a real file: the pages after a page are reserved and read ahead
 * (depth pages, each once; after the shard's last page the next epoch's first), a claim
 * takes the entry out and gives its bytes back, hits and late requests are told apart, the
 * total and per-client budgets drop what does not fit, and an entry not claimed within the
 * expiry is counted as wasted. The file is warm here (its records are checked and found
 * resident), so the entries hold 0 cold bytes; cold files are tests/integration's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit_support.h"
#include "filedata/advice.h"
#include "filedata/file_map.h"
#include "filedata/prefetch_pool.h"
#include "handlers/sample_lookahead.h"
#include "metrics/metrics.h"

#define FILE_LEN (1u << 20)
#define REC 4096u
#define PAGE 8u /* records per page: 256 slots, 32 pages in an epoch */
#define WAIT_MS 2000u

struct fixture {
    struct unit_dir root;
    struct advice_policy policy;
    struct metrics *metrics;
    struct file_map *fm;
    struct prefetch_pool *pool;
    struct sample_lookahead *la;
    struct mapped_file *m;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || !unit_dir_make(&f->root, "lookahead"))
        return -1;
    advice_policy_defaults(&f->policy);
    f->metrics = metrics_create(INSTRUMENT_FULL);
    f->fm = file_map_create(8, &f->policy, f->metrics, NULL);
    f->pool = prefetch_pool_create(2, 8, f->metrics, 4096, NULL);
    char *data = calloc(1, FILE_LEN);
    if (!f->metrics || !f->fm || !f->pool || !data)
        return -1;
    unit_write_file(&f->root, "data.bin", data, FILE_LEN);
    free(data);
    struct stat st;
    int fd = openat(f->root.fd, "data.bin", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0)
        return -1;
    f->m = file_map_open(f->fm, "data.bin", ACCESS_RANDOM, fd, &st);
    *state = f;
    return f->m ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->m)
        file_map_release(f->m);
    prefetch_pool_destroy(f->pool);
    sample_lookahead_destroy(f->la);
    file_map_destroy(f->fm);
    metrics_destroy(f->metrics);
    unit_dir_remove(&f->root);
    free(f);
    return 0;
}

static void make(struct fixture *f, unsigned depth, uint64_t total, uint64_t client,
                 uint64_t expiry_ms)
{
    const struct sample_lookahead_config cfg = {depth, total, client, expiry_ms * 1000000u};
    f->la = sample_lookahead_create(&cfg, f->pool, f->metrics, 4096);
    assert_non_null(f->la);
}

/* The page at `start` of `epoch` (rank 0 of 1), prepared. */
static struct sample_spec page(uint64_t epoch, uint64_t start, struct sampler *s)
{
    struct sample_spec spec = {.file_size = FILE_LEN, .size = REC, .align = REC, .n = PAGE,
                               .seed = 42, .epoch = epoch, .rank = 0, .world = 1,
                               .start = start};
    assert_int_equal(sampler_init(s, &spec, NULL), SAMPLE_OK);
    return spec;
}

static void after(struct fixture *f, uint64_t epoch, uint64_t start, unsigned depth,
                  uint64_t client)
{
    struct sampler s;
    struct sample_spec spec = page(epoch, start, &s);
    sample_lookahead_after(f->la, f->m, &spec, &s, depth, client);
}

static enum lookahead_claim claim(struct fixture *f, uint64_t epoch, uint64_t start)
{
    struct sampler s;
    struct sample_spec spec = page(epoch, start, &s);
    return sample_lookahead_claim(f->la, sample_lookahead_key(mapped_file_info(f->m)->etag,
                                                              &spec));
}

static struct sample_lookahead_stats stats(struct fixture *f)
{
    struct sample_lookahead_stats st;
    sample_lookahead_stats(f->la, &st);
    return st;
}

/* Waits until every task finished: the resident pages then charge nothing. */
static void settle(struct fixture *f)
{
    uint64_t until = unit_now_ms() + WAIT_MS;
    while (stats(f).outstanding_bytes != 0 && unit_now_ms() < until)
        unit_sleep_ms(1);
    assert_int_equal(stats(f).outstanding_bytes, 0);
}

/* Depth 2: the two next pages are reserved; the next call adds only the one new page; a
 * claim takes each entry once; a resident page is no hit (nothing was read for it). */
static void test_depth_and_claims(void **state)
{
    struct fixture *f = *state;
    make(f, 2, 1u << 30, 1u << 30, 0);
    after(f, 0, 0, 2, 1);
    settle(f);
    after(f, 0, PAGE, 2, 1); /* PAGE*2 is in the table already: only PAGE*3 is new */
    settle(f);
    assert_int_equal(claim(f, 0, PAGE), LOOKAHEAD_RESIDENT);
    assert_int_equal(claim(f, 0, PAGE), LOOKAHEAD_NONE); /* taken once */
    assert_int_equal(claim(f, 0, 2 * PAGE), LOOKAHEAD_RESIDENT);
    assert_int_equal(claim(f, 0, 3 * PAGE), LOOKAHEAD_RESIDENT);
    assert_int_equal(claim(f, 0, 4 * PAGE), LOOKAHEAD_NONE);
    assert_int_equal(claim(f, 1, PAGE), LOOKAHEAD_NONE); /* another epoch, another page */
    sample_lookahead_served(f->la, LOOKAHEAD_RESIDENT, true);
    sample_lookahead_served(f->la, LOOKAHEAD_COLD, true);
    sample_lookahead_served(f->la, LOOKAHEAD_PENDING, false);
    struct sample_lookahead_stats st = stats(f);
    assert_int_equal(st.pages, 0); /* nothing cold */
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.late, 1);
}

/* After the shard's last page comes the next epoch's first page. */
static void test_next_epoch(void **state)
{
    struct fixture *f = *state;
    make(f, 1, 1u << 30, 1u << 30, 0);
    after(f, 3, FILE_LEN / REC - PAGE, 1, 1);
    settle(f);
    assert_int_equal(claim(f, 4, 0), LOOKAHEAD_RESIDENT);
}

/* Holds the one helper that runs background tasks until released, so that the lookahead
 * tasks queued meanwhile stay pending (their pages charged n * size). */
struct gate {
    atomic_bool running, release;
};

static void gate_run(void *arg, struct prefetch_pool *p)
{
    (void)p;
    struct gate *g = arg;
    atomic_store(&g->running, true);
    uint64_t until = unit_now_ms() + WAIT_MS;
    while (!atomic_load(&g->release) && unit_now_ms() < until)
        unit_sleep_ms(1);
}

static void gate_drop(void *arg)
{
    (void)arg;
}

static void close_gate(struct fixture *f, struct gate *g)
{
    struct prefetch_task t = {gate_run, gate_drop, g};
    assert_true(prefetch_pool_submit_background(f->pool, &t));
    uint64_t until = unit_now_ms() + WAIT_MS;
    while (!atomic_load(&g->running) && unit_now_ms() < until)
        unit_sleep_ms(1);
    assert_true(atomic_load(&g->running));
}

/* A pending entry charges its page's n * size: the client's budget drops the page that does
 * not fit (counted), another client has its own, the total bounds them all; a full lane
 * drops as busy. */
static void test_budgets(void **state)
{
    struct fixture *f = *state;
    make(f, 4, 3 * PAGE * REC, 2 * PAGE * REC, 0);
    struct gate g = {0};
    close_gate(f, &g);
    after(f, 0, 0, 4, 1); /* 2 pages fit client 1's budget, the third is dropped */
    struct sample_lookahead_stats st = stats(f);
    assert_int_equal(st.dropped_budget, 1);
    assert_int_equal(st.outstanding_bytes, 2 * PAGE * REC);
    after(f, 0, 10 * PAGE, 4, 2); /* 1 page of client 2 fits the total, then it is spent */
    st = stats(f);
    assert_int_equal(st.dropped_budget, 2);
    assert_int_equal(st.outstanding_bytes, 3 * PAGE * REC);
    assert_int_equal(claim(f, 0, PAGE), LOOKAHEAD_PENDING); /* its task has not run */
    assert_int_equal(stats(f).outstanding_bytes, 2 * PAGE * REC);
    after(f, 0, 20 * PAGE, 1, 3); /* a 4th task: the lane of 2 helpers holds 4 */
    assert_int_equal(claim(f, 0, 2 * PAGE), LOOKAHEAD_PENDING);
    after(f, 0, 25 * PAGE, 1, 4); /* fits the budget, not the lane: dropped as busy */
    st = stats(f);
    assert_int_equal(st.dropped_budget, 2);
    assert_int_equal(st.dropped_busy, 1);
    assert_int_equal(st.outstanding_bytes, 2 * PAGE * REC); /* pages 11 and 21 */
    atomic_store(&g.release, true);
    settle(f);
    assert_int_equal(claim(f, 0, 21 * PAGE), LOOKAHEAD_RESIDENT);
    assert_int_equal(claim(f, 0, 26 * PAGE), LOOKAHEAD_NONE);
}

/* An entry not claimed within the expiry is gone; a resident one is not counted as wasted
 * (no bytes were read for it). */
static void test_expiry(void **state)
{
    struct fixture *f = *state;
    make(f, 1, 1u << 30, 1u << 30, 20);
    after(f, 0, 0, 1, 1);
    settle(f);
    unit_sleep_ms(60);
    struct sample_lookahead_stats st = stats(f);
    assert_int_equal(st.wasted_pages, 0);
    assert_int_equal(claim(f, 0, PAGE), LOOKAHEAD_NONE);
}

/* Keys: every input of the page changes it; the same inputs give the same key. */
static void test_keys(void **state)
{
    (void)state;
    struct sample_spec a = {.file_size = 100, .size = 4, .align = 4, .n = 2, .seed = 1,
                            .epoch = 0, .rank = 0, .world = 1, .start = 0};
    uint64_t k = sample_lookahead_key("\"x\"", &a);
    assert_int_equal(k, sample_lookahead_key("\"x\"", &a));
    assert_true(k != sample_lookahead_key("\"y\"", &a));
    uint64_t *fields[] = {&a.file_size, &a.size, &a.align, &a.n, &a.seed,
                          &a.epoch,     &a.rank, &a.world, &a.start};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        struct sample_spec b = a;
        uint64_t *field = (uint64_t *)((char *)&b + ((char *)fields[i] - (char *)&a));
        (*field)++;
        assert_true(k != sample_lookahead_key("\"x\"", &b));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_depth_and_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budgets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
