/* file_lookup.c - cached mapping or openat2 beneath the root, then the mapping cache. */
#include "handlers/file_lookup.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers/file_open.h"

/* The cached mapping, known current by the watches without a stat, or by a stat of the path
 * made after its watches were in place (which makes it known current until the next event).
 * False when there is none or the path's final component is not a regular file. A path that
 * cannot be watched (a symlinked directory on it, or a symlink at its end) is marked so, and
 * is then stat'ed by the caller on every request without being covered again, until the
 * layout generation moves. */
static bool watched_hit(int root_fd, struct file_map *fm, struct path_watch *pw,
                        const char *rel, enum access_class cls, struct mapped_file **m)
{
    struct path_generations g = path_watch_read(pw);
    enum map_freshness f = file_map_find_fresh(fm, rel, cls, &g, m);
    if (f == MAP_FRESH)
        return true;
    if (f == MAP_UNWATCHED)
        return false;
    struct stat st;
    bool watched = f == MAP_COVERED || path_watch_cover(pw, rel);
    bool found = watched && fstatat(root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (found && S_ISREG(st.st_mode))
        return file_map_find(fm, rel, cls, &st, &g, m);
    if (!watched || (found && S_ISLNK(st.st_mode)))
        file_map_set_unwatched(fm, rel, cls, g.layout);
    return false;
}

unsigned file_lookup(int root_fd, struct file_map *fm, struct path_watch *pw, const char *rel,
                     enum access_class cls, struct mapped_file **m)
{
    if (pw && watched_hit(root_fd, fm, pw, rel, cls, m))
        return 0;
    struct stat st = {0};
    if (fstatat(root_fd, rel, &st, 0) == 0 && S_ISREG(st.st_mode) &&
        file_map_find(fm, rel, cls, &st, NULL, m))
        return 0;
    int fd;
    memset(&st, 0, sizeof st);
    int status = file_open_beneath(root_fd, rel, &fd, &st);
    if (status == 403 && S_ISDIR(st.st_mode))
        return 301;
    if (status == 404)
        file_map_forget(fm, rel, cls); /* deleted: let its space go */
    if (status)
        return (unsigned)status;
    int err = file_map_acquire(fm, rel, fd, &st, cls, m);
    close(fd);
    return err ? 500 : 0;
}
