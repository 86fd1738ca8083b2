/* file_lookup.c - cached mapping or openat2 beneath the root, then the mapping cache. */
#include "handlers/file_lookup.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers/file_open.h"

unsigned file_lookup(int root_fd, struct file_map *fm, const char *rel, enum access_class cls,
                     struct mapped_file **m)
{
    struct stat st = {0};
    if (fstatat(root_fd, rel, &st, 0) == 0 && S_ISREG(st.st_mode) &&
        file_map_find(fm, rel, cls, &st, m))
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
