/* read_ahead.h - the block device's read_ahead_kb for the filesystem holding a directory.
 *
 * read_ahead_bytes() reads /sys/dev/block/MAJ:MIN/queue/read_ahead_kb (or the parent
 * device's, for a partition) for the device of `fd`. It returns the value in bytes and sets
 * *from_sysfs; where sysfs has no answer (tmpfs, overlayfs, containers) it returns the
 * kernel's default, 128 KiB, with *from_sysfs false. Never 0.
 */
#ifndef MMAPD_READ_AHEAD_H
#define MMAPD_READ_AHEAD_H

#include <stdbool.h>
#include <stddef.h>

size_t read_ahead_bytes(int fd, bool *from_sysfs);

#endif
