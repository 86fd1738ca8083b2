/* file_lookup.h - the mapping of the file a request names, for any access class.
 *
 * file_lookup() returns 0 and a reference to the `cls` mapping of `rel` (beneath root_fd), or
 * the HTTP status to answer: 301 when `rel` is a directory, else file_open_beneath()'s 403,
 * 404, 414 or 500. Fastest path, with a path_watch `pw`: no event since the cached mapping
 * was last found current at this path (path_watch.h), so no system call but the watch's
 * non-blocking read; after an event, the path's watches and a stat of it make it current
 * again. Fast path (no `pw`, or a path through a symlink): one fstatat() confirms that the
 * cached mapping is still the file at this path (device, inode, size, mtime, ctime); a stat
 * that leaves the root through a symlink cannot match, since every cached mapping was opened
 * beneath the root. Otherwise the file is opened with openat2(RESOLVE_BENEATH) and
 * (re)mapped. A path found gone drops its cached mapping, so a deleted file's space is
 * released once no response holds it.
 */
#ifndef MMAPD_FILE_LOOKUP_H
#define MMAPD_FILE_LOOKUP_H

#include "handlers/file_map.h"

unsigned file_lookup(int root_fd, struct file_map *fm, struct path_watch *pw, const char *rel,
                     enum access_class cls, struct mapped_file **m);

#endif
