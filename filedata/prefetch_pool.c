/* prefetch_pool.c - a bounded job queue and the helper threads that serve it. */
#include "filedata/prefetch_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "filedata/page_size.h"
#include "filedata/residency.h"
#include "filedata/sigbus_guard.h"
#include "metrics/metrics.h"
#include "metrics/process.h"

/* A ring of the pool's `cap` jobs. */
struct job_ring {
    struct prefetch_job *jobs;
    size_t head, count;
};

struct prefetch_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    size_t cap;
    struct job_ring queue;    /* jobs */
    struct job_ring offloads; /* offload jobs, run when `queue` is empty */
    struct prefetch_task *tasks; /* ring of `tcap` background tasks */
    size_t tcap, thead, tcount;
    unsigned trunning, tmax; /* background tasks running, and how many may */
    bool stopping;
    unsigned nthreads;
    pthread_t *threads;
    struct metrics *metrics;
    size_t window;
    uint64_t delay_ns[2]; /* [willneed]: the test knob */
};

static void job_free(struct prefetch_job *job)
{
    file_map_release(job->map);
    free(job->spans);
}

/* Reads [off, off+len) of the file into `into`, or through a scratch buffer when it is NULL:
 * the pages are in when it returns. False when the file ended first or a read failed. */
static bool read_through(int fd, char *into, uint64_t off, uint64_t len)
{
    char scratch[64 << 10];
    while (len > 0) {
        size_t want = into ? (size_t)len : len < sizeof scratch ? (size_t)len : sizeof scratch;
        ssize_t n = pread(fd, into ? into : scratch, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        off += (uint64_t)n;
        len -= (uint64_t)n;
        if (into)
            into += n;
    }
    return true;
}

/* WILLNEED over the span as two I/Os: its first PREFETCH_SPLIT bytes, then the rest, unless
 * every page of it is in the page cache or being read in already (cachestat). The
 * first completes without waiting for the rest (one hint of a whole 1 MiB span is one request
 * to the device, whose first byte comes with its last), and the rest is one request, not a
 * queue of small ones sharing the device (measured: docs/performance.md). */
static void hint_split(struct prefetch_pool *p, const struct prefetch_job *job, int fd,
                       const struct prefetch_span *s)
{
    if (residency_span_cached(fd, s->off, s->len) == RESIDENCY_CACHED)
        return; /* hinted by the request's first job and still on its way (or in): no more */
    uint64_t page = page_size();
    uint64_t first = s->len < PREFETCH_SPLIT ? s->len : PREFETCH_SPLIT;
    /* windows a page longer than each part: a part that starts inside a page is one call */
    advice_willneed_fd(p->metrics, job->cls, fd, s->off, first, (size_t)(first + page));
    if (s->len > first)
        advice_willneed_fd(p->metrics, job->cls, fd, s->off + first, s->len - first,
                           (size_t)(s->len - first + page));
}

static void run_job(struct prefetch_pool *p, struct prefetch_job *job)
{
    uint64_t t0 = metrics_now_ns();
    uint64_t minor0, major0, minor1, major1;
    bool faults = process_own_faults(&minor0, &major0);
    const unsigned char *base = job->by_read ? NULL : mapped_file_base(job->map);
    int fd = mapped_file_info(job->map)->fd;
    const struct prefetch_span *sp = job->spans ? job->spans : &job->one;
    size_t page = (size_t)page_size();
    /* a body read at once (every span says where its bytes go): read it, no budget (such a
     * body is at most FILE_BODY_COPY_MAX); a cold range streamed as it arrives: its first
     * PREFETCH_SPLIT bytes and the rest hinted as two I/Os, the first waited for; otherwise bring pages in, hints only
     * without a connection (nobody waits) */
    bool fill = job->by_read && job->conn && job->nspans > 0 && sp[0].into;
    if (!base && !job->by_read) /* empty, or no mapping: the request is served as it is */
        goto done;
    bool split = job->by_read && job->conn && !fill && job->cls == ACCESS_RANGE;
    for (size_t i = 0; i < job->nspans && job->willneed; i++) { /* all hints first: one deep
                                                                   I/O queue */
        if (split)
            hint_split(p, job, fd, &sp[i]);
        else if (job->by_read)
            advice_willneed_fd(p->metrics, job->cls, fd, sp[i].off, sp[i].len, p->window);
        else
            advice_willneed(p->metrics, job->cls, base, sp[i].off, sp[i].len, p->window);
    }
    for (size_t i = 0; fill && i < job->nspans; i++) {
        if (metrics_now_ns() - t0 > PREFETCH_DEADLINE_NS ||
            !read_through(fd, sp[i].into, sp[i].off, sp[i].len)) {
            *job->into_failed = true;
            break;
        }
    }
    uint64_t budget = job->conn && !fill ? PREFETCH_BUDGET : 0;
    for (size_t i = 0; i < job->nspans && budget > 0; i++) {
        uint64_t first = p->window > PREFETCH_SPAN_MIN ? p->window : PREFETCH_SPAN_MIN;
        if (split && job->willneed) /* the rest is on its way: resume once the first is in */
            first = PREFETCH_SPLIT;
        uint64_t n = sp[i].len < first ? sp[i].len : first;
        if (n > budget)
            n = budget;
        budget -= n;
        if (job->by_read) {
            read_through(fd, NULL, sp[i].off, n);
        } else if (!sigbus_guard_touch(base + sp[i].off, (size_t)n, page)) {
            metrics_read_error(p->metrics, MRE_SIGBUS);
            break;
        }
        if (metrics_now_ns() - t0 > PREFETCH_DEADLINE_NS)
            break;
    }
done:
    if (job->offload && fill && !*job->into_failed)
        metrics_stream_offloaded(p->metrics, sp[0].len);
    if (job->conn && !job->offload && p->delay_ns[job->willneed]) {
        struct timespec d = {(time_t)(p->delay_ns[job->willneed] / 1000000000u),
                             (long)(p->delay_ns[job->willneed] % 1000000000u)};
        nanosleep(&d, NULL);
    }
    if (job->conn && !job->offload)
        metrics_prefetch_done(p->metrics, job->cls, metrics_now_ns() - t0);
    if (faults && process_own_faults(&minor1, &major1))
        metrics_add_faults(p->metrics, (enum metric_handler)job->handler, minor1 - minor0,
                           major1 - major0);
    job_free(job);
    if (job->conn)
        MHD_resume_connection(job->conn);
}

static bool job_waits(const struct prefetch_pool *p)
{
    return p->queue.count > 0 || p->offloads.count > 0;
}

/* Called with the lock held and a job waiting: runs the oldest queued job, or when there is
 * none the oldest offload job, the lock released meanwhile. */
static void run_next_job(struct prefetch_pool *p)
{
    struct job_ring *r = p->queue.count > 0 ? &p->queue : &p->offloads;
    struct prefetch_job job = r->jobs[r->head];
    r->head = (r->head + 1) % p->cap;
    r->count--;
    pthread_mutex_unlock(&p->lock);
    run_job(p, &job);
    pthread_mutex_lock(&p->lock);
}

static bool task_ready(const struct prefetch_pool *p)
{
    return p->tcount > 0 && p->trunning < p->tmax && !p->stopping;
}

static void *worker(void *arg)
{
    struct prefetch_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!job_waits(p) && !task_ready(p) && !p->stopping)
            pthread_cond_wait(&p->wake, &p->lock);
        if (job_waits(p)) {
            run_next_job(p);
            continue;
        }
        if (!task_ready(p))
            break; /* stopping, and no job left */
        struct prefetch_task task = p->tasks[p->thead];
        p->thead = (p->thead + 1) % p->tcap;
        p->tcount--;
        p->trunning++;
        pthread_mutex_unlock(&p->lock);
        task.run(task.arg, p);
        pthread_mutex_lock(&p->lock);
        p->trunning--;
        if (task_ready(p))
            pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

bool prefetch_pool_submit_background(struct prefetch_pool *p, const struct prefetch_task *t)
{
    pthread_mutex_lock(&p->lock);
    bool ok = !p->stopping && p->tcount < p->tcap;
    if (ok) {
        p->tasks[(p->thead + p->tcount) % p->tcap] = *t;
        p->tcount++;
        if (task_ready(p))
            pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
    return ok;
}

void prefetch_pool_yield(struct prefetch_pool *p)
{
    pthread_mutex_lock(&p->lock);
    while (job_waits(p))
        run_next_job(p);
    pthread_mutex_unlock(&p->lock);
}

struct prefetch_pool *prefetch_pool_create(unsigned threads, size_t queue_cap,
                                           struct metrics *metrics, size_t window,
                                           const uint64_t delay_ns[2])
{
    struct prefetch_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->queue.jobs = calloc(queue_cap, sizeof *p->queue.jobs);
    p->offloads.jobs = calloc(queue_cap, sizeof *p->offloads.jobs);
    p->threads = calloc(threads, sizeof *p->threads);
    p->tcap = (size_t)threads * PREFETCH_BACKGROUND_CAP;
    p->tasks = calloc(p->tcap, sizeof *p->tasks);
    if (!p->queue.jobs || !p->offloads.jobs || !p->threads || !p->tasks ||
        pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p->queue.jobs);
        free(p->offloads.jobs);
        free(p->threads);
        free(p->tasks);
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->wake, NULL);
    p->cap = queue_cap;
    p->tmax = threads > 1 ? threads - 1 : 1;
    p->metrics = metrics;
    p->window = window;
    p->delay_ns[0] = delay_ns ? delay_ns[0] : 0;
    p->delay_ns[1] = delay_ns ? delay_ns[1] : 0;
    for (; p->nthreads < threads; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, worker, p) != 0)
            break;
    if (p->nthreads == 0) {
        prefetch_pool_destroy(p);
        return NULL;
    }
    return p;
}

bool prefetch_pool_submit(struct prefetch_pool *p, const struct prefetch_job *job)
{
    pthread_mutex_lock(&p->lock);
    struct job_ring *r = job->offload ? &p->offloads : &p->queue;
    bool ok = !p->stopping && r->count < p->cap;
    if (ok) {
        r->jobs[(r->head + r->count) % p->cap] = *job;
        r->count++;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
    if (!ok) {
        if (job->into_failed) /* nothing was read into its spans' buffers */
            *job->into_failed = true;
        struct prefetch_job dropped = *job;
        job_free(&dropped);
    }
    return ok;
}

bool prefetch_pool_suspend_for(struct prefetch_pool *p, const struct prefetch_job *job)
{
    MHD_suspend_connection(job->conn);
    if (prefetch_pool_submit(p, job))
        return true;
    MHD_resume_connection(job->conn);
    return false;
}

void prefetch_pool_destroy(struct prefetch_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    for (; p->tcount > 0; p->tcount--, p->thead = (p->thead + 1) % p->tcap)
        p->tasks[p->thead].drop(p->tasks[p->thead].arg);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p->tasks);
    free(p->queue.jobs);
    free(p->offloads.jobs);
    free(p);
}
