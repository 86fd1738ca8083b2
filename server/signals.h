/* signals.h - SIGTERM/SIGINT (stop), SIGHUP (reload) and SIGUSR1 (reopen the access log)
 * handled synchronously by the main thread.
 *
 * signals_block() must run before any thread starts: it blocks SIGTERM, SIGINT, SIGHUP and
 * SIGUSR1 in the calling thread (and so in every thread created later) and ignores SIGPIPE. The
 * main thread then receives them with signals_wait(); no handler runs asynchronously.
 */
#ifndef MMAPD_SIGNALS_H
#define MMAPD_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

bool signals_block(sigset_t *set);

/* The signal number received, or 0 when `timeout_ms` (>= 0) passed first; -1 waits forever. */
int signals_wait(const sigset_t *set, int timeout_ms);

#endif
