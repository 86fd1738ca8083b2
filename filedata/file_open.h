/* file_open.h - open a file strictly beneath the served root.
 *
 * file_open_beneath() opens `rel` relative to `root_fd` with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS), non-blocking (a FIFO never stalls the caller), and fstat()s it.
 * It returns 0 with *fd and *st set for a regular file, else the HTTP status to answer
 * (404 missing, 403 refused or not a regular file, 414 name too long, 500 anything else)
 * with no descriptor left open. When the path opened but is not a regular file, *st still
 * describes it (so a caller can tell a directory). Nothing outside the root is ever opened.
 */
#ifndef MMAPD_FILE_OPEN_H
#define MMAPD_FILE_OPEN_H

#include <sys/stat.h>

int file_open_beneath(int root_fd, const char *rel, int *fd, struct stat *st);

/* The HTTP status for an errno from opening or resolving a path (the one errno map). */
int file_open_status(int err);

#endif
