/* prefetch_pool.h - helper threads that bring a cold request's pages in off the HTTP threads.
 *
 * A handler that finds a request cold suspends its connection (MHD_suspend_connection) and
 * submits a job: the spans to read from a mapping. A helper thread gives the class's WILLNEED
 * hints over them (all windows first, so the device works on them at once), then reads one
 * byte of every page (so the request resumes when its pages are in, or when PREFETCH_DEADLINE
 * passed: then it is served anyway), records the wait and charges the page faults it took to
 * the request's handler, and resumes the connection. libmicrohttpd then calls the handler
 * (or the body's content reader) again, which serves the now warm data.
 * A job without a connection only gives the hints: read-ahead for a body being streamed,
 * nobody waits for it.
 * prefetch_pool_submit() never blocks: false when the queue is full (the caller serves the
 * request at once, as without a pool). prefetch_pool_destroy() finishes every queued job,
 * resuming its connection, before it returns: call it before MHD_stop_daemon().
 */
#ifndef MMAPD_PREFETCH_POOL_H
#define MMAPD_PREFETCH_POOL_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers/advice.h"
#include "handlers/file_map.h"

#define PREFETCH_MAX_SPANS 8
#define PREFETCH_BUDGET (64u << 20)       /* bytes read ahead per request, at most */
#define PREFETCH_DEADLINE_NS 5000000000ull /* serve anyway after this long */

struct metrics;
struct prefetch_pool;

struct prefetch_job {
    struct MHD_Connection *conn; /* suspended by the caller; NULL: hints only */
    struct mapped_file *map;     /* a reference the job owns */
    enum access_class cls;
    int handler;                 /* enum metric_handler: whose faults the reads are */
    size_t nspans;
    uint64_t off[PREFETCH_MAX_SPANS], len[PREFETCH_MAX_SPANS];
};

struct prefetch_pool *prefetch_pool_create(unsigned threads, size_t queue_cap,
                                           const struct advice_policy *policy,
                                           struct metrics *metrics, size_t window);
/* Takes the job (and its mapping reference) on success. */
bool prefetch_pool_submit(struct prefetch_pool *p, const struct prefetch_job *job);
void prefetch_pool_destroy(struct prefetch_pool *p);

#endif
