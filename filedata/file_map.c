/* file_map.c - reference-counted open files with lazy mappings, in a striped CLOCK cache with a
 * doorkeeper for admission. */
#include "filedata/file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/fnv.h"
#include "http/etag.h"
#include "http/mime.h"
#include "metrics/metrics.h"

#define STRIPES_MAX 16
#define STRIPE_MIN_ENTRIES 64 /* a stripe holds at least this many: small caches stay LRU-like */

struct mapped_file {
    struct file_info info;
    struct file_map *owner;
    _Atomic unsigned refs;
    enum access_class cls;
    _Atomic(const unsigned char *) base; /* NULL until mapped_file_base() mapped it */
    dev_t dev;
    ino_t ino;
    unsigned long nlink;
    struct timespec mtim, ctim; /* ctime: chmod, chown and links change it, not mtime */
    uint64_t hash;
    /* guarded by the stripe's lock: */
    bool cached, referenced;
    struct watch_mark mark;    /* layout 0: none */
    uint64_t unwatched_layout; /* its path cannot be watched under this layout; 0: not known */
    struct mapped_file *next;  /* bucket chain */
    struct mapped_file *ring_prev, *ring_next; /* the CLOCK ring */
    char path[];
};

struct stripe {
    pthread_mutex_t lock;
    struct mapped_file **buckets;
    size_t nbuckets; /* power of two */
    struct mapped_file *hand; /* CLOCK hand on the ring; NULL when empty */
    size_t count, capacity;
} __attribute__((aligned(64)));

struct file_map {
    struct stripe *stripes;
    size_t nstripes; /* power of two */
    _Atomic uint64_t *door; /* hashes of recent misses */
    size_t ndoor;           /* power of two */
    size_t capacity;
    const struct advice_policy *policy;
    struct metrics *metrics;
    struct path_watch *pw;
    _Atomic uint64_t live_files, live_bytes, open_files, cached;
};

static uint64_t hash_key(const char *path, enum access_class cls)
{
    uint64_t h = fnv1a(FNV1A_START ^ (uint64_t)cls, path, strlen(path));
    return h ^ (h >> 31);
}

static struct stripe *stripe_of(struct file_map *fm, uint64_t hash)
{
    return &fm->stripes[(hash >> 48) & (fm->nstripes - 1)];
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p *= 2;
    return p;
}

struct file_map *file_map_create(size_t capacity, const struct advice_policy *policy,
                                 struct metrics *metrics, struct path_watch *pw)
{
    struct file_map *fm = calloc(1, sizeof *fm);
    if (!fm)
        return NULL;
    if (capacity == 0)
        capacity = 1;
    fm->capacity = capacity;
    fm->policy = policy;
    fm->metrics = metrics;
    fm->pw = pw;
    fm->nstripes = 1;
    while (fm->nstripes < STRIPES_MAX && capacity / (fm->nstripes * 2) >= STRIPE_MIN_ENTRIES)
        fm->nstripes *= 2;
    fm->ndoor = pow2_at_least(capacity);
    fm->door = calloc(fm->ndoor, sizeof *fm->door);
    fm->stripes = aligned_alloc(64, fm->nstripes * sizeof *fm->stripes);
    if (!fm->door || !fm->stripes) {
        free(fm->door);
        free(fm->stripes);
        free(fm);
        return NULL;
    }
    memset(fm->stripes, 0, fm->nstripes * sizeof *fm->stripes);
    size_t per = capacity / fm->nstripes, extra = capacity % fm->nstripes;
    for (size_t i = 0; i < fm->nstripes; i++) {
        struct stripe *s = &fm->stripes[i];
        s->capacity = per + (i < extra ? 1 : 0);
        s->nbuckets = pow2_at_least(2 * s->capacity + 1);
        s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
        pthread_mutex_init(&s->lock, NULL);
        if (!s->buckets) {
            fm->nstripes = i + 1;
            file_map_destroy(fm);
            return NULL;
        }
    }
    return fm;
}

static void entry_free(struct mapped_file *m)
{
    struct file_map *fm = m->owner;
    const unsigned char *base = atomic_load_explicit(&m->base, memory_order_acquire);
    if (base) {
        munmap((void *)base, (size_t)m->info.size);
        atomic_fetch_sub_explicit(&fm->live_files, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&fm->live_bytes, m->info.size, memory_order_relaxed);
    }
    path_watch_release(fm->pw, &m->mark);
    close(m->info.fd);
    atomic_fetch_sub_explicit(&fm->open_files, 1, memory_order_relaxed);
    free(m);
}

time_t file_info_last_modified(const struct file_info *fi, time_t now, char buf[HTTP_DATE_LEN],
                               const char **text)
{
    *text = fi->last_modified;
    if (fi->mtime <= now)
        return fi->mtime;
    http_date_format(now, buf);
    *text = buf;
    return now;
}

void file_map_release(struct mapped_file *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        entry_free(m);
}

struct mapped_file *file_map_retain(struct mapped_file *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void file_map_destroy(struct file_map *fm)
{
    if (!fm)
        return;
    for (size_t i = 0; i < fm->nstripes; i++) {
        struct stripe *s = &fm->stripes[i];
        for (size_t b = 0; s->buckets && b < s->nbuckets; b++) {
            struct mapped_file *m = s->buckets[b];
            while (m) {
                struct mapped_file *next = m->next;
                file_map_release(m);
                m = next;
            }
        }
        pthread_mutex_destroy(&s->lock);
        free(s->buckets);
    }
    free(fm->stripes);
    free(fm->door);
    free(fm);
}

const struct file_info *mapped_file_info(const struct mapped_file *m) { return &m->info; }

const unsigned char *mapped_file_base(struct mapped_file *m)
{
    const unsigned char *base = atomic_load_explicit(&m->base, memory_order_acquire);
    if (base || m->info.size == 0)
        return base;
    if (m->info.size > SIZE_MAX) {
        errno = EFBIG;
        return NULL;
    }
    void *p = mmap(NULL, (size_t)m->info.size, PROT_READ, MAP_SHARED, m->info.fd, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct file_map *fm = m->owner;
    advice_on_map(fm->policy, fm->metrics, m->cls, p, (size_t)m->info.size);
    const unsigned char *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&m->base, &expected, p, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        munmap(p, (size_t)m->info.size); /* another thread mapped it first */
        return expected;
    }
    atomic_fetch_add_explicit(&fm->live_files, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&fm->live_bytes, m->info.size, memory_order_relaxed);
    return p;
}

bool mapped_file_holds(const struct mapped_file *m, uint64_t end)
{
    /* FIONREAD on a regular file is its size less the file position, which stays 0 (the
     * descriptor is only ever read with pread and mapped), as an int: for a file that was
     * at most 1 GiB (one grown past 4 GiB since reads as less: one more lookup, never a
     * wrong byte); fstat for larger ones, or where it is refused */
    int left = 0;
    struct stat st;
    if (m->info.size <= INT_MAX / 2 && ioctl(m->info.fd, FIONREAD, &left) == 0)
        return (uint64_t)left >= end;
    return fstat(m->info.fd, &st) == 0 && (uint64_t)st.st_size >= end;
}

void file_map_counts(struct file_map *fm, struct file_map_counts *out)
{
    out->mapped_files = atomic_load_explicit(&fm->live_files, memory_order_relaxed);
    out->mapped_bytes = atomic_load_explicit(&fm->live_bytes, memory_order_relaxed);
    out->open_files = atomic_load_explicit(&fm->open_files, memory_order_relaxed);
    out->cached = atomic_load_explicit(&fm->cached, memory_order_relaxed);
    out->capacity = fm->capacity;
}

unsigned long mapped_file_links(const struct mapped_file *m) { return m->nlink; }

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* m is the file (dev, ino) with this size, mtime and ctime. */
static bool same_identity(const struct mapped_file *m, dev_t dev, ino_t ino, uint64_t size,
                          struct timespec mtim, struct timespec ctim)
{
    return m->dev == dev && m->ino == ino && m->info.size == size && same_time(m->mtim, mtim) &&
           same_time(m->ctim, ctim);
}

bool mapped_file_same(const struct mapped_file *m, const struct stat *st)
{
    return same_identity(m, st->st_dev, st->st_ino, (uint64_t)st->st_size, st->st_mtim,
                         st->st_ctim);
}

bool mapped_file_same_version(const struct mapped_file *a, const struct mapped_file *b)
{
    return same_identity(a, b->dev, b->ino, b->info.size, b->mtim, b->ctim);
}

/* The link that points to the entry of (rel, cls) in its chain, or NULL. Lock held. */
static struct mapped_file **find_locked(struct stripe *s, uint64_t hash, const char *rel,
                                        enum access_class cls)
{
    for (struct mapped_file **l = &s->buckets[hash & (s->nbuckets - 1)]; *l; l = &(*l)->next)
        if ((*l)->hash == hash && (*l)->cls == cls && strcmp((*l)->path, rel) == 0)
            return l;
    return NULL;
}

/* Takes *link's entry out of its chain and the ring; the caller drops the table's reference
 * (outside the lock). */
static struct mapped_file *unlink_locked(struct file_map *fm, struct stripe *s,
                                         struct mapped_file **link)
{
    struct mapped_file *m = *link;
    *link = m->next;
    m->next = NULL;
    if (m->ring_next == m) {
        s->hand = NULL;
    } else {
        m->ring_prev->ring_next = m->ring_next;
        m->ring_next->ring_prev = m->ring_prev;
        if (s->hand == m)
            s->hand = m->ring_next;
    }
    m->ring_next = m->ring_prev = NULL;
    m->cached = false;
    s->count--;
    atomic_fetch_sub_explicit(&fm->cached, 1, memory_order_relaxed);
    return m;
}

/* The CLOCK victim: the first entry under the hand without its reference bit (clearing the
 * bits it passes), or the one under the hand after CLOCK_SWEEP_MAX steps. Lock held; the
 * stripe is not empty. */
static struct mapped_file *evict_locked(struct file_map *fm, struct stripe *s)
{
    for (int steps = 0; s->hand->referenced && steps < CLOCK_SWEEP_MAX; steps++) {
        s->hand->referenced = false;
        s->hand = s->hand->ring_next;
    }
    struct mapped_file *victim = s->hand;
    return unlink_locked(fm, s, find_locked(s, victim->hash, victim->path, victim->cls));
}

struct mapped_file *file_map_get(struct file_map *fm, const char *rel, enum access_class cls,
                                 enum map_state *state, struct watch_mark *mark)
{
    uint64_t hash = hash_key(rel, cls);
    struct stripe *s = stripe_of(fm, hash);
    struct mapped_file *m = NULL;
    pthread_mutex_lock(&s->lock);
    struct mapped_file **l = find_locked(s, hash, rel, cls);
    if (l) {
        m = *l;
        m->referenced = true;
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
        if (!fm->pw)
            *state = MAP_UNWATCHED;
        else if (m->unwatched_layout && m->unwatched_layout == path_watch_layout(fm->pw))
            *state = MAP_UNWATCHED;
        else if (path_watch_unchanged(fm->pw, &m->mark))
            *state = MAP_FRESH;
        else if (path_watch_intact(fm->pw, &m->mark))
            *state = MAP_MOVED;
        else
            *state = MAP_UNMARKED;
        if (*state == MAP_MOVED)
            *mark = m->mark;
    }
    pthread_mutex_unlock(&s->lock);
    return m;
}

void file_map_remarked(struct file_map *fm, struct mapped_file *m, const struct watch_mark *mark)
{
    struct stripe *s = stripe_of(fm, m->hash);
    pthread_mutex_lock(&s->lock);
    if (m->mark.layout == mark->layout && m->mark.file_wd == mark->file_wd &&
        m->mark.name_slot == mark->name_slot)
        m->mark.sum = mark->sum; /* else another thread marked it since: its mark stands */
    pthread_mutex_unlock(&s->lock);
}

void file_map_marked(struct file_map *fm, struct mapped_file *m, struct watch_mark *mark)
{
    struct stripe *s = stripe_of(fm, m->hash);
    pthread_mutex_lock(&s->lock);
    struct watch_mark old = m->mark;
    m->mark = *mark;
    m->unwatched_layout = 0;
    pthread_mutex_unlock(&s->lock);
    *mark = (struct watch_mark){.file_wd = -1};
    path_watch_release(fm->pw, &old);
}

void file_map_set_unwatched(struct file_map *fm, struct mapped_file *m, uint64_t layout)
{
    struct stripe *s = stripe_of(fm, m->hash);
    pthread_mutex_lock(&s->lock);
    m->unwatched_layout = layout;
    pthread_mutex_unlock(&s->lock);
}

struct mapped_file *file_map_open(struct file_map *fm, const char *rel, enum access_class cls,
                                  int fd, const struct stat *st)
{
    size_t plen = strlen(rel);
    struct mapped_file *m = calloc(1, sizeof *m + plen + 1);
    if (!m) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    memcpy(m->path, rel, plen + 1);
    m->info.fd = fd;
    m->info.size = (uint64_t)st->st_size;
    m->info.mtime = st->st_mtim.tv_sec;
    etag_format(st, m->info.etag);
    http_date_format(m->info.mtime, m->info.last_modified);
    m->info.content_type = mime_type_for(rel);
    m->owner = fm;
    m->cls = cls;
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    m->nlink = (unsigned long)st->st_nlink;
    m->mtim = st->st_mtim;
    m->ctim = st->st_ctim;
    m->hash = hash_key(rel, cls);
    m->mark.file_wd = -1;
    atomic_init(&m->refs, 1);
    atomic_init(&m->base, NULL);
    atomic_fetch_add_explicit(&fm->open_files, 1, memory_order_relaxed);
    return m;
}

bool file_map_admits(struct file_map *fm, const struct mapped_file *m)
{
    struct stripe *s = stripe_of(fm, m->hash);
    pthread_mutex_lock(&s->lock);
    bool room = s->count < s->capacity;
    pthread_mutex_unlock(&s->lock);
    if (room)
        return true;
    /* a hash of 0 marks an empty slot: such a key is never remembered, only admitted with
     * room */
    _Atomic uint64_t *slot = &fm->door[m->hash & (fm->ndoor - 1)];
    if (m->hash != 0 && atomic_load_explicit(slot, memory_order_relaxed) == m->hash)
        return true;
    atomic_store_explicit(slot, m->hash, memory_order_relaxed);
    return false;
}

void file_map_insert(struct file_map *fm, struct mapped_file *m, struct watch_mark *mark,
                     uint64_t unwatched_layout)
{
    struct mapped_file *stale = NULL, *evicted = NULL;
    struct watch_mark unused = {.file_wd = -1};
    bool inserted = false;
    struct stripe *s = stripe_of(fm, m->hash);
    pthread_mutex_lock(&s->lock);
    struct mapped_file **l = find_locked(s, m->hash, m->path, m->cls);
    if (l && mapped_file_same_version(*l, m)) {
        if (mark)
            unused = *mark; /* the same file is cached already: m stays detached */
    } else {
        inserted = true;
        if (l)
            stale = unlink_locked(fm, s, l);
        if (s->count >= s->capacity && s->hand)
            evicted = evict_locked(fm, s);
        size_t b = m->hash & (s->nbuckets - 1);
        m->next = s->buckets[b];
        s->buckets[b] = m;
        if (s->hand) { /* just behind the hand: the last the hand comes to */
            m->ring_next = s->hand;
            m->ring_prev = s->hand->ring_prev;
            m->ring_prev->ring_next = m;
            s->hand->ring_prev = m;
        } else {
            s->hand = m->ring_next = m->ring_prev = m;
        }
        m->cached = true;
        m->referenced = false;
        if (mark)
            m->mark = *mark;
        m->unwatched_layout = unwatched_layout;
        s->count++;
        atomic_fetch_add_explicit(&fm->cached, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); /* the table's */
    }
    pthread_mutex_unlock(&s->lock);
    if (mark)
        *mark = (struct watch_mark){.file_wd = -1};
    path_watch_release(fm->pw, &unused);
    if (inserted)
        metrics_file_cache(fm->metrics, MFC_ADMISSION);
    if (stale)
        file_map_release(stale);
    if (evicted) {
        metrics_file_cache(fm->metrics, MFC_EVICTION);
        file_map_release(evicted);
    }
}

void file_map_forget(struct file_map *fm, const char *rel, enum access_class cls)
{
    uint64_t hash = hash_key(rel, cls);
    struct stripe *s = stripe_of(fm, hash);
    pthread_mutex_lock(&s->lock);
    struct mapped_file **l = find_locked(s, hash, rel, cls);
    struct mapped_file *gone = l ? unlink_locked(fm, s, l) : NULL;
    pthread_mutex_unlock(&s->lock);
    if (gone)
        file_map_release(gone);
}

void file_map_drop(struct file_map *fm, struct mapped_file *m)
{
    struct stripe *s = stripe_of(fm, m->hash);
    pthread_mutex_lock(&s->lock);
    struct mapped_file **l = m->cached ? find_locked(s, m->hash, m->path, m->cls) : NULL;
    struct mapped_file *gone = l && *l == m ? unlink_locked(fm, s, l) : NULL;
    pthread_mutex_unlock(&s->lock);
    if (gone)
        file_map_release(gone);
}
