/* sigbus_guard.h - copy out of a file mapping and survive the file being truncated under it.
 *
 * Reading a mapped page that lies past the file's current end raises SIGBUS, which kills the
 * process unless caught. sigbus_guard_install() installs a process-wide SIGBUS handler
 * (SA_SIGINFO | SA_NODEFER). When the faulting thread is inside sigbus_guard_copy(), the
 * handler siglongjmp()s back to it (its jump buffer is found through a thread-local pointer,
 * saved with sigsetjmp(jb, 0): the handler blocks nothing, so there is no mask to restore)
 * and the copy returns false; any number of times, on any thread. A SIGBUS anywhere else is
 * not ours to survive: the handler restores the default action and raises the signal again,
 * so the process ends as it would have without it.
 *
 * sigbus_guard_copy() is memcpy() for source bytes that may be mapped: true when all `len`
 * bytes were copied, false after a SIGBUS (dst then holds an unspecified prefix). The caller
 * counts the failure (mmapd_read_errors_total{reason="sigbus"}). Without an installed handler
 * a SIGBUS still kills the process: install before serving.
 */
#ifndef MMAPD_SIGBUS_GUARD_H
#define MMAPD_SIGBUS_GUARD_H

#include <stdbool.h>
#include <stddef.h>

/* Installs the handler; false with errno on failure. Call it once, before the serving threads
 * start (calling it again installs the same handler again, which changes nothing). */
bool sigbus_guard_install(void);

bool sigbus_guard_copy(void *dst, const void *src, size_t len);

/* Reads one byte of every `stride` bytes of [addr, addr+len): faults the pages in, blocking
 * on the I/O. true when all were read, false after a SIGBUS (the file shrank). */
bool sigbus_guard_touch(const void *addr, size_t len, size_t stride);

#endif
