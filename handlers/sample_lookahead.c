/* sample_lookahead.c - the table of pages read ahead, their budgets, and the helpers' task. */
#include "handlers/sample_lookahead.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/fnv.h"
#include "filedata/advice.h"
#include "filedata/residency.h"
#include "metrics/metrics.h"

enum slot_state { SLOT_FREE, SLOT_PENDING, SLOT_DONE };

struct slot {
    uint64_t key;
    uint64_t client;
    uint64_t bytes;   /* charged to the budgets: n * size while pending, then the cold bytes */
    uint64_t done_ns; /* when its task finished (the expiry counts from there) */
    uint64_t id;      /* tells a task whether its slot is still its own */
    enum slot_state state;
};

struct sample_lookahead {
    pthread_mutex_t lock;
    struct sample_lookahead_config cfg;
    struct prefetch_pool *pool;
    struct metrics *metrics;
    size_t window;
    _Atomic size_t used; /* slots not free */
    uint64_t next_id;
    uint64_t last_sweep_ns;
    struct sample_lookahead_stats st; /* outstanding_bytes: the sum of the slots' bytes */
    struct slot slots[LOOKAHEAD_SLOTS];
};

/* A page for a helper to read ahead. */
struct task {
    struct sample_lookahead *la;
    struct mapped_file *m;
    struct sampler s;
    uint64_t size;
    size_t slot;
    uint64_t id;
};

struct sample_lookahead *sample_lookahead_create(const struct sample_lookahead_config *cfg,
                                                 struct prefetch_pool *pool,
                                                 struct metrics *metrics, size_t window)
{
    struct sample_lookahead *la = calloc(1, sizeof *la);
    if (!la)
        return NULL;
    if (pthread_mutex_init(&la->lock, NULL) != 0) {
        free(la);
        return NULL;
    }
    la->cfg = *cfg;
    if (!la->cfg.expiry_ns)
        la->cfg.expiry_ns = LOOKAHEAD_EXPIRY_NS;
    la->pool = pool;
    la->metrics = metrics;
    la->window = window;
    return la;
}

void sample_lookahead_destroy(struct sample_lookahead *la)
{
    if (!la)
        return;
    pthread_mutex_destroy(&la->lock);
    free(la);
}

unsigned sample_lookahead_depth(const struct sample_lookahead *la)
{
    return la ? la->cfg.depth : 0;
}

uint64_t sample_lookahead_key(const char *etag, const struct sample_spec *spec)
{
    uint64_t h = fnv1a(FNV1A_START, etag, strlen(etag));
    const uint64_t v[] = {spec->file_size, spec->size, spec->align, spec->n,    spec->seed,
                          spec->epoch,     spec->rank, spec->world, spec->start};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        h = fnv1a_u64(h, v[i]);
    return h;
}

/* ---- the table (the lock held) ---- */

static void free_slot(struct sample_lookahead *la, struct slot *sl)
{
    la->st.outstanding_bytes -= sl->bytes;
    sl->state = SLOT_FREE;
    sl->bytes = 0;
    atomic_fetch_sub_explicit(&la->used, 1, memory_order_relaxed);
}

/* Entries whose hints were given more than the expiry ago: wasted. At most once a second (or
 * half an expiry, if shorter). */
static void sweep(struct sample_lookahead *la, uint64_t now)
{
    uint64_t every = la->cfg.expiry_ns / 2 < 1000000000ull ? la->cfg.expiry_ns / 2 : 1000000000ull;
    if (la->last_sweep_ns && now - la->last_sweep_ns < every)
        return;
    la->last_sweep_ns = now;
    for (size_t i = 0; i < LOOKAHEAD_SLOTS; i++) {
        struct slot *sl = &la->slots[i];
        if (sl->state != SLOT_DONE || now - sl->done_ns < la->cfg.expiry_ns)
            continue;
        if (sl->bytes) {
            la->st.wasted_pages++;
            la->st.wasted_bytes += sl->bytes;
        }
        free_slot(la, sl);
    }
}

/* A page lives in one of the LOOKAHEAD_PROBES slots from key % LOOKAHEAD_SLOTS on. */
static struct slot *probe(struct sample_lookahead *la, uint64_t key, size_t i)
{
    return &la->slots[(key + i) % LOOKAHEAD_SLOTS];
}

static struct slot *find(struct sample_lookahead *la, uint64_t key)
{
    for (size_t i = 0; i < LOOKAHEAD_PROBES; i++) {
        struct slot *sl = probe(la, key, i);
        if (sl->state != SLOT_FREE && sl->key == key)
            return sl;
    }
    return NULL;
}

enum reserve { RESERVED, ALREADY, NO_BUDGET };

/* A pending slot for the page `key` of `bytes`, charged to the budgets. */
static enum reserve reserve(struct sample_lookahead *la, uint64_t key, uint64_t client,
                            uint64_t bytes, size_t *slot, uint64_t *id)
{
    if (find(la, key))
        return ALREADY;
    struct slot *free_one = NULL;
    for (size_t i = 0; i < LOOKAHEAD_PROBES && !free_one; i++)
        if (probe(la, key, i)->state == SLOT_FREE)
            free_one = probe(la, key, i);
    uint64_t mine = 0;
    for (size_t i = 0; free_one && i < LOOKAHEAD_SLOTS; i++)
        if (la->slots[i].state != SLOT_FREE && la->slots[i].client == client)
            mine += la->slots[i].bytes;
    if (!free_one || la->st.outstanding_bytes + bytes > la->cfg.total_bytes ||
        mine + bytes > la->cfg.client_bytes)
        return NO_BUDGET;
    *free_one = (struct slot){.key = key, .client = client, .bytes = bytes,
                              .id = ++la->next_id, .state = SLOT_PENDING};
    la->st.outstanding_bytes += bytes;
    atomic_fetch_add_explicit(&la->used, 1, memory_order_relaxed);
    *slot = (size_t)(free_one - la->slots);
    *id = free_one->id;
    return RESERVED;
}

enum lookahead_claim sample_lookahead_claim(struct sample_lookahead *la, uint64_t key)
{
    if (!la || atomic_load_explicit(&la->used, memory_order_relaxed) == 0)
        return LOOKAHEAD_NONE; /* nothing read ahead: a warm file's request takes no lock */
    pthread_mutex_lock(&la->lock);
    sweep(la, metrics_now_ns());
    enum lookahead_claim c = LOOKAHEAD_NONE;
    struct slot *sl = find(la, key);
    if (sl) {
        c = sl->state == SLOT_PENDING ? LOOKAHEAD_PENDING
            : sl->bytes               ? LOOKAHEAD_COLD
                                      : LOOKAHEAD_RESIDENT;
        free_slot(la, sl);
    }
    pthread_mutex_unlock(&la->lock);
    return c;
}

void sample_lookahead_served(struct sample_lookahead *la, enum lookahead_claim c,
                             bool all_resident)
{
    if (!la || (c != LOOKAHEAD_COLD && c != LOOKAHEAD_PENDING))
        return;
    pthread_mutex_lock(&la->lock);
    if (all_resident)
        la->st.hits++;
    else
        la->st.late++;
    pthread_mutex_unlock(&la->lock);
}

void sample_lookahead_stats(struct sample_lookahead *la, struct sample_lookahead_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!la)
        return;
    pthread_mutex_lock(&la->lock);
    sweep(la, metrics_now_ns());
    *st = la->st;
    pthread_mutex_unlock(&la->lock);
}

/* ---- the helpers' task ---- */

static void task_drop(void *arg)
{
    struct task *t = arg;
    file_map_release(t->m);
    free(t);
}

/* Residency of every record, WILLNEED over the cold ones, LOOKAHEAD_BATCH records between
 * yields to cold requests; then the slot holds the cold bytes (unless it was claimed). */
static void task_run(void *arg, struct prefetch_pool *pool)
{
    struct task *t = arg;
    struct sample_lookahead *la = t->la;
    const struct file_info *fi = mapped_file_info(t->m);
    const unsigned char *base = mapped_file_base(t->m);
    uint64_t cold = 0;
    for (uint64_t i = 0; base && i < t->s.count; i++) {
        uint64_t off = sampler_offset(&t->s, i);
        uint64_t missing = residency_missing(base, fi->fd, off, t->size, la->window);
        if (missing)
            advice_willneed(la->metrics, ACCESS_RANDOM, base, off, t->size, la->window);
        cold += missing;
        if ((i + 1) % LOOKAHEAD_BATCH == 0)
            prefetch_pool_yield(pool);
    }
    pthread_mutex_lock(&la->lock);
    if (cold) {
        la->st.pages++;
        la->st.bytes += cold;
    }
    struct slot *sl = &la->slots[t->slot];
    if (sl->state == SLOT_PENDING && sl->id == t->id) {
        la->st.outstanding_bytes -= sl->bytes - cold;
        sl->bytes = cold;
        sl->done_ns = metrics_now_ns();
        sl->state = SLOT_DONE;
    }
    pthread_mutex_unlock(&la->lock);
    task_drop(t);
}

/* The page after `cur` (of `spec`): the next start, or the next epoch's first page. False
 * when there is none. */
static bool next_page(struct sample_spec *spec, const struct sampler *cur, struct sampler *next)
{
    if (cur->next != SAMPLE_END) {
        spec->start = cur->next;
    } else {
        if (spec->epoch == UINT64_MAX)
            return false;
        spec->epoch++;
        spec->start = 0;
    }
    return sampler_init(next, spec, NULL) == SAMPLE_OK && next->count > 0;
}

/* Reserves the page `spec` / `next` and hands its task to the helpers, unless it is in the
 * table already. False when it was dropped (budget or busy, counted): read no further. */
static bool read_ahead_page(struct sample_lookahead *la, struct mapped_file *m,
                            const struct sample_spec *spec, const struct sampler *next,
                            uint64_t client)
{
    uint64_t key = sample_lookahead_key(mapped_file_info(m)->etag, spec);
    size_t slot = 0;
    uint64_t id = 0;
    pthread_mutex_lock(&la->lock);
    enum reserve r = reserve(la, key, client, next->count * spec->size, &slot, &id);
    if (r == NO_BUDGET)
        la->st.dropped_budget++;
    pthread_mutex_unlock(&la->lock);
    if (r != RESERVED)
        return r == ALREADY;
    struct task *t = malloc(sizeof *t);
    if (t)
        *t = (struct task){la, file_map_retain(m), *next, spec->size, slot, id};
    struct prefetch_task pt = {task_run, task_drop, t};
    bool queued = t && prefetch_pool_submit_background(la->pool, &pt);
    if (!queued) {
        if (t)
            task_drop(t);
        pthread_mutex_lock(&la->lock);
        if (la->slots[slot].id == id && la->slots[slot].state == SLOT_PENDING)
            free_slot(la, &la->slots[slot]);
        la->st.dropped_busy++;
        pthread_mutex_unlock(&la->lock);
    }
    return queued;
}

void sample_lookahead_after(struct sample_lookahead *la, struct mapped_file *m,
                            const struct sample_spec *spec, const struct sampler *s,
                            unsigned depth, uint64_t client)
{
    if (!la || spec->replace || !mapped_file_base(m))
        return;
    struct sample_spec page = *spec;
    struct sampler cur = *s, next;
    for (unsigned d = 0; d < depth && next_page(&page, &cur, &next); d++, cur = next)
        if (!read_ahead_page(la, m, &page, &next, client))
            break;
}
