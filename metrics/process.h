/* process.h - the standard process_* metrics, read from /proc/self at scrape time.
 *
 * process_read() fills what it can; a field it cannot read stays at -1 (and is then left
 * out of the exposition). Values are in base units: seconds and bytes.
 */
#ifndef MMAPD_PROCESS_H
#define MMAPD_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct process_stats {
    double cpu_seconds;         /* user + system */
    double resident_bytes;
    double virtual_bytes;
    double open_fds;
    double max_fds;             /* soft RLIMIT_NOFILE */
    double start_time_seconds;  /* since the Unix epoch */
    double minor_faults;
    double major_faults;
};

void process_read(struct process_stats *out);

/* The minor and major page faults thread `tid` of this process has taken (what
 * getrusage(RUSAGE_THREAD) tells that thread), from /proc/self/task/TID/stat; false when it
 * cannot be read (the thread is gone, or no /proc). */
bool process_thread_faults(pid_t tid, uint64_t *minor, uint64_t *major);

/* The minor and major page faults the calling thread has taken so far
 * (getrusage(RUSAGE_THREAD)): the difference of two calls is what the code between them
 * faulted. False when it cannot tell. */
bool process_own_faults(uint64_t *minor, uint64_t *major);

#endif
