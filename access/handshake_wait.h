/* handshake_wait.h - a TLS handshake waiting for the client waits off libmicrohttpd's loop.
 *
 * libmicrohttpd 0.9.75 lets GnuTLS read the socket itself during a handshake, so when a read
 * finds nothing the library never learns it: the connection stays on its edge-triggered ready
 * list and its HTTP thread polls it without sleeping until the handshake goes on (a client
 * that sends three bytes of a ClientHello, or nothing after it, held a thread at 100 % of a
 * CPU until --header-timeout closed the connection). handshake_wait_attach() gives the
 * connection's GnuTLS session a pull function of its own: while the client's Finished has not
 * arrived, a read that finds nothing suspends the connection (MHD_suspend_connection) and
 * hands its socket to this module's thread, which resumes it when bytes, the end of the
 * stream or an error arrive (epoll, one-shot). After the handshake the pull function only
 * reads: libmicrohttpd's own reads handle an empty socket. The handshake is over when GnuTLS
 * says the client's Finished came, or at the latest when the connection's first request
 * headers are in (handshake_wait_over(); after a TLS 1.3 handshake GnuTLS 3.7 reports no
 * last message at all): a read that suspended the connection after that would wait for a
 * client that may be waiting for an answer.
 * handshake_wait_stop() resumes every connection still waiting and refuses new ones (they
 * poll as before): call it before MHD_stop_daemon(), which needs no connection suspended, and
 * handshake_wait_free() after it. A connection cannot close while it waits (libmicrohttpd does
 * not touch a suspended connection), so a waiter never outlives its connection.
 * Cost: one suspend and resume per handshake round trip that finds the socket empty.
 */
#ifndef MMAPD_HANDSHAKE_WAIT_H
#define MMAPD_HANDSHAKE_WAIT_H

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

struct handshake_wait;

/* One per TLS connection, kept with it (in its conn_watch slot). */
struct handshake_waiter {
    struct handshake_wait *w;
    struct MHD_Connection *c;
    gnutls_session_t session;
    int fd;
    bool done;    /* the client's Finished arrived: reads no longer suspend */
    bool waiting; /* suspended, in the epoll set; under the wait's lock */
    struct handshake_waiter *prev, *next; /* the waiting ones, under the wait's lock */
};

/* NULL with `err` when the epoll descriptor or the thread cannot be made. */
struct handshake_wait *handshake_wait_create(char *err, size_t errlen);
/* Installs the pull function on `session` (the send side stays libmicrohttpd's). */
void handshake_wait_attach(struct handshake_wait *w, struct handshake_waiter *e,
                           struct MHD_Connection *c, gnutls_session_t session, int fd);
/* The connection's first request headers are in: its handshake is over, reads no longer
 * suspend. Called on the connection's HTTP thread. */
void handshake_wait_over(struct handshake_waiter *e);
void handshake_wait_stop(struct handshake_wait *w);
void handshake_wait_free(struct handshake_wait *w);

#endif
