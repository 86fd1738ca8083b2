/* file_map.c - reference-counted, identity-checked mmap cache keyed by path and class. */
#include "handlers/file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "handlers/etag.h"
#include "handlers/mime.h"
#include "handlers/page_cache.h"

struct mapped_file {
    struct file_info info;
    struct file_map *owner;
    _Atomic unsigned refs;
    enum access_class cls;
    int fd;                  /* its own descriptor of the file: the size as of now */
    dev_t dev;
    ino_t ino;
    struct timespec mtim, ctim; /* ctime: chmod, chown and links change it, not mtime */
    struct path_generations fresh; /* found current under these; 0: never; owner->lock */
    uint64_t unwatched_layout; /* its path cannot be watched under this layout generation;
                                  0: not known; owner->lock */
    uint64_t last_used;      /* guarded by owner->lock */
    struct mapped_file *next; /* bucket chain, guarded by owner->lock */
    char path[];
};

struct file_map {
    pthread_mutex_t lock;
    struct mapped_file **buckets;
    size_t nbuckets; /* power of two */
    size_t count, capacity;
    uint64_t tick;
    const struct advice_policy *policy;
    struct metrics *metrics;
    _Atomic uint64_t live_files, live_bytes;
};

static uint64_t hash_key(const char *path, enum access_class cls)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)cls;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

struct file_map *file_map_create(size_t capacity, const struct advice_policy *policy,
                                 struct metrics *metrics)
{
    struct file_map *fm = calloc(1, sizeof *fm);
    if (!fm)
        return NULL;
    fm->nbuckets = 16;
    while (fm->nbuckets < capacity * 2)
        fm->nbuckets *= 2;
    fm->buckets = calloc(fm->nbuckets, sizeof *fm->buckets);
    if (!fm->buckets || pthread_mutex_init(&fm->lock, NULL) != 0) {
        free(fm->buckets);
        free(fm);
        return NULL;
    }
    fm->capacity = capacity;
    fm->policy = policy;
    fm->metrics = metrics;
    return fm;
}

static void unmap(struct mapped_file *m)
{
    struct file_map *fm = m->owner;
    if (m->info.base)
        munmap((void *)m->info.base, (size_t)m->info.size);
    close(m->fd);
    atomic_fetch_sub_explicit(&fm->live_files, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&fm->live_bytes, m->info.size, memory_order_relaxed);
    free(m);
}

void file_map_release(struct mapped_file *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        unmap(m);
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
    for (size_t i = 0; i < fm->nbuckets; i++) {
        struct mapped_file *m = fm->buckets[i];
        while (m) {
            struct mapped_file *next = m->next;
            file_map_release(m);
            m = next;
        }
    }
    pthread_mutex_destroy(&fm->lock);
    free(fm->buckets);
    free(fm);
}

const struct file_info *mapped_file_info(const struct mapped_file *m) { return &m->info; }

bool mapped_file_holds(const struct mapped_file *m, uint64_t end)
{
    struct stat st;
    return fstat(m->fd, &st) == 0 && (uint64_t)st.st_size >= end;
}

void file_map_counts(struct file_map *fm, uint64_t *files, uint64_t *bytes)
{
    *files = atomic_load_explicit(&fm->live_files, memory_order_relaxed);
    *bytes = atomic_load_explicit(&fm->live_bytes, memory_order_relaxed);
}

static bool same_identity(const struct mapped_file *m, const struct stat *st)
{
    return m->dev == st->st_dev && m->ino == st->st_ino &&
           m->info.size == (uint64_t)st->st_size && m->mtim.tv_sec == st->st_mtim.tv_sec &&
           m->mtim.tv_nsec == st->st_mtim.tv_nsec && m->ctim.tv_sec == st->st_ctim.tv_sec &&
           m->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

/* Unlinks *link's entry from its chain; the caller drops the cache's reference. */
static struct mapped_file *unlink_entry(struct file_map *fm, struct mapped_file **link)
{
    struct mapped_file *m = *link;
    *link = m->next;
    fm->count--;
    return m;
}

/* Removes the least recently used entry; returns it for release outside the lock. */
static struct mapped_file *evict_lru(struct file_map *fm)
{
    struct mapped_file **oldest = NULL;
    for (size_t i = 0; i < fm->nbuckets; i++)
        for (struct mapped_file **l = &fm->buckets[i]; *l; l = &(*l)->next)
            if (!oldest || (*l)->last_used < (*oldest)->last_used)
                oldest = l;
    return oldest ? unlink_entry(fm, oldest) : NULL;
}

static struct mapped_file *map_new(struct file_map *fm, const char *rel, int fd,
                                   const struct stat *st, enum access_class cls, int *err)
{
    size_t plen = strlen(rel);
    struct mapped_file *m = calloc(1, sizeof *m + plen + 1);
    if (!m) {
        *err = ENOMEM;
        return NULL;
    }
    memcpy(m->path, rel, plen + 1);
    m->info.size = (uint64_t)st->st_size;
    if (m->info.size > SIZE_MAX) {
        free(m);
        *err = EFBIG;
        return NULL;
    }
    m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (m->fd < 0) {
        *err = errno;
        free(m);
        return NULL;
    }
    if (m->info.size > 0) {
        void *p = mmap(NULL, (size_t)m->info.size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            *err = errno;
            close(m->fd);
            free(m);
            return NULL;
        }
        m->info.base = p;
        advice_on_map(fm->policy, fm->metrics, cls, p, (size_t)m->info.size);
    }
    uint64_t cached = 0;
    m->info.cachestat_fd =
        m->info.size && page_cache_cached_pages(m->fd, 0, 1, &cached) == 0 ? m->fd : -1;
    m->info.mtime = st->st_mtim.tv_sec;
    etag_format(st, m->info.etag);
    http_date_format(m->info.mtime, m->info.last_modified);
    m->info.content_type = mime_type_for(rel);
    m->owner = fm;
    m->cls = cls;
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    m->mtim = st->st_mtim;
    m->ctim = st->st_ctim;
    atomic_init(&m->refs, 1);
    atomic_fetch_add_explicit(&fm->live_files, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&fm->live_bytes, m->info.size, memory_order_relaxed);
    return m;
}

/* The entry for (rel, cls) and the link that points to it, or NULL; lock held. */
static struct mapped_file **find_locked(struct file_map *fm, const char *rel,
                                        enum access_class cls)
{
    size_t b = (size_t)hash_key(rel, cls) & (fm->nbuckets - 1);
    for (struct mapped_file **l = &fm->buckets[b]; *l; l = &(*l)->next)
        if ((*l)->cls == cls && strcmp((*l)->path, rel) == 0)
            return l;
    return NULL;
}

/* A reference to *l's entry, marked used; lock held. */
static struct mapped_file *take_locked(struct file_map *fm, struct mapped_file *m)
{
    m->last_used = ++fm->tick;
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

bool file_map_find(struct file_map *fm, const char *rel, enum access_class cls,
                   const struct stat *st, const struct path_generations *g,
                   struct mapped_file **out)
{
    pthread_mutex_lock(&fm->lock);
    struct mapped_file **l = find_locked(fm, rel, cls);
    bool hit = l && same_identity(*l, st);
    if (hit) {
        *out = take_locked(fm, *l);
        if (g) /* a slower thread may store older generations over newer ones: that only
                  costs a stat later, never trusts a stale entry */
            (*out)->fresh = *g;
    }
    pthread_mutex_unlock(&fm->lock);
    return hit;
}

enum map_freshness file_map_find_fresh(struct file_map *fm, const char *rel,
                                       enum access_class cls, const struct path_generations *g,
                                       struct mapped_file **out)
{
    enum map_freshness f = MAP_STALE;
    pthread_mutex_lock(&fm->lock);
    struct mapped_file **l = find_locked(fm, rel, cls);
    if (l && (*l)->unwatched_layout == g->layout) {
        f = MAP_UNWATCHED;
    } else if (l && (*l)->fresh.layout == g->layout) {
        f = MAP_COVERED;
        if ((*l)->fresh.any == g->any) {
            f = MAP_FRESH;
            *out = take_locked(fm, *l);
        }
    }
    pthread_mutex_unlock(&fm->lock);
    return f;
}

void file_map_set_unwatched(struct file_map *fm, const char *rel, enum access_class cls,
                            uint64_t layout)
{
    pthread_mutex_lock(&fm->lock);
    struct mapped_file **l = find_locked(fm, rel, cls);
    if (l)
        (*l)->unwatched_layout = layout;
    pthread_mutex_unlock(&fm->lock);
}

void file_map_forget(struct file_map *fm, const char *rel, enum access_class cls)
{
    pthread_mutex_lock(&fm->lock);
    struct mapped_file **l = find_locked(fm, rel, cls);
    struct mapped_file *gone = l ? unlink_entry(fm, l) : NULL;
    pthread_mutex_unlock(&fm->lock);
    if (gone)
        file_map_release(gone);
}

int file_map_acquire(struct file_map *fm, const char *rel, int fd, const struct stat *st,
                     enum access_class cls, struct mapped_file **out)
{
    struct mapped_file *stale = NULL, *evicted = NULL, *m;
    int err = 0;

    pthread_mutex_lock(&fm->lock);
    struct mapped_file **l = find_locked(fm, rel, cls);
    if (l && same_identity(*l, st)) {
        *out = take_locked(fm, *l);
        pthread_mutex_unlock(&fm->lock);
        return 0;
    }
    if (l)
        stale = unlink_entry(fm, l);
    m = map_new(fm, rel, fd, st, cls, &err);
    if (m) {
        if (fm->count >= fm->capacity)
            evicted = evict_lru(fm);
        size_t b = (size_t)hash_key(rel, cls) & (fm->nbuckets - 1);
        m->next = fm->buckets[b];
        fm->buckets[b] = m;
        fm->count++;
        take_locked(fm, m); /* the caller's reference; the cache holds the first */
    }
    pthread_mutex_unlock(&fm->lock);

    if (stale)
        file_map_release(stale);
    if (evicted)
        file_map_release(evicted);
    if (!m)
        return err;
    *out = m;
    return 0;
}
