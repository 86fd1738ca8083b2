/* path_watch.c - inotify watches on the paths of cached files, and generations they move. */
#include "handlers/path_watch.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* A directory: names created, deleted, renamed or changed in attributes, and the directory
 * itself deleted or renamed. A file: written, truncated, changed in attributes (mode, owner,
 * links, times) or deleted. */
#define DIR_MASK                                                                               \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |        \
     IN_MOVE_SELF)
#define FILE_MASK (IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

struct path_watch {
    pthread_mutex_t lock; /* everything below */
    int fd;               /* inotify instance, non-blocking; -1 after a failed reset */
    int root_fd;
    size_t max_watches, live;
    int max_wd;           /* highest watch descriptor handed out by this instance */
    struct path_generations gen;
};

/* "/proc/self/fd/ROOT/rel" (rel may be empty: the root itself); false if too long. */
static bool proc_path(const struct path_watch *pw, const char *rel, size_t rel_len, char *out,
                      size_t outsz)
{
    int n = snprintf(out, outsz, "/proc/self/fd/%d%s%.*s", pw->root_fd, rel_len ? "/" : "",
                     (int)rel_len, rel);
    return n > 0 && (size_t)n < outsz;
}

/* One watch; counts it when it is new to this instance. Lock held. */
static int add_locked(struct path_watch *pw, const char *path, uint32_t mask)
{
    int wd = inotify_add_watch(pw->fd, path, mask);
    if (wd < 0)
        return -1;
    if (wd > pw->max_wd) {
        pw->max_wd = wd;
        pw->live++;
    }
    return wd;
}

/* A fresh instance with the root watched; every earlier result is void. Lock held. */
static void reset_locked(struct path_watch *pw)
{
    if (pw->fd >= 0)
        close(pw->fd);
    pw->live = 0;
    pw->max_wd = 0;
    pw->gen.any++;
    pw->gen.layout++;
    pw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    char root[64];
    if (pw->fd >= 0 && (!proc_path(pw, "", 0, root, sizeof root) ||
                        add_locked(pw, root, DIR_MASK | IN_ONLYDIR) < 0)) {
        close(pw->fd);
        pw->fd = -1;
    }
}

struct path_watch *path_watch_create(int root_fd, size_t max_watches)
{
    struct path_watch *pw = calloc(1, sizeof *pw);
    if (!pw)
        return NULL;
    pw->fd = -1;
    pw->root_fd = root_fd;
    pw->max_watches = max_watches;
    if (pthread_mutex_init(&pw->lock, NULL) != 0) {
        free(pw);
        errno = ENOMEM;
        return NULL;
    }
    reset_locked(pw);
    if (pw->fd < 0) {
        int err = errno;
        path_watch_destroy(pw);
        errno = err;
        return NULL;
    }
    return pw;
}

void path_watch_destroy(struct path_watch *pw)
{
    if (!pw)
        return;
    if (pw->fd >= 0)
        close(pw->fd);
    pthread_mutex_destroy(&pw->lock);
    free(pw);
}

/* Whether an event may have changed which directories a path leads through. */
static bool moves_layout(uint32_t mask)
{
    if (mask & (IN_IGNORED | IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))
        return true;
    return (mask & IN_ISDIR) && (mask & (IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO));
}

struct path_generations path_watch_read(struct path_watch *pw)
{
    /* room for at least one event with the longest name, aligned as the kernel writes */
    char buf[sizeof(struct inotify_event) + NAME_MAX + 1 + 4096]
        __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false, layout = false;
    pthread_mutex_lock(&pw->lock);
    for (;;) {
        if (pw->fd < 0) { /* a reset failed: try again, nothing is trusted meanwhile */
            reset_locked(pw);
            break;
        }
        ssize_t n = read(pw->fd, buf, sizeof buf);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                reset_locked(pw);
            break;
        }
        for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
            any = true;
            layout = layout || moves_layout(ev->mask);
            if ((ev->mask & IN_IGNORED) && pw->live > 0)
                pw->live--;
            off += (ssize_t)(sizeof *ev + ev->len);
        }
    }
    if (any)
        pw->gen.any++;
    if (layout)
        pw->gen.layout++;
    struct path_generations g = pw->gen;
    pthread_mutex_unlock(&pw->lock);
    return g;
}

bool path_watch_cover(struct path_watch *pw, const char *rel)
{
    char path[PATH_MAX];
    bool ok = true;
    pthread_mutex_lock(&pw->lock);
    size_t len = strlen(rel);
    for (size_t i = 0; ok && i <= len; i++) {
        if (rel[i] != '/' && rel[i] != '\0')
            continue;
        bool last = rel[i] == '\0';
        ok = pw->fd >= 0 && pw->live < pw->max_watches &&
             proc_path(pw, rel, i, path, sizeof path) &&
             add_locked(pw, path,
                        last ? FILE_MASK | IN_DONT_FOLLOW
                             : DIR_MASK | IN_ONLYDIR | IN_DONT_FOLLOW) >= 0;
        if (!ok && pw->fd >= 0 && (errno == ENOSPC || pw->live >= pw->max_watches))
            reset_locked(pw); /* out of watches: start again with the paths in use */
    }
    pthread_mutex_unlock(&pw->lock);
    return ok;
}

size_t path_watch_count(struct path_watch *pw)
{
    pthread_mutex_lock(&pw->lock);
    size_t n = pw->live;
    pthread_mutex_unlock(&pw->lock);
    return n;
}
