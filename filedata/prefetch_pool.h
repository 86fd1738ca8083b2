/* prefetch_pool.h - helper threads that bring a cold request's pages in off the HTTP threads.
 *
 * A handler that finds a request cold suspends its connection (MHD_suspend_connection) and
 * submits a job: the spans to read from a mapping, or (`by_read`) from the file's descriptor.
 * A helper thread gives the class's WILLNEED hints over them (all windows first, so the device
 * works on them at once), then reads one byte of every page (by_read: every byte, through a
 * scratch buffer, or straight into the response's buffer when the span says where), so the
 * request resumes when its pages are in (or when PREFETCH_DEADLINE
 * passed: then it is served anyway), records the wait and charges the page faults it took to
 * the request's handler, and resumes the connection. libmicrohttpd then calls the handler
 * (or the body's content reader) again, which serves the now warm data.
 * A job without a connection only gives the hints: read-ahead for a body being streamed,
 * nobody waits for it. An offload job reads one warm block of a streamed body into the
 * response's buffer for its HTTP thread (`offload`): no hints, not counted as a prefetch.
 * Offload jobs have a queue of their own, of the same size: a helper takes one only when no
 * other job waits, so a cold request never queues behind the blocks of downloads.
 * prefetch_pool_submit() never blocks: false when the queue is full (the caller serves the
 * request at once, as without a pool). prefetch_pool_destroy() finishes every queued job,
 * resuming its connection, before it returns: call it before MHD_stop_daemon().
 *
 * Background tasks (the /sample lookahead) have a lane of their own, of PREFETCH_BACKGROUND_CAP
 * per helper: a helper takes one only when no job (nor offload job) waits, and at most
 * max(1, helpers - 1) run at once, so with two helpers or more one is always free for a cold
 * request. A running task
 * calls prefetch_pool_yield() between its steps, which runs the jobs that came in meanwhile
 * first. Tasks still queued at prefetch_pool_destroy() are dropped, not run.
 */
#ifndef MMAPD_PREFETCH_POOL_H
#define MMAPD_PREFETCH_POOL_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filedata/advice.h"
#include "filedata/file_map.h"

#define PREFETCH_BUDGET (64u << 20)       /* bytes read in per job, at most */
#define PREFETCH_SPAN_MIN (1u << 20)      /* read in per span: this, or a window if larger */
#define PREFETCH_DEADLINE_NS 5000000000ull /* serve anyway after this long */
#define PREFETCH_SPLIT (128u << 10)        /* a cold range streamed: its first I/O, waited for */
#define PREFETCH_BACKGROUND_CAP 2u        /* background tasks queued per helper, at most */

struct metrics;
struct prefetch_pool;

struct prefetch_span {
    uint64_t off, len;
    char *into; /* by_read: read the span's bytes here (len bytes), not through a scratch
                   buffer; NULL: bring the pages in only */
};

/* What to bring in: WILLNEED (when `willneed`) over every span (windows of read_ahead_kb, at most
 * ADVICE_PREFETCH_WINDOWS per span), then, for a job with a connection, one byte of every
 * page of the first window (or PREFETCH_SPAN_MIN bytes if more) of each span,
 * PREFETCH_BUDGET bytes in all. A range-class job read through the descriptor with no
 * buffers (a cold range streamed as it arrives) hints its first PREFETCH_SPLIT bytes and
 * the rest as two I/Os (none when cachestat finds every page cached or on its way) and
 * reads only the first PREFETCH_SPLIT bytes before resuming. */
struct prefetch_job {
    struct MHD_Connection *conn; /* suspended by the caller; NULL: hints only */
    struct mapped_file *map;     /* a reference the job owns */
    bool by_read; /* the request reads its body with pread(2): hint and read through the
                     descriptor (posix_fadvise, pread into a scratch buffer), leaving the
                     mapping's page tables empty */
    enum access_class cls;
    bool willneed;               /* give the WILLNEED hints (request_willneed()) */
    bool offload; /* a block of a streamed body read into its send buffer for an HTTP thread
                     (by_read, one span with `into`): not a prefetch, so no wait recorded and
                     no test delay; its bytes count in mmapd_stream_offloaded_bytes_total */
    int handler;                 /* enum metric_handler: whose faults the reads are */
    size_t nspans;
    struct prefetch_span *spans; /* malloc'd, owned by the job; NULL: the one span `one` */
    struct prefetch_span one;
    bool *into_failed; /* set when a span with `into` was not read whole (error, end of
                          file, deadline); its reader must not trust those bytes */
};

/* delay_ns[willneed]: a test knob (MMAPD_TEST_HINT_DELAY_MS): a job with a connection waits
 * that much longer before it resumes it, so that tests can make one arm of `auto` slower. */
struct prefetch_pool *prefetch_pool_create(unsigned threads, size_t queue_cap,
                                           struct metrics *metrics, size_t window,
                                           const uint64_t delay_ns[2]);
/* Takes the job, with its mapping reference and spans, in every case; false when the queue
 * was full (the job was dropped, its `into_failed` flag set since nothing was read into its
 * spans' buffers: the caller resumes its connection itself). */
bool prefetch_pool_submit(struct prefetch_pool *p, const struct prefetch_job *job);
/* For a job with a connection: suspends it and submits the job; when the queue is full, resumes
 * the connection at once (the caller then serves without the helpers). True when a helper
 * took the job (libmicrohttpd calls the handler or content reader again once it is done). */
bool prefetch_pool_suspend_for(struct prefetch_pool *p, const struct prefetch_job *job);
void prefetch_pool_destroy(struct prefetch_pool *p);

struct prefetch_task {
    void (*run)(void *arg, struct prefetch_pool *p); /* on a helper; owns and frees arg */
    void (*drop)(void *arg);                         /* frees arg of a task never run */
    void *arg;
};
/* Queues a background task; never blocks. False when the lane is full or the pool stops:
 * the task was not taken (arg is still the caller's). */
bool prefetch_pool_submit_background(struct prefetch_pool *p, const struct prefetch_task *t);
/* From a background task: runs the jobs waiting in the queues, on the calling helper. */
void prefetch_pool_yield(struct prefetch_pool *p);

#endif
