/* file_open.c - openat2(RESOLVE_BENEATH) and the errno -> HTTP status map. */
#include "filedata/file_open.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

int file_open_status(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return 404;
    case EACCES:
    case EPERM:
    case EXDEV:  /* RESOLVE_BENEATH: the path leaves the root */
    case ELOOP:  /* magic link or symlink loop */
    case ENXIO:  /* socket or FIFO without a writer */
    case EISDIR:
        return 403;
    case ENAMETOOLONG:
        return 414;
    default:
        return 500;
    }
}

int file_open_beneath(int root_fd, const char *rel, int *fd, struct stat *st)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long f = syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
    if (f < 0)
        return file_open_status(errno);
    if (fstat((int)f, st) != 0) {
        int status = file_open_status(errno);
        close((int)f);
        return status;
    }
    if (!S_ISREG(st->st_mode)) {
        close((int)f);
        return 403;
    }
    *fd = (int)f;
    return 0;
}
