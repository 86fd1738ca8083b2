/* path_watch.h - knowing, without a stat, that nothing on a path under the root changed.
 *
 * A path_watch holds inotify watches on the directories that cached files were reached
 * through and on the files themselves, and two generation numbers that the events move:
 *   - `any` moves on every event: a name created, deleted or renamed in a watched directory,
 *     an attribute change, a write or truncation of a watched file (through any of its
 *     names), a watch dropped (its file deleted) or the event queue overflowing;
 *   - `layout` moves only when a directory (or a watch) went away or was renamed, i.e. when a
 *     path may now lead through directories that are not watched.
 * path_watch_read() takes in the pending events first (one non-blocking read(2) under the
 * watch's lock): a change whose system call returned before the call is always counted,
 * since the kernel queues an inotify event before the changing call returns.
 *
 * How a caller uses it (file_lookup.c): read the generations g; path_watch_cover(rel); stat
 * rel without following a final symlink; when that shows the expected regular file, the
 * result holds while path_watch_read() keeps returning g.any, and the watches placed by that
 * cover stay in place while it keeps returning g.layout.
 *
 * path_watch_cover() watches each directory from the root down to rel's parent (each must be
 * a real directory: a symlink on the way fails) and rel itself; false when any watch could not
 * be placed. Watches are placed through /proc/self/fd, so without /proc nothing is covered.
 * The watches number at most `max_watches` (and the kernel's max_user_watches): past that, all
 * are dropped and the generations move, and only paths in use get watched again.
 * Not seen: writes through another process's writable shared mapping (the kernel sends no
 * event for them), changes on network file systems made by other machines, and mounts.
 */
#ifndef MMAPD_PATH_WATCH_H
#define MMAPD_PATH_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct path_watch;

struct path_generations {
    uint64_t any, layout; /* never 0 */
};

/* NULL with errno set when inotify is unavailable (EMFILE: max_user_instances reached). */
struct path_watch *path_watch_create(int root_fd, size_t max_watches);
void path_watch_destroy(struct path_watch *pw);

struct path_generations path_watch_read(struct path_watch *pw);
bool path_watch_cover(struct path_watch *pw, const char *rel);

/* Watches in place now (for tests). */
size_t path_watch_count(struct path_watch *pw);

#endif
