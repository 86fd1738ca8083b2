/* listing_walk.c - listing_collect(): read a directory tree beneath the root, bounded. */
#include "handlers/listing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "handlers/file_open.h"
#include "handlers/page_cache.h"

#define SCAN_FACTOR 4 /* directory entries examined per entry listed, at most */

struct walker {
    int root_fd;
    const struct listing_options *opt;
    unsigned max_depth;
    size_t scanned, max_scan;
    struct listing *out;
    bool full;   /* an entry or scan bound was hit: stop */
    bool failed; /* out of memory: stop */
    struct {
        dev_t dev;
        ino_t ino;
    } ancestors[LISTING_MAX_DEPTH + 1];
};

/* openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) relative to the root, as /files opens
 * files (handlers/file_open.c); -1 with errno set on failure. */
static int open_beneath(int root_fd, const char *path, uint64_t flags)
{
    struct open_how how = {.flags = flags, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    return fd < 0 ? -1 : (int)fd;
}

/* a + b + c in a new string; NULL when out of memory. */
static char *concat(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *p = malloc(la + lb + lc + 1);
    if (p) {
        memcpy(p, a, la);
        memcpy(p + la, b, lb);
        memcpy(p + la + lb, c, lc + 1);
    }
    return p;
}

/* The path of entry `name` of directory `dir` (both relative to the root; "" the root). */
static char *join(const char *dir, const char *name)
{
    return *dir ? concat(dir, "/", name) : concat(name, "", "");
}

/* Fills *e for the entry at `path` (relative to the root) when /files would serve it or it
 * is a directory; false when it is to be left out. */
static bool inspect(int root_fd, const char *path, struct listing_entry *e)
{
    struct stat st;
    int fd = open_beneath(root_fd, path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return false; /* outside the root, a loop, gone, too long */
    int ok = fstat(fd, &st);
    close(fd);
    if (ok != 0)
        return false;
    if (S_ISDIR(st.st_mode)) {
        *e = (struct listing_entry){.dir = true, .mtime = st.st_mtim, .resident_known = true,
                                    .dev = st.st_dev, .ino = st.st_ino};
        return true;
    }
    if (!S_ISREG(st.st_mode))
        return false;
    /* the same open as file_open_beneath(); fstat again, the entry may have been replaced */
    int fd2;
    if (file_open_beneath(root_fd, path, &fd2, &st) != 0)
        return false;
    *e = (struct listing_entry){.size = (uint64_t)st.st_size, .mtime = st.st_mtim,
                                .dev = st.st_dev, .ino = st.st_ino};
    etag_format(&st, e->etag);
    e->resident_known = page_cache_resident(fd2, e->size, &e->resident) == 0;
    close(fd2);
    return true;
}

static bool push(struct walker *w, const struct listing_entry *e)
{
    struct listing *l = w->out;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct listing_entry *p = realloc(l->entries, cap * sizeof *p);
        if (!p)
            return false;
        l->entries = p;
        l->cap = cap;
    }
    l->entries[l->count++] = *e;
    return true;
}

static bool is_ancestor(const struct walker *w, unsigned depth, dev_t dev, ino_t ino)
{
    for (unsigned i = 0; i <= depth; i++)
        if (w->ancestors[i].dev == dev && w->ancestors[i].ino == ino)
            return true;
    return false;
}

static bool stopped(const struct walker *w) { return w->failed || w->full; }

/* Lists directory `dir` (relative to the root; "" the root), whose entries are named
 * `prefix`NAME in the listing (prefix is "" or ends in '/'), then enters its subdirectories
 * when recursive: all of this directory's entries first, so that a bound hit deeper down
 * leaves them listed. Returns 0, or for the listed directory itself (depth 0) the HTTP status
 * of the failure to open it; a subdirectory that cannot be opened is listed, not entered. */
static int walk(struct walker *w, const char *dir, const char *prefix, unsigned depth)
{
    int dfd = open_beneath(w->root_fd, *dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return depth == 0 ? file_open_status(errno) : 0;
    struct stat st;
    DIR *d = fstat(dfd, &st) == 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        int err = errno;
        close(dfd);
        return depth == 0 ? file_open_status(err) : 0;
    }
    w->ancestors[depth].dev = st.st_dev;
    w->ancestors[depth].ino = st.st_ino;

    size_t first = w->out->count;
    struct dirent *de;
    while (!stopped(w) && (de = readdir(d)) != NULL) { /* an error ends the directory */
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (++w->scanned > w->max_scan) {
            w->full = w->out->truncated = true;
            break;
        }
        if (name[0] == '.' && !w->opt->allow_dotfiles)
            continue;
        char *path = join(dir, name);
        struct listing_entry e;
        if (!path) {
            w->failed = true;
        } else if (inspect(w->root_fd, path, &e)) {
            if (w->out->count >= w->opt->max_entries)
                w->full = w->out->truncated = true;
            else if (!(e.name = concat(prefix, name, "")) || !push(w, &e)) {
                free(e.name);
                w->failed = true;
            }
        }
        free(path);
    }
    closedir(d);

    size_t last = w->out->count;
    for (size_t i = first; i < last && w->opt->recursive && !stopped(w); i++) {
        const struct listing_entry *e = &w->out->entries[i];
        if (!e->dir || is_ancestor(w, depth, e->dev, e->ino))
            continue;
        if (depth + 1 >= w->max_depth) { /* listed, not entered */
            w->out->truncated = true;
            continue;
        }
        /* e->name is `prefix`NAME: the child's path is dir + NAME */
        const char *base = e->name + strlen(prefix);
        char *child_dir = join(dir, base), *child_prefix = concat(prefix, base, "/");
        if (!child_dir || !child_prefix)
            w->failed = true;
        else
            walk(w, child_dir, child_prefix, depth + 1);
        free(child_dir);
        free(child_prefix);
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct listing_entry *)a)->name,
                  ((const struct listing_entry *)b)->name);
}

void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->entries[i].name);
    free(l->entries);
    *l = (struct listing){0};
}

int listing_collect(int root_fd, const char *rel, const struct listing_options *opt,
                    struct listing *out)
{
    *out = (struct listing){0};
    struct walker w = {
        .root_fd = root_fd,
        .opt = opt,
        .max_depth = opt->max_depth < LISTING_MAX_DEPTH ? opt->max_depth : LISTING_MAX_DEPTH,
        .max_scan = opt->max_entries > SIZE_MAX / SCAN_FACTOR ? SIZE_MAX
                                                              : opt->max_entries * SCAN_FACTOR,
        .out = out,
    };
    int status = walk(&w, rel, "", 0);
    if (!status && w.failed)
        status = 500;
    if (status) {
        listing_free(out);
        return status;
    }
    if (out->count > 1)
        qsort(out->entries, out->count, sizeof *out->entries, by_name);
    return 0;
}
