/* file_map.h - the cache of file mappings, one per (path, access class).
 *
 * file_map_acquire() returns a reference to a read-only MAP_SHARED mapping of the file that
 * `fd`/`st` describe, built once and reused while the file keeps its identity (device, inode,
 * size, mtime, ctime). A file replaced by rename, changed in place or whose permissions
 * changed (ctime) gets a new mapping, so it is opened again; holders of the old one keep it
 * until they release it, and the last release unmaps it. A new mapping gets its class's
 * mapping-wide advice, and keeps a descriptor of the file (its own) while it lives. The
 * cache holds at most `capacity` entries and drops the least recently used. All functions
 * are thread safe; the caller keeps ownership of fd.
 */
#ifndef MMAPD_FILE_MAP_H
#define MMAPD_FILE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "handlers/advice.h"
#include "handlers/etag.h"
#include "handlers/http_date.h"
#include "handlers/path_watch.h"

struct file_map;
struct mapped_file;

struct file_info {
    const unsigned char *base; /* NULL for an empty file */
    uint64_t size;
    time_t mtime;
    char etag[ETAG_LEN];              /* strong, quoted: etag_format() */
    char last_modified[HTTP_DATE_LEN];
    const char *content_type;         /* static string */
    int cachestat_fd; /* the mapping's own descriptor when cachestat(2) works on it, else -1:
                         for residency_missing(); holders never close it */
};

struct file_map *file_map_create(size_t capacity, const struct advice_policy *policy,
                                 struct metrics *metrics);
/* Call only when no reference is held any more (after the HTTP daemon stopped). */
void file_map_destroy(struct file_map *fm);

/* Returns 0 and a reference in *out, or an errno value. */
int file_map_acquire(struct file_map *fm, const char *rel, int fd, const struct stat *st,
                     enum access_class cls, struct mapped_file **out);
void file_map_release(struct mapped_file *m);

/* Drops the cache's entry for (rel, cls), if any: the path no longer names a file, so its
 * mapping (and the deleted file's disk space) is released once no response holds it. */
void file_map_forget(struct file_map *fm, const char *rel, enum access_class cls);

/* Another reference to a mapping the caller holds a reference to. */
struct mapped_file *file_map_retain(struct mapped_file *m);

/* The fast path: a reference to the cached mapping of (rel, cls) when it still has the
 * identity `st` describes (from a stat of the path), without opening anything; false when
 * there is none (then open the file beneath the root and call file_map_acquire()). With `g`,
 * a hit also records that the entry was found current under those path_watch generations
 * (read before the stat and the watches that covered it). */
bool file_map_find(struct file_map *fm, const char *rel, enum access_class cls,
                   const struct stat *st, const struct path_generations *g,
                   struct mapped_file **out);

/* The faster path, without any stat: MAP_FRESH and a reference when the entry of (rel, cls)
 * was found current under exactly the generations `g` (nothing watched changed since);
 * MAP_COVERED when only its `any` generation moved (its path's watches are still in place:
 * a stat of the path tells); MAP_UNWATCHED when its path was found unwatchable under
 * g->layout (file_map_set_unwatched); MAP_STALE otherwise. */
enum map_freshness { MAP_STALE, MAP_COVERED, MAP_FRESH, MAP_UNWATCHED };
enum map_freshness file_map_find_fresh(struct file_map *fm, const char *rel,
                                       enum access_class cls, const struct path_generations *g,
                                       struct mapped_file **out);

/* Records that the path of the entry of (rel, cls), if there is one, cannot be watched (a
 * symlink on it) while the path_watch's layout generation stays `layout`, so that lookups
 * stat it without trying to watch it again. */
void file_map_set_unwatched(struct file_map *fm, const char *rel, enum access_class cls,
                            uint64_t layout);

const struct file_info *mapped_file_info(const struct mapped_file *m);

/* Whether the mapped file (the inode, wherever its name went) still has at least `end`
 * bytes now. A file truncated in place under its mapping reads as zeros in the rest of its
 * last page, without any signal: a copy of mapped bytes is known good only if this holds
 * after the copy. One fstat(2). */
bool mapped_file_holds(const struct mapped_file *m, uint64_t end);

/* Live mappings, including replaced ones still held by responses. */
void file_map_counts(struct file_map *fm, uint64_t *files, uint64_t *bytes);

#endif
