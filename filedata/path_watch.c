/* path_watch.c - inotify watches on the paths of cached files, a thread that takes in their
 * events, and the counters the events move. */
#include "filedata/path_watch.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* A directory: files in it written or truncated (through a name in it), names created,
 * deleted, renamed or changed in attributes, and the directory itself deleted, renamed or
 * changed in attributes. A file: written, truncated, changed in attributes (mode, owner,
 * links, times) or deleted, through any of its names. */
#define DIR_MASK                                                                               \
    (IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |             \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)
#define FILE_MASK (IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW)

#define SLOTS (1u << 14) /* change counters: 128 KiB */
#define DIRS_MAX 4096    /* directories whose watches are remembered by path */

struct held_watch {
    int wd;         /* 0: free */
    unsigned holds; /* marks holding a file's watch; directories: 0, kept until a reset */
    bool dir;
};

/* A directory watched while the layout generation stayed the table's: covers through it need
 * no system call. */
struct known_dir {
    char *path; /* NULL: free */
    size_t len;
    int wd;
};

struct path_watch {
    pthread_mutex_t lock; /* the watch and directory tables; placing and removing watches */
    pthread_mutex_t take_lock; /* reading and taking in events: the watcher, or a catch-up */
    struct known_dir dirs[2 * DIRS_MAX];
    size_t ndirs;
    uint64_t dirs_layout; /* the layout generation the directory table holds for */
    int fd;               /* inotify instance, non-blocking */
    int stop_fd;          /* eventfd: the watcher thread stops */
    int root_fd, root_wd;
    struct held_watch *table; /* open addressing by wd, linear probing */
    size_t table_size, live, max_watches;
    bool thread_started;
    bool strict; /* each lookup catches up first */
    pthread_t thread;
    _Atomic bool busy;    /* the watcher took events in and has not finished with them */
    _Atomic bool broken;  /* reading events failed: nothing is trusted any more */
    _Atomic uint64_t layout;
    _Atomic uint64_t counters[SLOTS];
};

static uint32_t slot_of(int wd, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(unsigned)wd;
    h *= 1099511628211ull;
    for (const unsigned char *p = (const unsigned char *)name; p && *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h ^= name ? 0x9e3779b97f4a7c15ull : 0; /* a file's own slot differs from any name's */
    return (uint32_t)((h ^ (h >> 29)) & (SLOTS - 1));
}

static void bump(struct path_watch *pw, uint32_t slot)
{
    atomic_fetch_add_explicit(&pw->counters[slot], 1, memory_order_release);
}

static void bump_layout(struct path_watch *pw)
{
    atomic_fetch_add_explicit(&pw->layout, 1, memory_order_release);
}

/* The table slot holding wd, or the free slot where it would go. Lock held. */
static struct held_watch *table_find(struct path_watch *pw, int wd)
{
    size_t i = (size_t)(unsigned)wd * 2654435761u & (pw->table_size - 1);
    while (pw->table[i].wd != 0 && pw->table[i].wd != wd)
        i = (i + 1) & (pw->table_size - 1);
    return &pw->table[i];
}

/* Removes wd's record (backward-shift deletion keeps probe chains whole). Lock held. */
static void table_remove(struct path_watch *pw, int wd)
{
    struct held_watch *h = table_find(pw, wd);
    if (h->wd == 0)
        return;
    size_t mask = pw->table_size - 1, i = (size_t)(h - pw->table);
    pw->live--;
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        if (pw->table[j].wd == 0)
            break;
        size_t home = (size_t)(unsigned)pw->table[j].wd * 2654435761u & mask;
        /* j's record may move into the hole at i if its home is not in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            pw->table[i] = pw->table[j];
            i = j;
        }
    }
    pw->table[i] = (struct held_watch){0};
}

/* One watch, recorded; -1 (errno set) when it cannot be placed, or it is a new one and the
 * table is full (ENOSPC). */
static int add_locked(struct path_watch *pw, const char *path, uint32_t mask, bool dir)
{
    /* IN_MASK_ADD: a directory reached both as a path's end and on another path's way keeps
     * both masks, never loses its directory events */
    int wd = inotify_add_watch(pw->fd, path, mask | IN_MASK_ADD);
    if (wd < 0)
        return -1;
    struct held_watch *h = table_find(pw, wd);
    if (h->wd == 0) {
        if (pw->live >= pw->max_watches) { /* only a new watch counts against the cap */
            inotify_rm_watch(pw->fd, wd);
            errno = ENOSPC;
            return -1;
        }
        *h = (struct held_watch){.wd = wd};
        pw->live++;
    }
    h->dir = h->dir || dir;
    return wd;
}

/* "/proc/self/fd/ROOT/rel" (rel may be empty: the root itself); false if too long. */
static bool proc_path(const struct path_watch *pw, const char *rel, size_t rel_len, char *out,
                      size_t outsz)
{
    int n = snprintf(out, outsz, "/proc/self/fd/%d%s%.*s", pw->root_fd, rel_len ? "/" : "",
                     (int)rel_len, rel);
    return n > 0 && (size_t)n < outsz;
}

static void dirs_clear(struct path_watch *pw)
{
    for (size_t i = 0; pw->ndirs && i < 2 * DIRS_MAX; i++) {
        free(pw->dirs[i].path);
        pw->dirs[i] = (struct known_dir){0};
    }
    pw->ndirs = 0;
}

/* Drops every watch and watches the root again: every mark is void. Lock held. */
static void reset_locked(struct path_watch *pw)
{
    for (size_t i = 0; i < pw->table_size; i++)
        if (pw->table[i].wd != 0)
            inotify_rm_watch(pw->fd, pw->table[i].wd);
    memset(pw->table, 0, pw->table_size * sizeof *pw->table);
    pw->live = 0;
    dirs_clear(pw);
    bump_layout(pw);
    char root[64];
    /* the root is reached through its /proc/self/fd link: followed */
    pw->root_wd = proc_path(pw, "", 0, root, sizeof root)
                      ? add_locked(pw, root, DIR_MASK & ~(uint32_t)IN_DONT_FOLLOW, true)
                      : -1;
}

/* Whether the watch wd is a directory's. Takes the lock. */
static bool is_dir_watch(struct path_watch *pw, int wd)
{
    pthread_mutex_lock(&pw->lock);
    struct held_watch *h = table_find(pw, wd);
    bool dir = h->wd == wd && h->dir;
    pthread_mutex_unlock(&pw->lock);
    return dir;
}

static void take_in(struct path_watch *pw, const struct inotify_event *ev)
{
    uint32_t m = ev->mask;
    if (m & (IN_Q_OVERFLOW | IN_UNMOUNT)) {
        bump_layout(pw);
        return;
    }
    if (ev->len > 0) { /* a name in a watched directory */
        bump(pw, slot_of(ev->wd, ev->name));
        if ((m & IN_ISDIR) && (m & (IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB)))
            bump_layout(pw); /* a directory on some path went away, came or changed mode */
        return;
    }
    bump(pw, slot_of(ev->wd, NULL));
    if (m & (IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_IGNORED)) {
        bool dir = (m & IN_ISDIR) || is_dir_watch(pw, ev->wd);
        if (dir && !(m & IN_IGNORED))
            bump_layout(pw);
        if (m & IN_IGNORED) { /* the watch is gone (its file deleted, or removed by us) */
            pthread_mutex_lock(&pw->lock);
            struct held_watch *h = table_find(pw, ev->wd);
            if (h->wd == ev->wd) {
                if (h->dir)
                    bump_layout(pw);
                table_remove(pw, ev->wd);
            }
            pthread_mutex_unlock(&pw->lock);
        }
    }
}

/* Reads and takes in every event queued now; false when reading failed for good (nothing is
 * trusted from then on). */
static bool drain(struct path_watch *pw)
{
    /* room for at least one event with the longest name, aligned as the kernel writes */
    char buf[sizeof(struct inotify_event) + NAME_MAX + 1 + 4096]
        __attribute__((aligned(__alignof__(struct inotify_event))));
    bool ok = true;
    pthread_mutex_lock(&pw->take_lock);
    atomic_store(&pw->busy, true);
    for (;;) {
        ssize_t n = read(pw->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = n == 0 || errno == EAGAIN;
            break;
        }
        for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
            take_in(pw, ev);
            off += (ssize_t)(sizeof *ev + ev->len);
        }
    }
    if (!ok && !atomic_exchange(&pw->broken, true))
        bump_layout(pw); /* from now on every lookup stats its path */
    atomic_store(&pw->busy, false);
    pthread_mutex_unlock(&pw->take_lock);
    return ok;
}

static void *watcher(void *arg)
{
    struct path_watch *pw = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = pw->fd, .events = POLLIN},
                              {.fd = pw->stop_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents || !drain(pw))
            return NULL;
    }
    if (!atomic_exchange(&pw->broken, true))
        bump_layout(pw);
    return NULL;
}

void path_watch_before_lookup(struct path_watch *pw)
{
    if (pw->strict)
        path_watch_catch_up(pw);
}

void path_watch_catch_up(struct path_watch *pw)
{
    int pending = 0;
    /* the queue first, then busy: events read from the queue are in hand while busy */
    if (ioctl(pw->fd, FIONREAD, &pending) == 0 && pending == 0 && !atomic_load(&pw->busy))
        return;
    drain(pw);
}

struct path_watch *path_watch_create(int root_fd, size_t max_watches, bool strict)
{
    struct path_watch *pw = calloc(1, sizeof *pw);
    int err = ENOMEM;
    if (!pw)
        goto fail;
    pw->fd = pw->stop_fd = -1;
    pw->root_fd = root_fd;
    pw->strict = strict;
    pw->max_watches = max_watches < 16 ? 16 : max_watches;
    pw->table_size = 32;
    while (pw->table_size < 2 * pw->max_watches)
        pw->table_size *= 2;
    pw->table = calloc(pw->table_size, sizeof *pw->table);
    atomic_init(&pw->layout, 1);
    if (!pw->table || pthread_mutex_init(&pw->lock, NULL) != 0) {
        free(pw->table);
        free(pw);
        pw = NULL;
        goto fail;
    }
    if (pthread_mutex_init(&pw->take_lock, NULL) != 0) {
        pthread_mutex_destroy(&pw->lock);
        free(pw->table);
        free(pw);
        pw = NULL;
        goto fail;
    }
    pw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    pw->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (pw->fd < 0 || pw->stop_fd < 0) {
        err = errno;
        goto fail;
    }
    reset_locked(pw);
    if (pw->root_wd < 0) {
        err = errno;
        goto fail;
    }
    err = pthread_create(&pw->thread, NULL, watcher, pw);
    if (err)
        goto fail;
    pw->thread_started = true;
    return pw;
fail:
    path_watch_destroy(pw);
    errno = err;
    return NULL;
}

void path_watch_destroy(struct path_watch *pw)
{
    if (!pw)
        return;
    if (pw->thread_started) {
        uint64_t one = 1;
        if (write(pw->stop_fd, &one, sizeof one) == sizeof one)
            pthread_join(pw->thread, NULL);
        else
            pthread_detach(pw->thread); /* cannot happen with an eventfd */
    }
    if (pw->fd >= 0)
        close(pw->fd);
    if (pw->stop_fd >= 0)
        close(pw->stop_fd);
    pthread_mutex_destroy(&pw->lock);
    pthread_mutex_destroy(&pw->take_lock);
    dirs_clear(pw);
    free(pw->table);
    free(pw);
}

static uint64_t sum_of(const struct path_watch *pw, const struct watch_mark *mark)
{
    return atomic_load_explicit(&pw->counters[mark->name_slot], memory_order_acquire) +
           atomic_load_explicit(&pw->counters[mark->file_slot], memory_order_acquire);
}

/* The table slot of the directory rel[0, len), or the free slot where it would go. */
static struct known_dir *dirs_find(struct path_watch *pw, const char *rel, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)rel[i]) * 1099511628211ull;
    size_t i = (size_t)(h ^ (h >> 32)) & (2 * DIRS_MAX - 1);
    while (pw->dirs[i].path &&
           (pw->dirs[i].len != len || memcmp(pw->dirs[i].path, rel, len) != 0))
        i = (i + 1) & (2 * DIRS_MAX - 1);
    return &pw->dirs[i];
}

/* The watch of the directory rel[0, len), placed now or known from an earlier cover under the
 * same layout generation; -1 (errno set) when it cannot be placed. Lock held. */
static int watch_dir(struct path_watch *pw, const char *rel, size_t len)
{
    char path[PATH_MAX];
    struct known_dir *d = dirs_find(pw, rel, len);
    if (d->path)
        return d->wd;
    if (!proc_path(pw, rel, len, path, sizeof path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int wd = add_locked(pw, path, DIR_MASK, true);
    if (wd >= 0 && pw->ndirs < DIRS_MAX && (d->path = strndup(rel, len)) != NULL) {
        d->len = len;
        d->wd = wd;
        pw->ndirs++;
    }
    return wd;
}

bool path_watch_cover(struct path_watch *pw, const char *rel, bool own_watch,
                      struct watch_mark *mark)
{
    char path[PATH_MAX];
    int parent = -1, wd = -1;
    size_t len = strlen(rel), base = 0;
    *mark = (struct watch_mark){.file_wd = -1};
    if (atomic_load(&pw->broken))
        return false;
    pthread_mutex_lock(&pw->lock);
    /* the layout first: if it moves during the cover, the mark is stale at once */
    uint64_t layout = atomic_load_explicit(&pw->layout, memory_order_acquire);
    if (layout != pw->dirs_layout) {
        dirs_clear(pw);
        pw->dirs_layout = layout;
    }
    parent = pw->root_wd;
    for (size_t i = 0; parent >= 0 && i < len; i++) {
        if (rel[i] != '/')
            continue;
        wd = watch_dir(pw, rel, i);
        parent = wd;
        base = i + 1;
    }
    wd = parent;
    if (parent >= 0 && own_watch)
        wd = proc_path(pw, rel, len, path, sizeof path) ? add_locked(pw, path, FILE_MASK, false)
                                                       : -1;
    if (wd < 0 && errno == ENOSPC)
        reset_locked(pw); /* out of watches: start again with the paths in use */
    if (parent >= 0 && wd >= 0) {
        struct held_watch *h = table_find(pw, wd);
        if (own_watch && h->wd == wd && !h->dir) {
            h->holds++;
            mark->file_wd = wd;
        }
        mark->name_slot = slot_of(parent, rel + base);
        mark->file_slot = own_watch ? slot_of(wd, NULL) : mark->name_slot;
        mark->layout = layout;
        mark->sum = sum_of(pw, mark);
    }
    pthread_mutex_unlock(&pw->lock);
    return mark->layout != 0;
}

bool path_watch_unchanged(const struct path_watch *pw, const struct watch_mark *mark)
{
    return mark->layout != 0 &&
           atomic_load_explicit(&pw->layout, memory_order_acquire) == mark->layout &&
           sum_of(pw, mark) == mark->sum;
}

bool path_watch_intact(const struct path_watch *pw, const struct watch_mark *mark)
{
    return mark->layout != 0 &&
           atomic_load_explicit(&pw->layout, memory_order_acquire) == mark->layout;
}

void path_watch_remark(const struct path_watch *pw, struct watch_mark *mark)
{
    mark->sum = sum_of(pw, mark);
}

void path_watch_release(struct path_watch *pw, struct watch_mark *mark)
{
    if (!pw || mark->file_wd < 0 || mark->layout == 0)
        return;
    pthread_mutex_lock(&pw->lock);
    struct held_watch *h = table_find(pw, mark->file_wd);
    /* a watch dropped by a reset since may carry the same number again only after the
     * kernel's watch numbers wrapped around: then one more stat, never a stale answer */
    if (h->wd == mark->file_wd && !h->dir && h->holds > 0 && --h->holds == 0) {
        inotify_rm_watch(pw->fd, h->wd);
        table_remove(pw, mark->file_wd);
    }
    pthread_mutex_unlock(&pw->lock);
    *mark = (struct watch_mark){.file_wd = -1};
}

uint64_t path_watch_layout(const struct path_watch *pw)
{
    return atomic_load_explicit(&pw->layout, memory_order_acquire);
}

size_t path_watch_count(struct path_watch *pw)
{
    pthread_mutex_lock(&pw->lock);
    size_t n = pw->live;
    pthread_mutex_unlock(&pw->lock);
    return n;
}
