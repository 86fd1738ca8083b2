/* metrics.c - per-thread metric shards, summed and rendered at scrape time. */
#include "metrics/metrics.h"

#include <jansson.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "metrics/process.h"

#define MAX_SHARDS 64
#define DURATION_BUCKETS 17

static const double duration_bounds[DURATION_BUCKETS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};

/* The status codes mmapd and libmicrohttpd answer with; anything else counts as "other". */
static const unsigned codes[] = {200, 204, 206, 301, 304, 400, 401, 403, 404, 405, 406, 408,
                                 412, 413, 414, 416, 429, 431, 500, 501, 503, 505};
#define N_CODES (sizeof codes / sizeof codes[0])
static const char *const code_names[N_CODES + 1] = {
    "200", "204", "206", "301", "304", "400", "401", "403", "404", "405", "406", "408",
    "412", "413", "414", "416", "429", "431", "500", "501", "503", "505", "other"};

const char *const metrics_class_names[METRICS_ADVICE_CLASSES] = {"stream", "random", "range"};
const char *const metrics_advice_names[METRICS_ADVICE_KINDS] = {"normal", "sequential", "random",
                                                                "willneed", "dontneed"};

static const char *const handler_names[MH_COUNT] = {"files",   "sample", "list",
                                                    "metrics", "health", "other"};
static const char *const method_names[MM_COUNT] = {"GET",     "HEAD",  "POST", "PUT",
                                                   "DELETE",  "OPTIONS", "PATCH", "other"};
static const char *const range_names[MR_COUNT] = {"single", "multi", "unsatisfiable",
                                                  "ignored"};
static const char *const read_error_names[MRE_COUNT] = {"sigbus", "efault", "short"};
static const char *const reject_names[MRJ_COUNT] = {"max_connections", "per_ip", "memory_pool",
                                                   "header_timeout"};
static const char *const fault_names[2] = {"minor", "major"};
static const char *const result_names[2] = {"ok", "error"};

struct shard {
    _Atomic uint64_t requests[MH_COUNT][MM_COUNT][N_CODES + 1];
    _Atomic uint64_t duration[MH_COUNT][DURATION_BUCKETS + 1];
    _Atomic uint64_t duration_sum_ns[MH_COUNT];
    _Atomic uint64_t body_bytes[MH_COUNT];
    _Atomic uint64_t faults[MH_COUNT][2];
    _Atomic uint64_t miss_bytes[MH_COUNT];
    _Atomic uint64_t ranges[MR_COUNT];
    _Atomic uint64_t madvise[METRICS_ADVICE_CLASSES][METRICS_ADVICE_KINDS][2];
    _Atomic uint64_t read_errors[MRE_COUNT];
    _Atomic uint64_t file_cache[MFC_COUNT];
    _Atomic uint64_t blocking_reads[MH_COUNT];
    _Atomic uint64_t stream_offloaded;
    _Atomic uint64_t rejected[MRJ_COUNT];
    _Atomic uint64_t tls_handshake_failures;
    _Atomic uint64_t sample_records;
    _Atomic uint64_t cold[MH_COUNT];
    _Atomic uint64_t prefetch[METRICS_ADVICE_CLASSES][DURATION_BUCKETS + 1];
    _Atomic uint64_t prefetch_sum_ns[METRICS_ADVICE_CLASSES];
    /* Page faults of an HTTP thread go to the handler whose code it runs: counted when the
     * thread turns to another handler (metrics_handler_enter) and, for the rest, when
     * metrics are rendered (from /proc). fault_lock guards the three fields under it; only
     * the owning thread writes fault_handler, so it may read it without the lock. */
    pthread_mutex_t fault_lock;
    int fault_handler;        /* the handler it runs; -1: not an HTTP thread (yet) */
    pid_t tid;                /* HTTP threads live as long as the daemon: it stays theirs */
    uint64_t fault_base[2];   /* the thread's minor and major faults when last counted */
} __attribute__((aligned(64)));

struct metrics {
    enum instrument_level level;
    uint64_t birth_ns; /* with the address, tells this object from a freed one */
    _Atomic unsigned claimed;
    /* configuration reloads (main thread only; rare): the last one's outcome, the time of
     * the last success (or of the start) in ms since the epoch, [success]: how many */
    _Atomic uint64_t reload_ok, reload_success_ms, reloads[2];
    struct shard shards[MAX_SHARDS + 1]; /* the last one is shared by late threads */
};

/* Each thread remembers its shard of the metrics it last recorded into. This cache is the
 * only thread-local state; the shards themselves belong to the metrics object. The owner is
 * known by its address and creation time: a metrics object created where a destroyed one was
 * must not inherit the old object's cached shard (its `claimed` count starts again at 0, so
 * that shard would not be summed, and its fault baseline would be unset). */
static _Thread_local struct {
    const struct metrics *owner;
    uint64_t owner_birth_ns;
    struct shard *shard;
} tls;

static struct shard *my_shard(struct metrics *m)
{
    if (tls.owner == m && tls.owner_birth_ns == m->birth_ns)
        return tls.shard;
    unsigned i = atomic_fetch_add_explicit(&m->claimed, 1, memory_order_relaxed);
    struct shard *s = &m->shards[i < MAX_SHARDS ? i : MAX_SHARDS];
    tls.owner = m;
    tls.owner_birth_ns = m->birth_ns;
    tls.shard = s;
    return s;
}

static void add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static uint64_t load(const _Atomic uint64_t *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

struct metrics *metrics_create(enum instrument_level level)
{
    struct metrics *m = aligned_alloc(64, sizeof(struct metrics));
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    for (unsigned i = 0; i <= MAX_SHARDS; i++) {
        struct shard *s = &m->shards[i];
        s->fault_handler = -1;
        if (pthread_mutex_init(&s->fault_lock, NULL) != 0) {
            while (i--)
                pthread_mutex_destroy(&m->shards[i].fault_lock);
            free(m);
            return NULL;
        }
    }
    m->level = level;
    m->birth_ns = metrics_now_ns();
    return m;
}

void metrics_destroy(struct metrics *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i <= MAX_SHARDS; i++)
        pthread_mutex_destroy(&m->shards[i].fault_lock);
    free(m);
}

enum instrument_level metrics_level(const struct metrics *m) { return m->level; }

uint64_t metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum metric_method metrics_method(const char *method)
{
    for (int i = 0; i < MM_OTHER; i++)
        if (strcmp(method, method_names[i]) == 0)
            return (enum metric_method)i;
    return MM_OTHER;
}

/* Shards that may hold counts: the claimed ones and the shared overflow shard. */
static bool shard_in_use(struct metrics *m, unsigned i)
{
    return i == MAX_SHARDS || i < atomic_load_explicit(&m->claimed, memory_order_relaxed);
}

static size_t code_index(unsigned status)
{
    for (size_t i = 0; i < N_CODES; i++)
        if (codes[i] == status)
            return i;
    return N_CODES;
}

static size_t duration_bucket(double seconds)
{
    size_t i = 0;
    while (i < DURATION_BUCKETS && seconds > duration_bounds[i])
        i++;
    return i;
}

void metrics_request_done(struct metrics *m, const struct request_record *r)
{
    if (m->level == INSTRUMENT_OFF)
        return;
    struct shard *s = my_shard(m);
    uint64_t ns = metrics_now_ns() - r->start_ns;
    add(&s->requests[r->handler][r->method][code_index(r->status)], 1);
    add(&s->duration[r->handler][duration_bucket((double)ns / 1e9)], 1);
    add(&s->duration_sum_ns[r->handler], ns);
    add(&s->body_bytes[r->handler], r->body_bytes);
    if (m->level != INSTRUMENT_FULL)
        return;
    add(&s->miss_bytes[r->handler], r->miss_bytes);
}

/* Counts the thread's faults since the last count (`minor`, `major` are its totals now) for
 * the handler it ran meanwhile. fault_lock held. */
static void count_faults_locked(struct shard *s, uint64_t minor, uint64_t major)
{
    if (s->fault_handler >= 0 && minor >= s->fault_base[0] && major >= s->fault_base[1]) {
        add(&s->faults[s->fault_handler][0], minor - s->fault_base[0]);
        add(&s->faults[s->fault_handler][1], major - s->fault_base[1]);
    }
    s->fault_base[0] = minor;
    s->fault_base[1] = major;
}

void metrics_handler_enter(struct metrics *m, enum metric_handler h)
{
    if (m->level != INSTRUMENT_FULL)
        return;
    struct shard *s = my_shard(m);
    struct rusage ru;
    if (s == &m->shards[MAX_SHARDS] || s->fault_handler == (int)h ||
        getrusage(RUSAGE_THREAD, &ru) != 0)
        return;
    pthread_mutex_lock(&s->fault_lock);
    count_faults_locked(s, (uint64_t)ru.ru_minflt, (uint64_t)ru.ru_majflt);
    if (s->fault_handler < 0)
        s->tid = gettid();
    s->fault_handler = (int)h;
    pthread_mutex_unlock(&s->fault_lock);
}

/* Counts every HTTP thread's faults up to now, read from /proc, for the handler it runs. */
static void catch_up_faults(struct metrics *m)
{
    for (unsigned i = 0; i < MAX_SHARDS; i++) {
        if (!shard_in_use(m, i))
            continue;
        struct shard *s = &m->shards[i];
        uint64_t minor, major;
        pthread_mutex_lock(&s->fault_lock);
        if (s->fault_handler >= 0 && process_thread_faults(s->tid, &minor, &major))
            count_faults_locked(s, minor, major);
        pthread_mutex_unlock(&s->fault_lock);
    }
}

void metrics_range(struct metrics *m, enum metric_range kind)
{
    if (m->level != INSTRUMENT_OFF)
        add(&my_shard(m)->ranges[kind], 1);
}

void metrics_cold_request(struct metrics *m, enum metric_handler h)
{
    if (m->level != INSTRUMENT_OFF)
        add(&my_shard(m)->cold[h], 1);
}

void metrics_add_faults(struct metrics *m, enum metric_handler h, uint64_t minor, uint64_t major)
{
    if (m->level != INSTRUMENT_FULL)
        return;
    struct shard *s = my_shard(m);
    add(&s->faults[h][0], minor);
    add(&s->faults[h][1], major);
}

void metrics_prefetch_done(struct metrics *m, int cls, uint64_t ns)
{
    if (m->level == INSTRUMENT_OFF)
        return;
    struct shard *s = my_shard(m);
    add(&s->prefetch[cls][duration_bucket((double)ns / 1e9)], 1);
    add(&s->prefetch_sum_ns[cls], ns);
}

void metrics_madvise(struct metrics *m, int access_class, int advice, bool ok)
{
    add(&my_shard(m)->madvise[access_class][advice][ok ? 0 : 1], 1);
}

void metrics_read_error(struct metrics *m, enum metric_read_error reason)
{
    add(&my_shard(m)->read_errors[reason], 1);
}

void metrics_file_cache(struct metrics *m, enum metric_file_cache what)
{
    add(&my_shard(m)->file_cache[what], 1);
}

void metrics_blocking_read(struct metrics *m, enum metric_handler h)
{
    add(&my_shard(m)->blocking_reads[h], 1);
}

void metrics_stream_offloaded(struct metrics *m, uint64_t bytes)
{
    add(&my_shard(m)->stream_offloaded, bytes);
}

void metrics_connection_rejected(struct metrics *m, enum metric_reject reason)
{
    add(&my_shard(m)->rejected[reason], 1);
}

void metrics_config_loaded(struct metrics *m, uint64_t unix_ms)
{
    atomic_store(&m->reload_ok, 1);
    atomic_store(&m->reload_success_ms, unix_ms);
}

void metrics_config_reloaded(struct metrics *m, bool ok, uint64_t unix_ms)
{
    atomic_store(&m->reload_ok, ok);
    if (ok)
        atomic_store(&m->reload_success_ms, unix_ms);
    atomic_fetch_add(&m->reloads[ok], 1);
}

void metrics_tls_handshake_failed(struct metrics *m)
{
    add(&my_shard(m)->tls_handshake_failures, 1);
}

void metrics_sample_records(struct metrics *m, uint64_t n)
{
    if (m->level != INSTRUMENT_OFF && n)
        add(&my_shard(m)->sample_records, n);
}

uint64_t metrics_madvise_count(struct metrics *m, int access_class, int advice, bool ok)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i <= MAX_SHARDS; i++)
        if (shard_in_use(m, i))
            sum += load(&m->shards[i].madvise[access_class][advice][ok ? 0 : 1]);
    return sum;
}

/* ---- rendering ---- */

/* The sum of all shards, as plain numbers. */
struct totals {
    uint64_t requests[MH_COUNT][MM_COUNT][N_CODES + 1];
    uint64_t duration[MH_COUNT][DURATION_BUCKETS + 1];
    uint64_t duration_sum_ns[MH_COUNT];
    uint64_t body_bytes[MH_COUNT];
    uint64_t faults[MH_COUNT][2];
    uint64_t miss_bytes[MH_COUNT];
    uint64_t ranges[MR_COUNT];
    uint64_t madvise[METRICS_ADVICE_CLASSES][METRICS_ADVICE_KINDS][2];
    uint64_t read_errors[MRE_COUNT];
    uint64_t file_cache[MFC_COUNT];
    uint64_t blocking_reads[MH_COUNT];
    uint64_t stream_offloaded;
    uint64_t rejected[MRJ_COUNT];
    uint64_t tls_handshake_failures;
    uint64_t reload_ok, reload_success_ms, reloads[2];
    uint64_t sample_records;
    uint64_t cold[MH_COUNT];
    uint64_t prefetch[METRICS_ADVICE_CLASSES][DURATION_BUCKETS + 1];
    uint64_t prefetch_sum_ns[METRICS_ADVICE_CLASSES];
};

/* Adds n counters of a shard field into the matching totals field. */
static void sum_into(uint64_t *dst, const _Atomic uint64_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += load(&src[i]);
}

#define SUM_FIELD(t, s, f) \
    sum_into((uint64_t *)(t)->f, (const _Atomic uint64_t *)(s)->f, sizeof((t)->f) / sizeof(uint64_t))

static void sum_shards(struct metrics *m, struct totals *t)
{
    memset(t, 0, sizeof *t);
    t->reload_ok = load(&m->reload_ok);
    t->reload_success_ms = load(&m->reload_success_ms);
    t->reloads[0] = load(&m->reloads[0]);
    t->reloads[1] = load(&m->reloads[1]);
    for (unsigned i = 0; i <= MAX_SHARDS; i++) {
        if (!shard_in_use(m, i))
            continue;
        const struct shard *s = &m->shards[i];
        SUM_FIELD(t, s, requests);
        SUM_FIELD(t, s, duration);
        SUM_FIELD(t, s, duration_sum_ns);
        SUM_FIELD(t, s, body_bytes);
        SUM_FIELD(t, s, faults);
        SUM_FIELD(t, s, miss_bytes);
        SUM_FIELD(t, s, ranges);
        SUM_FIELD(t, s, madvise);
        SUM_FIELD(t, s, read_errors);
        SUM_FIELD(t, s, file_cache);
        SUM_FIELD(t, s, blocking_reads);
        SUM_FIELD(t, s, rejected);
        SUM_FIELD(t, s, cold);
        SUM_FIELD(t, s, prefetch);
        SUM_FIELD(t, s, prefetch_sum_ns);
        t->sample_records += load(&s->sample_records);
        t->stream_offloaded += load(&s->stream_offloaded);
        t->tls_handshake_failures += load(&s->tls_handshake_failures);
    }
}

/* Sample and label storage for one render, allocated once at full capacity (never moved),
 * freed together. */
struct render {
    struct metric_family fam[64];
    size_t nfam;
    struct metric_sample *samples;
    size_t nsamples, cap;
    const char **labels;
    size_t nlabels, lcap;
    struct metric_histogram hist[MH_COUNT];
    struct metric_histogram prefetch_hist[METRICS_ADVICE_CLASSES];
    bool failed;
};

static void family(struct render *r, const char *name, const char *help,
                                    enum metric_type type, const char *const *label_names,
                                    size_t nlabels)
{
    if (r->nfam == sizeof r->fam / sizeof r->fam[0]) {
        r->failed = true;
        return;
    }
    /* this family's samples are the ones sample() appends next */
    r->fam[r->nfam++] = (struct metric_family){name, help, type, label_names, nlabels,
                                               r->samples + r->nsamples, 0};
}

/* Adds a sample with `n` label values to the last family. */
static void sample(struct render *r, double value, const struct metric_histogram *h, size_t n,
                   ...)
{
    if (r->nfam == 0 || r->nsamples == r->cap || r->nlabels + n > r->lcap) {
        r->failed = true;
        return;
    }
    va_list ap;
    va_start(ap, n);
    struct metric_sample *s = &r->samples[r->nsamples++];
    s->label_values = r->labels + r->nlabels;
    for (size_t i = 0; i < n; i++)
        r->labels[r->nlabels++] = va_arg(ap, const char *);
    va_end(ap);
    s->value = value;
    s->histogram = h;
    r->fam[r->nfam - 1].nsamples++;
}

static const char *const L_HMC[] = {"handler", "method", "code"};
static const char *const L_H[] = {"handler"};
static const char *const L_HT[] = {"handler", "type"};
static const char *const L_CAR[] = {"class", "advice", "result"};
static const char *const L_KIND[] = {"kind"};
static const char *const L_REASON[] = {"reason"};
static const char *const L_CLASS[] = {"class"};
static const char *const L_CW[] = {"class", "willneed"};
static const char *const yes_no[2] = {"no", "yes"};
static const char *const L_RESULT[] = {"result"};
static const char *const reload_results[2] = {"failure", "success"};
static const char *const L_TYPE[] = {"type"};
static const char *const L_BUILD[] = {"version", "libmicrohttpd", "jansson"};

static void add_process(struct render *r)
{
    struct process_stats p;
    process_read(&p);
    const struct {
        const char *name, *help;
        enum metric_type type;
        double v;
    } simple[] = {
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
         METRIC_COUNTER, p.cpu_seconds},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", METRIC_GAUGE,
         p.resident_bytes},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", METRIC_GAUGE,
         p.virtual_bytes},
        {"process_open_fds", "Number of open file descriptors.", METRIC_GAUGE, p.open_fds},
        {"process_max_fds", "Maximum number of open file descriptors.", METRIC_GAUGE,
         p.max_fds},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
         METRIC_GAUGE, p.start_time_seconds},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        if (simple[i].v < 0)
            continue;
        family(r, simple[i].name, simple[i].help, simple[i].type, NULL, 0);
        sample(r, simple[i].v, NULL, 0);
    }
    if (p.minor_faults >= 0) {
        family(r, "process_page_faults_total", "Page faults of the whole process by type.",
               METRIC_COUNTER, L_TYPE, 1);
        sample(r, p.minor_faults, NULL, 1, "minor");
        sample(r, p.major_faults, NULL, 1, "major");
    }
}

static void build(struct render *r, const struct totals *t, const struct metrics_inputs *in,
                  uint64_t (*counts)[DURATION_BUCKETS + 1])
{
    family(r, "mmapd_http_requests_total", "HTTP requests finished, by handler, method and status.",
           METRIC_COUNTER, L_HMC, 3);
    for (int h = 0; h < MH_COUNT; h++)
        for (int m = 0; m < MM_COUNT; m++)
            for (size_t c = 0; c <= N_CODES; c++)
                if (t->requests[h][m][c])
                    sample(r, (double)t->requests[h][m][c], NULL, 3, handler_names[h],
                           method_names[m], code_names[c]);

    family(r, "mmapd_http_request_duration_seconds",
           "Time from the first handler call to the last byte handed to the kernel.",
           METRIC_HISTOGRAM, L_H, 1);
    for (int h = 0; h < MH_COUNT; h++) {
        memcpy(counts[h], t->duration[h], sizeof counts[h]);
        r->hist[h] = (struct metric_histogram){duration_bounds, DURATION_BUCKETS, counts[h],
                                               (double)t->duration_sum_ns[h] / 1e9};
        sample(r, 0, &r->hist[h], 1, handler_names[h]);
    }

    family(r, "mmapd_http_response_bytes_total", "Response body bytes sent, by handler.",
           METRIC_COUNTER, L_H, 1);
    for (int h = 0; h < MH_COUNT; h++)
        sample(r, (double)t->body_bytes[h], NULL, 1, handler_names[h]);

    family(r, "mmapd_http_requests_in_flight", "Requests being served.", METRIC_GAUGE, NULL, 0);
    sample(r, (double)in->in_flight, NULL, 0);

    family(r, "mmapd_page_faults_total",
           "Page faults taken by the serving thread, attributed to the handler that finished.",
           METRIC_COUNTER, L_HT, 2);
    for (int h = 0; h < MH_COUNT; h++)
        for (int k = 0; k < 2; k++)
            sample(r, (double)t->faults[h][k], NULL, 2, handler_names[h], fault_names[k]);

    family(r, "mmapd_page_cache_miss_bytes_total",
           "Requested bytes not resident in the page cache at request time (mincore).",
           METRIC_COUNTER, L_H, 1);
    for (int h = 0; h < MH_COUNT; h++)
        sample(r, (double)t->miss_bytes[h], NULL, 1, handler_names[h]);

    family(r, "mmapd_madvise_calls_total", "madvise calls by access class, advice and result.",
           METRIC_COUNTER, L_CAR, 3);
    for (int c = 0; c < METRICS_ADVICE_CLASSES; c++)
        for (int a = 0; a < METRICS_ADVICE_KINDS; a++)
            for (int k = 0; k < 2; k++)
                sample(r, (double)t->madvise[c][a][k], NULL, 3,
                       metrics_class_names[c], metrics_advice_names[a],
                       result_names[k]);

    family(r, "mmapd_mapped_files", "Live file mappings, including replaced ones still in use.",
           METRIC_GAUGE, NULL, 0);
    sample(r, (double)in->mapped_files, NULL, 0);
    family(r, "mmapd_mapped_bytes", "Bytes of live file mappings.", METRIC_GAUGE, NULL, 0);
    sample(r, (double)in->mapped_bytes, NULL, 0);

    static const char *const cache_families[MFC_COUNT][2] = {
        {"mmapd_file_cache_hits_total", "Lookups answered by a cached open file."},
        {"mmapd_file_cache_misses_total", "Lookups that opened the file."},
        {"mmapd_file_cache_admissions_total", "Opened files the cache admitted."},
        {"mmapd_file_cache_evictions_total", "Cached files evicted to admit another."}};
    for (int k = 0; k < MFC_COUNT; k++) {
        family(r, cache_families[k][0], cache_families[k][1], METRIC_COUNTER, NULL, 0);
        sample(r, (double)t->file_cache[k], NULL, 0);
    }
    family(r, "mmapd_file_cache_entries", "Open files in the cache.", METRIC_GAUGE, NULL, 0);
    sample(r, (double)in->file_cache_entries, NULL, 0);
    family(r, "mmapd_file_cache_capacity", "Open files the cache holds at most.", METRIC_GAUGE,
           NULL, 0);
    sample(r, (double)in->file_cache_capacity, NULL, 0);
    family(r, "mmapd_open_files",
           "Files held open: cached, and in use by requests (one descriptor each).",
           METRIC_GAUGE, NULL, 0);
    sample(r, (double)in->open_files, NULL, 0);
    family(r, "mmapd_advice_auto_willneed",
           "Under the auto advice: 1 when cold requests of the class get WILLNEED now.",
           METRIC_GAUGE, L_CLASS, 1);
    for (int c = 0; c < METRICS_ADVICE_CLASSES; c++)
        if (in->advice_auto[c].used)
            sample(r, in->advice_auto[c].serving ? 1 : 0, NULL, 1,
                   metrics_class_names[c]);
    family(r, "mmapd_advice_auto_cost_seconds_per_mib",
           "Under the auto advice: what a cold request cost per MiB sent, with and without "
           "WILLNEED (exponentially weighted average).",
           METRIC_GAUGE, L_CW, 2);
    for (int c = 0; c < METRICS_ADVICE_CLASSES; c++)
        for (int w = 0; w < 2 && in->advice_auto[c].used; w++)
            if (in->advice_auto[c].costs[w])
                sample(r, in->advice_auto[c].cost_ns[w] / 1e9, NULL, 2,
                       metrics_class_names[c], yes_no[w]);
    family(r, "mmapd_advice_auto_requests_total",
           "Under the auto advice: cold requests (for stream, 32 MiB segments of a long one) "
           "measured, with and without WILLNEED.",
           METRIC_COUNTER, L_CW, 2);
    for (int c = 0; c < METRICS_ADVICE_CLASSES; c++)
        for (int w = 0; w < 2 && in->advice_auto[c].used; w++)
            sample(r, (double)in->advice_auto[c].costs[w], NULL, 2,
                   metrics_class_names[c], yes_no[w]);
    family(r, "mmapd_advice_auto_changes_total",
           "Under the auto advice: times the class changed between WILLNEED and none.",
           METRIC_COUNTER, L_CLASS, 1);
    for (int c = 0; c < METRICS_ADVICE_CLASSES; c++)
        if (in->advice_auto[c].used)
            sample(r, (double)in->advice_auto[c].changes, NULL, 1,
                   metrics_class_names[c]);
    family(r, "mmapd_blocking_reads_total",
           "Reads on an HTTP thread that waited for the disk (no prefetch helper took the "
           "request, or its pages were evicted again after their prefetch), by handler.",
           METRIC_COUNTER, L_H, 1);
    for (int h = 0; h < MH_COUNT; h++)
        sample(r, (double)t->blocking_reads[h], NULL, 1, handler_names[h]);

    family(r, "mmapd_stream_offloaded_bytes_total",
           "Bytes of streamed /files bodies a helper thread read into the send buffer while "
           "other requests were being answered, instead of the HTTP thread copying them.",
           METRIC_COUNTER, NULL, 0);
    sample(r, (double)t->stream_offloaded, NULL, 0);

    family(r, "mmapd_range_requests_total", "Requests with a Range header, by outcome.",
           METRIC_COUNTER, L_KIND, 1);
    for (int k = 0; k < MR_COUNT; k++)
        sample(r, (double)t->ranges[k], NULL, 1, range_names[k]);

    family(r, "mmapd_sample_records_total", "Records served by /sample.", METRIC_COUNTER,
           NULL, 0);
    sample(r, (double)t->sample_records, NULL, 0);

    family(r, "mmapd_sample_lookahead_pages_total",
           "/sample pages read ahead (--sample-lookahead) that had cold records.", METRIC_COUNTER,
           NULL, 0);
    sample(r, (double)in->lookahead.pages, NULL, 0);
    family(r, "mmapd_sample_lookahead_bytes_total",
           "Bytes of cold records that /sample lookahead gave MADV_WILLNEED for.",
           METRIC_COUNTER, NULL, 0);
    sample(r, (double)in->lookahead.bytes, NULL, 0);
    family(r, "mmapd_sample_lookahead_hits_total",
           "/sample requests for a page read ahead whose records were then all resident.",
           METRIC_COUNTER, NULL, 0);
    sample(r, (double)in->lookahead.hits, NULL, 0);
    family(r, "mmapd_sample_lookahead_late_total",
           "/sample requests for a page read ahead with records still being read in.",
           METRIC_COUNTER, NULL, 0);
    sample(r, (double)in->lookahead.late, NULL, 0);
    family(r, "mmapd_sample_lookahead_wasted_pages_total",
           "/sample pages read ahead that nobody asked for within the expiry.", METRIC_COUNTER,
           NULL, 0);
    sample(r, (double)in->lookahead.wasted_pages, NULL, 0);
    family(r, "mmapd_sample_lookahead_wasted_bytes_total",
           "Bytes read ahead for /sample pages that nobody asked for within the expiry.",
           METRIC_COUNTER, NULL, 0);
    sample(r, (double)in->lookahead.wasted_bytes, NULL, 0);
    family(r, "mmapd_sample_lookahead_dropped_total",
           "/sample pages not read ahead: the helpers' background lane was full (busy), or "
           "the total or per-client budget was spent (budget).",
           METRIC_COUNTER, L_REASON, 1);
    sample(r, (double)in->lookahead.dropped_busy, NULL, 1, "busy");
    sample(r, (double)in->lookahead.dropped_budget, NULL, 1, "budget");
    family(r, "mmapd_sample_lookahead_outstanding_bytes",
           "Bytes of /sample pages read ahead and not yet asked for (charged to the budget).",
           METRIC_GAUGE, NULL, 0);
    sample(r, (double)in->lookahead.outstanding_bytes, NULL, 0);

    family(r, "mmapd_read_errors_total", "Reads of mapped data that failed and were survived.",
           METRIC_COUNTER, L_REASON, 1);
    for (int k = 0; k < MRE_COUNT; k++)
        sample(r, (double)t->read_errors[k], NULL, 1, read_error_names[k]);

    family(r, "mmapd_connections_open",
           "Client connections open, served or accepted only to be refused.", METRIC_GAUGE, NULL,
           0);
    sample(r, (double)in->connections_open, NULL, 0);

    family(r, "mmapd_connections_rejected_total",
           "Connections refused: answered 503 or closed at a connection limit, or cut off by "
           "libmicrohttpd when a request outgrew the memory pool.",
           METRIC_COUNTER, L_REASON, 1);
    for (int k = 0; k < MRJ_COUNT; k++)
        sample(r, (double)t->rejected[k], NULL, 1, reject_names[k]);

    family(r, "mmapd_tls_handshake_failures_total",
           "TLS handshakes that failed: protocol or suite refused, client certificate missing "
           "or not trusted, or the client gone before the end (0 without TLS).",
           METRIC_COUNTER, NULL, 0);
    sample(r, (double)t->tls_handshake_failures, NULL, 0);

    family(r, "mmapd_config_last_reload_successful",
           "Whether the last configuration reload (SIGHUP) succeeded; 1 from the start.",
           METRIC_GAUGE, NULL, 0);
    sample(r, (double)t->reload_ok, NULL, 0);
    family(r, "mmapd_config_last_reload_success_timestamp_seconds",
           "Unix time of the last successful configuration reload, or of the start.",
           METRIC_GAUGE, NULL, 0);
    sample(r, (double)t->reload_success_ms / 1e3, NULL, 0);
    family(r, "mmapd_config_reloads_total", "Configuration reloads (SIGHUP), by result.",
           METRIC_COUNTER, L_RESULT, 1);
    for (int k = 0; k < 2; k++)
        sample(r, (double)t->reloads[k], NULL, 1, reload_results[k]);

    family(r, "mmapd_access_log_lines_total",
           "Access log lines made, written or dropped (0 with --access-log off).",
           METRIC_COUNTER, NULL, 0);
    sample(r, (double)in->access_log_lines, NULL, 0);
    family(r, "mmapd_access_log_write_failures_total",
           "Writes of the access log that failed (disk full, I/O error); serving went on.",
           METRIC_COUNTER, NULL, 0);
    sample(r, (double)in->access_log_write_failures, NULL, 0);
    family(r, "mmapd_access_log_dropped_lines_total",
           "Access log lines lost to failed writes.", METRIC_COUNTER, NULL, 0);
    sample(r, (double)in->access_log_dropped, NULL, 0);

    family(r, "mmapd_cold_requests_total",
           "Requests found cold and handed to the prefetch helpers, by handler.", METRIC_COUNTER,
           L_H, 1);
    for (int h = 0; h < MH_COUNT; h++)
        sample(r, (double)t->cold[h], NULL, 1, handler_names[h]);

    family(r, "mmapd_prefetch_duration_seconds",
           "Time a cold request waited for its prefetch, by access class.", METRIC_HISTOGRAM,
           L_CLASS, 1);
    for (int c = 0; c < METRICS_ADVICE_CLASSES; c++) {
        r->prefetch_hist[c] = (struct metric_histogram){duration_bounds, DURATION_BUCKETS,
                                                        t->prefetch[c],
                                                        (double)t->prefetch_sum_ns[c] / 1e9};
        sample(r, 0, &r->prefetch_hist[c], 1, metrics_class_names[c]);
    }

    family(r, "mmapd_build_info", "Build facts; the value is always 1.", METRIC_GAUGE, L_BUILD, 3);
    sample(r, 1, NULL, 3, MMAPD_VERSION, MHD_get_version(), JANSSON_VERSION);

    add_process(r);
}

char *metrics_render(struct metrics *m, const struct metrics_inputs *in,
                     enum exposition_format fmt, size_t *len)
{
    struct totals *t = malloc(sizeof *t);
    uint64_t(*counts)[DURATION_BUCKETS + 1] = calloc(MH_COUNT, sizeof *counts);
    struct render r = {.cap = MH_COUNT * MM_COUNT * (N_CODES + 1) + 256, .lcap = 0};
    r.lcap = r.cap * 3;
    r.samples = calloc(r.cap, sizeof *r.samples);
    r.labels = calloc(r.lcap, sizeof *r.labels);
    char *text = NULL;
    if (t && counts && r.samples && r.labels) {
        if (m->level == INSTRUMENT_FULL)
            catch_up_faults(m);
        sum_shards(m, t);
        build(&r, t, in, counts);
        if (!r.failed) {
            struct strbuf out = {0};
            if (exposition_write(&out, r.fam, r.nfam, fmt))
                text = strbuf_take(&out, len);
            else
                strbuf_free(&out);
        }
    }
    free(t);
    free(counts);
    free(r.samples);
    free(r.labels);
    return text;
}
