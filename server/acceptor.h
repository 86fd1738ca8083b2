/* acceptor.h - the thread that accepts connections and hands them to libmicrohttpd.
 *
 * libmicrohttpd runs without a listening socket of its own (MHD_USE_NO_LISTEN_SOCKET): this
 * thread accepts on mmapd's socket and passes each connection to MHD_add_connection(), which
 * spreads them over the HTTP threads and still runs the accept policy (access/admission.h)
 * and the connection limits. Stopping to accept is then "stop this thread": libmicrohttpd
 * 0.9.75's own MHD_quiesce_daemon() races its HTTP threads over removing the listening socket
 * from their epoll sets and can abort the process ("Failed to remove listen FD from epoll
 * set").
 *
 * acceptor_start() starts the thread on a non-blocking listening socket; NULL when no thread
 * can be started. acceptor_stop() returns once the thread has stopped and accepts nothing
 * more; the socket stays open (the caller closes it) and connections still in its backlog
 * are reset when it does. Accept failures that are about the process, not the peer (too many
 * open files, no memory) pause accepting for ACCEPTOR_PAUSE_MS each instead of spinning;
 * acceptor_failures() returns how many there were and the last errno, for the main loop to
 * log.
 */
#ifndef MMAPD_ACCEPTOR_H
#define MMAPD_ACCEPTOR_H

#include <stdint.h>

enum { ACCEPTOR_PAUSE_MS = 100 };

struct MHD_Daemon;
struct acceptor;

struct acceptor *acceptor_start(int listen_fd, struct MHD_Daemon *mhd);
void acceptor_stop(struct acceptor *a);
uint64_t acceptor_failures(const struct acceptor *a, int *last_errno);

#endif
