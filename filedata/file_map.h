/* file_map.h - the cache of open files and their mappings, one entry per (path, access class).
 *
 * An entry (struct mapped_file) is a file opened beneath the root: its descriptor, its
 * identity (device, inode, size, mtime, ctime), the validators and type /files sends, and a
 * read-only MAP_SHARED mapping made the first time someone asks for it
 * (mapped_file_base()), with the class's mapping-wide advice. Entries are reference counted:
 * a response holds its entry until libmicrohttpd frees it, and the last release closes the
 * descriptor and unmaps. An entry is either cached (in the table, found again by its path) or
 * detached (built for one request and gone with it): a file that is not admitted leaves no
 * descriptor, mapping or watch behind its request.
 *
 * Admission and eviction: an entry is admitted while its part of the table has room, and
 * after that only when its (path, class) missed before within about the last `capacity`
 * misses (a doorkeeper table of `capacity` slots remembers a hash of each miss): a scan of
 * files read once never enters a full cache, so it cannot flush the files in use. A full part
 * evicts by CLOCK: each hit sets the entry's reference bit, the hand clears set bits and takes
 * the first entry without one (at most CLOCK_SWEEP_MAX steps, then the entry under the hand):
 * O(1), never a scan of the table. The table is split into independently locked stripes by
 * hash, so no lock is shared by all requests; files are opened and mapped outside any lock.
 *
 * Revalidation: with a path_watch, a cached entry carries a watch mark (path_watch.h) and a
 * lookup trusts it without a system call while the mark is unchanged; otherwise the caller
 * stats the path (file_lookup.c) and confirms or replaces the entry. All functions are thread
 * safe.
 */
#ifndef MMAPD_FILE_MAP_H
#define MMAPD_FILE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "filedata/advice.h"
#include "filedata/path_watch.h"
#include "http/etag.h"
#include "http/http_date.h"

#define CLOCK_SWEEP_MAX 32

struct file_map;
struct mapped_file;
struct metrics;

struct file_info {
    uint64_t size;
    time_t mtime;
    char etag[ETAG_LEN];              /* strong, quoted: etag_format() */
    char last_modified[HTTP_DATE_LEN];
    const char *content_type;         /* static string */
    int fd; /* the entry's descriptor, open for reading: pread(2), cachestat(2); holders never
               close it */
};

/* The Last-Modified a response sends at `now`: the file's mtime, or `now` when the mtime is
 * in the future (RFC 9110 8.8.2.1). Returns the time; `*text` is its HTTP-date, fi's own or
 * written into `buf`. */
time_t file_info_last_modified(const struct file_info *fi, time_t now, char buf[HTTP_DATE_LEN],
                               const char **text);

/* A table of about `capacity` entries; `pw` (may be NULL: every lookup stats its path) must
 * outlive the table. */
struct file_map *file_map_create(size_t capacity, const struct advice_policy *policy,
                                 struct metrics *metrics, struct path_watch *pw);
/* Call only when no reference is held any more (after the HTTP daemon stopped). */
void file_map_destroy(struct file_map *fm);

/* How far a cached entry is known to be current:
 *   MAP_FRESH      nothing watched changed since it was last found current: use it;
 *   MAP_MOVED      its path's counters moved, its watches are in place: with *mark
 *                  re-read (path_watch_remark) before a stat, a stat that shows the same
 *                  identity makes it current again (file_map_remarked);
 *   MAP_UNMARKED   no mark, or the layout moved: cover the path again, then stat
 *                  (file_map_marked);
 *   MAP_UNWATCHED  its path cannot be watched under the current layout: stat it. */
enum map_state { MAP_FRESH, MAP_MOVED, MAP_UNMARKED, MAP_UNWATCHED };

/* A reference to the cached entry of (rel, cls), marked used, and its state (with its mark
 * in *mark for MAP_MOVED), or NULL when there is none. */
struct mapped_file *file_map_get(struct file_map *fm, const char *rel, enum access_class cls,
                                 enum map_state *state, struct watch_mark *mark);

/* The file's number of links when it was opened. */
unsigned long mapped_file_links(const struct mapped_file *m);

/* Whether the entry is the file a stat of its path now describes. */
bool mapped_file_same(const struct mapped_file *m, const struct stat *st);
/* Whether two entries (of any class, cached or not) hold the same version of the same file. */
bool mapped_file_same_version(const struct mapped_file *a, const struct mapped_file *b);

/* The entry was found current by a stat made after its path's counters were read again into
 * `mark` (a copy of its MAP_MOVED mark, path_watch_remark()): the next lookups need no stat.
 * Nothing happens if another thread marked the entry anew meanwhile. */
void file_map_remarked(struct file_map *fm, struct mapped_file *m, const struct watch_mark *mark);

/* The entry was found current by a stat made after path_watch_cover() filled `mark`: the entry
 * takes the mark and its hold (releasing its old one). */
void file_map_marked(struct file_map *fm, struct mapped_file *m, struct watch_mark *mark);

/* The entry's path cannot be watched while the layout generation stays `layout`. */
void file_map_set_unwatched(struct file_map *fm, struct mapped_file *m, uint64_t layout);

/* A detached entry for the file open as `fd` (taken over in every case) that `st` describes,
 * with `rel`'s validators and type; NULL (errno set) when out of memory. */
struct mapped_file *file_map_open(struct file_map *fm, const char *rel, enum access_class cls,
                                  int fd, const struct stat *st);

/* Whether a detached entry just opened should be cached (see above); counts a miss. */
bool file_map_admits(struct file_map *fm, const struct mapped_file *m);

/* Caches the detached entry `m` (the caller keeps its reference), with `mark` (its hold taken
 * over; NULL: none) or marked unwatched under `unwatched_layout` (0: not), replacing a stale
 * entry of the same path and evicting one when full. If another thread cached the same file
 * meanwhile, `m` stays detached. */
void file_map_insert(struct file_map *fm, struct mapped_file *m, struct watch_mark *mark,
                     uint64_t unwatched_layout);

/* Drops the cached entry of (rel, cls), if any: the path no longer names a file, so its
 * descriptor (and the deleted file's disk space) is released once no response holds it. */
void file_map_forget(struct file_map *fm, const char *rel, enum access_class cls);

/* Drops `m` from the table if it is cached: a read found the file no longer as `m` knew it. */
void file_map_drop(struct file_map *fm, struct mapped_file *m);

struct mapped_file *file_map_retain(struct mapped_file *m);
void file_map_release(struct mapped_file *m);

const struct file_info *mapped_file_info(const struct mapped_file *m);

/* The mapping of the whole file, made on first use with the class's advice: NULL for an
 * empty file, or when mmap(2) failed (errno set; the caller answers without it or fails). */
const unsigned char *mapped_file_base(struct mapped_file *m);

/* Whether the file (the inode, wherever its name went) still has at least `end` bytes now.
 * A file truncated in place under its mapping reads as zeros in the rest of its last page,
 * without any signal, and a read(2) that runs while a truncation zeroes the tail of a page
 * cache folio copies those zeros: a copy is known good only if this holds after it. One
 * ioctl(FIONREAD) (the size: the descriptor's position stays 0), or fstat(2). */
bool mapped_file_holds(const struct mapped_file *m, uint64_t end);

struct file_map_counts {
    uint64_t mapped_files, mapped_bytes; /* live mappings, held ones included */
    uint64_t open_files;                 /* live entries: each holds one descriptor */
    uint64_t cached, capacity;           /* entries in the table, and its bound */
};
void file_map_counts(struct file_map *fm, struct file_map_counts *out);

#endif
