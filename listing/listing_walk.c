/* listing_walk.c - listing_walk_collect(): one page of a directory (or tree) beneath the root. */
#include "listing/listing_walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "filedata/file_open.h"
#include "filedata/page_cache.h"
#include "listing/listing_page.h"

struct walker {
    int root_fd;
    bool recursive, allow_dotfiles;
    unsigned max_depth;
    size_t scanned, max_scan;
    struct listing_page page;
    bool truncated; /* a depth or scan bound was reached */
    bool stop;      /* the scan bound: read no further */
    char path[PATH_MAX]; /* the entry at hand, relative to the root */
    size_t base;         /* its key (its name in the listing) is path + base */
    struct {
        dev_t dev;
        ino_t ino;
    } ancestors[LISTING_MAX_DEPTH + 1];
};

/* openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) relative to the root, as /files opens
 * files (filedata/file_open.c); -1 with errno set on failure. */
static int open_beneath(int root_fd, const char *path, uint64_t flags)
{
    struct open_how how = {.flags = flags, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    return fd < 0 ? -1 : (int)fd;
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
        *e = (struct listing_entry){.dir = true, .mtime = st.st_mtim, .resident_known = true};
        return true;
    }
    if (!S_ISREG(st.st_mode))
        return false;
    /* the same open as file_open_beneath(); fstat again, the entry may have been replaced */
    int fd2;
    if (file_open_beneath(root_fd, path, &fd2, &st) != 0)
        return false;
    *e = (struct listing_entry){.size = (uint64_t)st.st_size, .mtime = st.st_mtim};
    etag_format(&st, e->etag);
    e->resident_known = page_cache_resident(fd2, e->size, &e->resident) == 0;
    close(fd2);
    return true;
}

/* Whether readdir()'s d_type leaves room for something /files serves or a directory (FIFOs,
 * sockets and devices are left out without a system call; symlinks and DT_UNKNOWN are
 * resolved by inspect()). */
static bool may_list(unsigned char type)
{
    return type != DT_FIFO && type != DT_SOCK && type != DT_CHR && type != DT_BLK;
}

static bool may_be_dir(unsigned char type)
{
    return type == DT_DIR || type == DT_LNK || type == DT_UNKNOWN;
}

/* Whether (dev, ino) is one of the directories being read, above `depth`. */
static bool is_ancestor(const struct walker *w, unsigned depth, dev_t dev, ino_t ino)
{
    for (unsigned i = 0; i < depth; i++)
        if (w->ancestors[i].dev == dev && w->ancestors[i].ino == ino)
            return true;
    return false;
}

static int walk(struct walker *w, size_t len, unsigned depth);

/* Enters the entry at path[0..len), read at `depth`, when it may be a directory holding
 * keys of this page, or, while nothing has yet shown that a next page exists, keys past the
 * page (one of which would show it). */
static void enter(struct walker *w, size_t len, unsigned depth)
{
    w->path[len] = '/'; /* its keys' prefix; the caller left room */
    w->path[len + 1] = '\0';
    enum listing_under where = listing_page_under(&w->page, w->path + w->base);
    w->path[len] = '\0';
    if (where == LISTING_UNDER_BEFORE || (where == LISTING_UNDER_BEYOND && w->page.more))
        return;
    if (depth + 1 >= w->max_depth) { /* listed, not entered */
        w->truncated = true;
        return;
    }
    walk(w, len, depth + 1);
}

/* Offers every entry of `d` (at path[0..len), `depth` below the listed directory) to the
 * page, and enters the subdirectories as they come when recursive. */
static void read_entries(struct walker *w, DIR *d, size_t len, unsigned depth)
{
    struct dirent *de;
    while (!w->stop && !w->page.failed && (de = readdir(d)) != NULL) { /* an error ends it */
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (++w->scanned > w->max_scan) {
            w->stop = w->truncated = true;
            break;
        }
        if ((name[0] == '.' && !w->allow_dotfiles) || !may_list(de->d_type))
            continue;
        size_t at = len ? len + 1 : 0, n = strlen(name);
        if (at + n + 1 >= sizeof w->path) /* too long to open, or to hold a '/' more */
            continue;
        if (len)
            w->path[len] = '/';
        memcpy(w->path + at, name, n + 1);
        listing_page_offer(&w->page, w->path + w->base);
        if (w->recursive && may_be_dir(de->d_type))
            enter(w, at + n, depth);
    }
}

/* Reads the directory at path[0..len) ("" the root), `depth` levels below the listed one.
 * Returns 0, or for the listed directory itself (depth 0) the HTTP status of the failure to
 * open it; a subdirectory that cannot be opened, or is its own ancestor (a symlink loop), is
 * not read. */
static int walk(struct walker *w, size_t len, unsigned depth)
{
    w->path[len] = '\0';
    int dfd = open_beneath(w->root_fd, len ? w->path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return depth == 0 ? file_open_status(errno) : 0;
    struct stat st;
    DIR *d = NULL;
    int err = 0;
    if (fstat(dfd, &st) != 0 || !(d = fdopendir(dfd))) {
        err = errno;
    } else if (!is_ancestor(w, depth, st.st_dev, st.st_ino)) {
        w->ancestors[depth].dev = st.st_dev;
        w->ancestors[depth].ino = st.st_ino;
        read_entries(w, d, len, depth);
    }
    if (d)
        closedir(d);
    else
        close(dfd);
    return depth == 0 && err ? file_open_status(err) : 0;
}

/* The page's keys, in order, inspected into out->entries (the keys move there); those that
 * inspect() leaves out are dropped. 0, or 500 when out of memory. */
static int fill(struct walker *w, size_t rel_len, struct listing *out)
{
    struct listing_page *p = &w->page;
    listing_page_finish(p);
    out->truncated = w->truncated;
    if (p->count == 0)
        return 0;
    if (p->more && !(out->next = strdup(p->keys[p->count - 1])))
        return 500;
    if (!(out->entries = calloc(p->count, sizeof *out->entries)))
        return 500;
    size_t at = rel_len ? rel_len + 1 : 0;
    for (size_t i = 0; i < p->count; i++) {
        size_t n = strlen(p->keys[i]);
        if (at + n >= sizeof w->path)
            continue;
        if (rel_len)
            w->path[rel_len] = '/';
        memcpy(w->path + at, p->keys[i], n + 1);
        struct listing_entry e;
        if (!inspect(w->root_fd, w->path, &e))
            continue;
        e.name = p->keys[i];
        p->keys[i] = NULL;
        out->entries[out->count++] = e;
    }
    return 0;
}

void listing_walk_free(struct listing *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->entries[i].name);
    free(l->entries);
    free(l->next);
    *l = (struct listing){0};
}

int listing_walk_collect(int root_fd, const char *rel, const struct listing_options *opt,
                    struct listing *out)
{
    *out = (struct listing){0};
    size_t rel_len = strlen(rel);
    if (rel_len + 2 >= PATH_MAX)
        return 414;
    struct walker *w = malloc(sizeof *w);
    if (!w)
        return 500;
    *w = (struct walker){
        .root_fd = root_fd,
        .recursive = opt->recursive,
        .allow_dotfiles = opt->allow_dotfiles,
        .max_depth = opt->max_depth < LISTING_MAX_DEPTH ? opt->max_depth : LISTING_MAX_DEPTH,
        .max_scan = opt->max_scan,
        .base = rel_len ? rel_len + 1 : 0,
    };
    memcpy(w->path, rel, rel_len + 1);
    listing_page_init(&w->page, opt->limit ? opt->limit : 1, opt->after);
    int status = walk(w, rel_len, 0);
    if (!status && w->page.failed)
        status = 500;
    if (!status)
        status = fill(w, rel_len, out);
    listing_page_free(&w->page);
    free(w);
    if (status)
        listing_walk_free(out);
    return status;
}
