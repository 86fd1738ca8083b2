/* path_watch.h - knowing, without a system call, that nothing on a path under the root changed.
 *
 * A path_watch holds inotify watches on the directories that cached files are reached
 * through and on cached files with more than one link, and a thread that takes in their
 * events as they come and moves counters that requests read with an atomic load:
 *   - a table of change counters, one moved per event: an event on a name in a watched
 *     directory (created, deleted, renamed, written, truncated, attributes changed) moves the
 *     counter of (directory's watch, name); an event on a watched file itself (a change
 *     through any of its names, including a hard link in a directory that is not watched; its
 *     deletion) moves the counter of (file's watch). Counters are shared by hashing: a
 *     collision costs a stat, never trusts a stale answer;
 *   - `layout`, moved when a directory went away or was renamed, a watch was dropped with its
 *     directory, the event queue overflowed or all watches were reset: a path may now lead
 *     through directories that are not watched, so every mark is void.
 * A change is seen by every lookup that starts after its event was taken in: by the watcher
 * thread, which the kernel wakes when it queues the event (before the changing call returns),
 * or by path_watch_catch_up(), which a lookup calls first unless the server runs with
 * --revalidate inotify-async. Without it, the window is the watcher thread's wake-up
 * (docs/operating.md: which file a path names).
 *
 * How a caller uses it (file_lookup.c): path_watch_cover(rel, &mark) places the watches and
 * reads the counters; then a stat of rel that shows the expected regular file makes the
 * result hold while path_watch_unchanged(&mark) is true. After a change (unchanged false but
 * path_watch_intact true), path_watch_remark() reads the counters again, and a new stat
 * decides. path_watch_release(&mark) drops the file's own watch when no other mark holds it.
 *
 * The watches number at most `max_watches` (and the kernel's max_user_watches): past that,
 * all are dropped, `layout` moves, and only paths in use get watched again. Watches are
 * placed through /proc/self/fd, so without /proc nothing is covered.
 * Not seen: writes through another process's writable shared mapping (the kernel sends no
 * event for them), changes on network file systems made by other machines, mounts, and a
 * change made through a hard link that was created, in a directory that is not watched, after
 * the file was covered with a single link (the link's creation is reported only to watches on
 * the file itself).
 */
#ifndef MMAPD_PATH_WATCH_H
#define MMAPD_PATH_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct path_watch;

/* What a cover saw: the counters that a change of the path moves, and their sum then. */
struct watch_mark {
    uint64_t layout; /* 0: no mark */
    uint64_t sum;
    uint32_t name_slot, file_slot;
    int file_wd;     /* the file's own watch, released with the mark */
};

/* Starts the watcher thread. `strict`: path_watch_before_lookup() catches up (see
 * path_watch_catch_up); else it does nothing. NULL with errno set when inotify is unavailable
 * (EMFILE: max_user_instances reached) or the thread cannot start. */
struct path_watch *path_watch_create(int root_fd, size_t max_watches, bool strict);
void path_watch_destroy(struct path_watch *pw);

/* Watches each directory from the root down to rel's parent (each must be a real directory: a
 * symlink on the way fails; a directory watched before under the same layout generation costs
 * no system call) and, with `own_watch`, rel itself (which the mark then holds), and reads the
 * counters into *mark. A file needs its own watch only when it has more than one link: its
 * directory's watch sees every change made through its name there, not one made through a
 * name elsewhere. False when any watch could not be placed (*mark is then empty). */
bool path_watch_cover(struct path_watch *pw, const char *rel, bool own_watch,
                      struct watch_mark *mark);

/* No event on the marked path since its counters were read, and no layout change. One or
 * two atomic loads; no lock, no system call. */
bool path_watch_unchanged(const struct path_watch *pw, const struct watch_mark *mark);

/* The marked path's watches are still in place (only its counters moved): re-reading them
 * with path_watch_remark() and a stat make the mark current again. */
bool path_watch_intact(const struct path_watch *pw, const struct watch_mark *mark);
void path_watch_remark(const struct path_watch *pw, struct watch_mark *mark);

/* Drops the mark's hold on its file's watch: the watch is removed when no mark holds it.
 * Safe on an empty mark. */
void path_watch_release(struct path_watch *pw, struct watch_mark *mark);

/* The layout generation now (never 0). */
uint64_t path_watch_layout(const struct path_watch *pw);

/* Takes in, before it returns, every event queued before the call: one ioctl(FIONREAD) when
 * none is queued and the watcher thread is not taking any in; otherwise it reads them itself
 * (or waits for the watcher to finish the batch it holds). What --revalidate inotify does
 * before each lookup, so that a change whose system call returned before the request arrived
 * is always seen; --revalidate inotify-async leaves it to the watcher thread. */
void path_watch_catch_up(struct path_watch *pw);

/* What a lookup calls first: path_watch_catch_up() when the watch is strict. */
void path_watch_before_lookup(struct path_watch *pw);

/* Watches in place now (for tests and the log). */
size_t path_watch_count(struct path_watch *pw);

#endif
