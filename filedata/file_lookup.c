/* file_lookup.c - the cached entry, confirmed when it must be; or openat2 beneath the root, and
 * the cache's admission. */
#include "filedata/file_lookup.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filedata/file_open.h"
#include "metrics/metrics.h"

/* Whether the cached entry `m` (in `state`, with its MAP_MOVED mark in *mark) is still the file
 * at rel: one stat, after reading the path's counters again (MAP_MOVED) or placing its watches
 * (MAP_UNMARKED), so that a current entry needs no stat until the next change. A path that
 * cannot be watched (a symlinked directory on it, or a symlink at its end) is marked so, and
 * stat'ed (following symlinks) on every lookup until the layout generation moves. */
static bool still_current(int root_fd, struct file_map *fm, struct path_watch *pw,
                          const char *rel, struct mapped_file *m, enum map_state state,
                          struct watch_mark *mark)
{
    struct watch_mark fresh = {.file_wd = -1};
    struct stat st;
    if (state == MAP_MOVED) {
        path_watch_remark(pw, mark);
    } else if (state == MAP_UNMARKED &&
               !path_watch_cover(pw, rel, mapped_file_links(m) > 1, &fresh)) {
        file_map_set_unwatched(fm, m, path_watch_layout(pw));
        state = MAP_UNWATCHED;
    }
    bool found = fstatat(root_fd, rel, &st, state == MAP_UNWATCHED ? 0 : AT_SYMLINK_NOFOLLOW) == 0;
    bool same = found && S_ISREG(st.st_mode) && mapped_file_same(m, &st);
    if (same && state == MAP_MOVED)
        file_map_remarked(fm, m, mark);
    else if (same && state == MAP_UNMARKED)
        file_map_marked(fm, m, &fresh);
    else if (found && S_ISLNK(st.st_mode))
        file_map_set_unwatched(fm, m, path_watch_layout(pw));
    path_watch_release(pw, &fresh);
    return same;
}

/* Caches the new entry `m` when its path, watched now, still names it; a path that cannot be
 * watched is cached as such (stat'ed on every lookup). A file that changed since it was opened
 * is not cached: the next lookup opens it again. */
static void admit(int root_fd, struct file_map *fm, struct path_watch *pw, const char *rel,
                  struct mapped_file *m)
{
    struct watch_mark mark = {.file_wd = -1};
    struct stat st;
    if (!pw) {
        file_map_insert(fm, m, NULL, 0);
        return;
    }
    bool covered = path_watch_cover(pw, rel, mapped_file_links(m) > 1, &mark);
    bool found = covered && fstatat(root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (found && S_ISREG(st.st_mode) && mapped_file_same(m, &st))
        file_map_insert(fm, m, &mark, 0);
    else if (!covered || (found && S_ISLNK(st.st_mode)))
        file_map_insert(fm, m, NULL, path_watch_layout(pw));
    path_watch_release(pw, &mark);
}

unsigned file_lookup(int root_fd, struct file_map *fm, struct path_watch *pw,
                     struct metrics *metrics, const char *rel, enum access_class cls,
                     struct mapped_file **out)
{
    enum map_state state;
    struct watch_mark mark;
    if (pw)
        path_watch_before_lookup(pw);
    struct mapped_file *m = file_map_get(fm, rel, cls, &state, &mark);
    if (m && (state == MAP_FRESH || still_current(root_fd, fm, pw, rel, m, state, &mark))) {
        metrics_file_cache(metrics, MFC_HIT);
        *out = m;
        return 0;
    }
    bool stale = m != NULL;
    if (m)
        file_map_release(m);

    int fd;
    struct stat st = {0};
    int status = file_open_beneath(root_fd, rel, &fd, &st);
    if (status == 404 || (status && stale))
        file_map_forget(fm, rel, cls); /* gone, or now refused: let the old file's space go */
    if (status == 403 && S_ISDIR(st.st_mode))
        return 301;
    if (status)
        return (unsigned)status;
    m = file_map_open(fm, rel, cls, fd, &st);
    if (!m)
        return 500;
    metrics_file_cache(metrics, MFC_MISS);
    if (file_map_admits(fm, m))
        admit(root_fd, fm, pw, rel, m);
    *out = m;
    return 0;
}
