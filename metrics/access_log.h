/* access_log.h - the access log writer: per-thread buffers, flushes, reopen, counters.
 *
 * access_log_open() opens the destination ("stdout", "stderr" or a file opened for append,
 * created 0644 less the umask); it fails with one line in `err` and nothing open.
 * access_log_write() formats a line (metrics/access_line.h) and appends it to the calling
 * thread's buffer: no lock shared by all requests and no write(2) per request. Each thread
 * that writes claims one buffer on its first line (an atomic index into an array sized at
 * open; threads beyond it share one more buffer); a buffer has a mutex that only its owner
 * and the flusher take. A buffer is written out when the next line would not fit
 * (ACCESS_LOG_BUFFER bytes), by access_log_flush() (the main thread calls it every second)
 * and by access_log_close(). On a regular file each write(2) goes to the end (O_APPEND);
 * on a pipe or terminal the buffer is written in pieces of whole lines of at most PIPE_BUF
 * bytes, so lines of different threads never interleave.
 * access_log_reopen() opens the file's path again (logrotate renames it, then signals):
 * lines formatted before it end up in the old or the new file, exactly once; stdout and
 * stderr are kept. A failed write (ENOSPC, EIO, a closed descriptor) is counted, its lines
 * dropped and counted, and serving goes on.
 * access_log_check() is what --check-config asks: whether access_log_open() could open the
 * destination, without creating or changing anything (an existing file is opened for append
 * and closed; a missing one needs a directory this process may write to).
 * access_log_new_id() makes a request id unique to this process: a random prefix drawn at
 * open, the buffer's index and its count of ids.
 */
#ifndef MMAPD_ACCESS_LOG_H
#define MMAPD_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/access_line.h"

#define ACCESS_LOG_BUFFER (64 * 1024)
#define ACCESS_LOG_ID_LEN 40 /* room for a made id and its NUL */

struct access_log;

struct access_log_counts {
    uint64_t lines;          /* lines formatted (written or dropped) */
    uint64_t write_failures; /* write(2) calls that failed or wrote nothing */
    uint64_t dropped;        /* lines lost to those failures */
};

/* `threads`: the threads expected to write (each gets its own buffer). */
struct access_log *access_log_open(const char *dest, enum access_format fmt, unsigned threads,
                                   char *err, size_t errlen);
bool access_log_check(const char *dest, char *err, size_t errlen);
/* Flushes every buffer, closes a file, frees (NULL: nothing). */
void access_log_close(struct access_log *l);

void access_log_write(struct access_log *l, const struct access_entry *e);
void access_log_flush(struct access_log *l);
/* False (with `err`) when the file cannot be opened again: the old one is kept. */
bool access_log_reopen(struct access_log *l, char *err, size_t errlen);

void access_log_new_id(struct access_log *l, char out[ACCESS_LOG_ID_LEN]);
void access_log_counts(struct access_log *l, struct access_log_counts *out);

#endif
