/* metrics.h - mmapd's metrics: the names of the metric reference (docs/operating.md), updated
 * without a shared lock.
 *
 * Each thread that records writes to its own cache-line-aligned shard (relaxed atomic adds,
 * found through a thread-local pointer on first use); metrics_render() sums the shards and
 * renders the exposition, so a scrape never stops a request. Threads beyond the shard count
 * share an overflow shard, still lock free. Gauges owned elsewhere (in-flight requests,
 * open connections, mapped files and bytes) are passed to metrics_render() as inputs.
 */
#ifndef MMAPD_METRICS_H
#define MMAPD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/exposition.h"

enum metric_handler { MH_FILES, MH_SAMPLE, MH_LIST, MH_METRICS, MH_HEALTH, MH_OTHER, MH_COUNT };

enum metric_method {
    MM_GET, MM_HEAD, MM_POST, MM_PUT, MM_DELETE, MM_OPTIONS, MM_PATCH, MM_OTHER, MM_COUNT
};

enum metric_range { MR_SINGLE, MR_MULTI, MR_UNSATISFIABLE, MR_IGNORED, MR_COUNT };

enum metric_read_error { MRE_SIGBUS, MRE_EFAULT, MRE_SHORT, MRE_COUNT };

/* File cache outcomes (filedata/file_map.h): a lookup answered from the cache or not, an
 * entry admitted into it, an entry evicted from it. */
enum metric_file_cache { MFC_HIT, MFC_MISS, MFC_ADMISSION, MFC_EVICTION, MFC_COUNT };

/* Why a connection was refused (mmapd_connections_rejected_total{reason}): over
 * --max-connections, over --max-connections-per-ip, a request that outgrew the connection's
 * memory pool (libmicrohttpd answered 431 or 414 itself), or headers that did not arrive
 * within --header-timeout (the connection was shut down). */
enum metric_reject {
    MRJ_MAX_CONNECTIONS,
    MRJ_PER_IP,
    MRJ_MEMORY_POOL,
    MRJ_HEADER_TIMEOUT,
    MRJ_COUNT
};

/* The access classes and the madvise advice, as the label values of the madvise and prefetch
 * families. filedata/advice.h numbers its enums in this order and takes its names from these
 * tables, so each name is spelled once; it checks both counts. */
#define METRICS_ADVICE_CLASSES 3
#define METRICS_ADVICE_KINDS 5
extern const char *const metrics_class_names[METRICS_ADVICE_CLASSES];
extern const char *const metrics_advice_names[METRICS_ADVICE_KINDS];

/* How much each request records: OFF nothing per request (no request, duration, byte or range
 * counts; madvise calls and read errors are still counted); BASIC counts, bytes, durations
 * and range outcomes; FULL also page faults and page-cache misses. */
enum instrument_level { INSTRUMENT_OFF, INSTRUMENT_BASIC, INSTRUMENT_FULL };

struct metrics;

struct request_record {
    enum metric_handler handler;
    enum metric_method method;
    unsigned status;
    uint64_t body_bytes;   /* sent, 0 for HEAD and 304 */
    uint64_t start_ns;     /* metrics_now_ns() at the first handler call */
    uint64_t miss_bytes;   /* requested bytes found not resident */
    uint64_t sample_records; /* /sample records in the body, 0 for HEAD and failed sends */
};

struct metrics_inputs {
    uint64_t in_flight;
    uint64_t mapped_files, mapped_bytes;
    uint64_t connections_open;
    uint64_t open_files;                     /* file descriptors held by file entries */
    uint64_t file_cache_entries, file_cache_capacity;
    uint64_t access_log_lines, access_log_write_failures, access_log_dropped; /* 0: off */
    struct {                  /* the /sample lookahead (handlers/sample_lookahead.h); 0: off */
        uint64_t pages, bytes, hits, late, wasted_pages, wasted_bytes;
        uint64_t dropped_busy, dropped_budget, outstanding_bytes;
    } lookahead;
    struct {                  /* the `auto` advice of each access class (filedata/advice_auto.h) */
        bool used;            /* the class's policy is `auto` */
        double cost_ns[2];    /* [willneed]: average ns per MiB of cold requests, 0: none yet */
        uint64_t costs[2];    /* [willneed]: cold requests measured */
        bool serving;         /* the arm that serves gives WILLNEED */
        uint64_t changes;
    } advice_auto[METRICS_ADVICE_CLASSES];
};

struct metrics *metrics_create(enum instrument_level level);
void metrics_destroy(struct metrics *m);
enum instrument_level metrics_level(const struct metrics *m);

uint64_t metrics_now_ns(void);
enum metric_method metrics_method(const char *method);

/* The calling HTTP thread now runs handler h's code (dispatching its request, or producing
 * its body): the page faults it takes from here on count for h, until it enters another
 * handler. Costs one getrusage(2) when the handler changes, nothing otherwise; faults since
 * the last change are read from /proc when metrics are rendered. FULL level only. */
void metrics_handler_enter(struct metrics *m, enum metric_handler h);

/* A request finished (the MHD completion callback, on the thread that sent it). */
void metrics_request_done(struct metrics *m, const struct request_record *r);

void metrics_range(struct metrics *m, enum metric_range kind);
/* A request found cold and handed to the prefetch helpers (counted at any level but OFF). */
void metrics_cold_request(struct metrics *m, enum metric_handler h);
/* Page faults a helper thread took on behalf of handler h (FULL level only). */
void metrics_add_faults(struct metrics *m, enum metric_handler h, uint64_t minor, uint64_t major);
/* A prefetch job of access class `cls` finished after `ns` nanoseconds (helper thread). */
void metrics_prefetch_done(struct metrics *m, int cls, uint64_t ns);
void metrics_madvise(struct metrics *m, int access_class, int advice, bool ok);
void metrics_read_error(struct metrics *m, enum metric_read_error reason);
/* A file cache outcome (counted at every instrument level, like read errors). */
void metrics_file_cache(struct metrics *m, enum metric_file_cache what);
/* A read on an HTTP thread that had to wait for the disk: no prefetch helper took the request
 * (none configured, or their queue full), or its pages, brought in by a helper, were evicted
 * again before the read. */
void metrics_blocking_read(struct metrics *m, enum metric_handler h);
/* Bytes of a streamed /files body a helper read into its send buffer for an HTTP thread
 * (counted at every instrument level, like blocking reads). */
void metrics_stream_offloaded(struct metrics *m, uint64_t bytes);
/* A connection refused (counted at every instrument level, like read errors). */
void metrics_connection_rejected(struct metrics *m, enum metric_reject reason);
/* A TLS handshake failed (counted at every instrument level). */
void metrics_tls_handshake_failed(struct metrics *m);
/* The configuration was loaded at start (`unix_ms`: now, ms since the epoch), or reloaded
 * (SIGHUP) with success or not: mmapd_config_last_reload_successful,
 * mmapd_config_last_reload_success_timestamp_seconds, mmapd_config_reloads_total. */
void metrics_config_loaded(struct metrics *m, uint64_t unix_ms);
void metrics_config_reloaded(struct metrics *m, bool ok, uint64_t unix_ms);
/* Records served by /sample (mmapd_sample_records_total); nothing with --instrument off. */
void metrics_sample_records(struct metrics *m, uint64_t n);

/* The madvise calls counted so far for one class, advice and result (sums the shards). */
uint64_t metrics_madvise_count(struct metrics *m, int access_class, int advice, bool ok);

/* Renders every family; returns malloc'd text (len in *len) or NULL when out of memory. */
char *metrics_render(struct metrics *m, const struct metrics_inputs *in,
                     enum exposition_format fmt, size_t *len);

#endif
