/* file_lookup.h - the open file a request names, for any access class.
 *
 * file_lookup() returns 0 and a reference to the `cls` entry of `rel` (beneath root_fd), or
 * the HTTP status to answer: 301 when `rel` is a directory, else file_open_beneath()'s 403,
 * 404, 414 or 500.
 *  - A hit (mmapd_file_cache_hits_total): the cached entry, with no system call while its
 *    path's watches saw no change (path_watch.h); after a change, or without watches, one
 *    stat of the path confirms it (device, inode, size, mtime, ctime). A stat that leaves the
 *    root through a symlink cannot match, since every entry was opened beneath the root.
 *  - A miss (mmapd_file_cache_misses_total): the file is opened with openat2(RESOLVE_BENEATH)
 *    into a new entry; when the cache admits it (file_map.h), its path is watched, a stat
 *    confirms the path still names it, and it is cached. Otherwise it is detached: its
 *    descriptor closes when the request ends, and no watch is placed.
 * A path found gone, or naming what the lookup refuses (a directory, a symlink out of the
 * root, a FIFO, a file it may not read), drops its cached entry, so a deleted file's space is
 * released once no response holds it.
 */
#ifndef MMAPD_FILE_LOOKUP_H
#define MMAPD_FILE_LOOKUP_H

#include "filedata/file_map.h"

struct metrics;

unsigned file_lookup(int root_fd, struct file_map *fm, struct path_watch *pw,
                     struct metrics *metrics, const char *rel, enum access_class cls,
                     struct mapped_file **m);

#endif
