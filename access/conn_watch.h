/* conn_watch.h - per-connection state, and a deadline for each request's headers.
 *
 * libmicrohttpd 0.9.75 restarts a connection's idle timer on every byte it receives, so a
 * client that sends its headers a byte at a time ("slowloris") holds a connection for hours.
 * conn_watch gives every connection a slot, kept as its socket context: the admission
 * decision (admission.h) and a deadline by which the current request's headers must be in.
 * The deadline is armed when the connection starts (the first request line and headers), when
 * a request ends (keep-alive: the next request line, which libmicrohttpd does not report
 * before it is complete, is due within the idle timeout plus the header timeout) and when a
 * request line arrives (its headers), and cleared when the headers are complete (the access
 * handler's first call). A keep-alive connection that sends nothing is still closed by
 * libmicrohttpd's --connection-timeout, which is shorter; with an idle timeout of 0 (never)
 * the next request line has no deadline either. A watchdog thread wakes every quarter of the
 * timeout and shuts down (shutdown(2), never close: libmicrohttpd owns the descriptor) the
 * socket of every connection past its deadline; libmicrohttpd then sees the end of the
 * stream and closes the connection as usual. Each one is counted in
 * mmapd_connections_rejected_total{reason="header_timeout"}.
 * A slot leaves the watch list in the connection-closed notification, which libmicrohttpd
 * gives before it closes the descriptor, and the watchdog shuts sockets down under the same
 * lock: it never touches a descriptor that was closed, or closed and reused.
 * Cost per request: two relaxed atomic stores; the lock is taken per connection and per
 * watchdog round only.
 */
#ifndef MMAPD_CONN_WATCH_H
#define MMAPD_CONN_WATCH_H

#include <microhttpd.h>
#include <stdint.h>

#include "access/admission.h"
#include "access/live_settings.h"
#include "access/tls.h"
#include "metrics/metrics.h"

struct conn_watch;
struct conn_slot;

/* Watches connections with a header deadline of `timeout_s` seconds (0: no deadline, no
 * thread; the slots still carry the admission decision); `idle_s` is libmicrohttpd's
 * connection timeout (0: never). With `tls`, each connection's TLS session is set up when it
 * starts (tls_connection_started(); a connection whose setup fails is shut down), its
 * handshake waits for the client off libmicrohttpd's loop (access/handshake_wait.h), and its
 * credentials are released when it closes. NULL when out of memory or when the thread cannot
 * start. */
struct conn_watch *conn_watch_create(unsigned timeout_s, unsigned idle_s,
                                     struct admission *admission, struct metrics *metrics,
                                     struct tls *tls);
/* Before MHD_stop_daemon(): resumes every TLS handshake waiting for its client
 * (access/handshake_wait.h), which libmicrohttpd needs to stop. */
void conn_watch_stop_handshakes(struct conn_watch *w);
/* Call after libmicrohttpd stopped (it reports every connection closed before). */
void conn_watch_destroy(struct conn_watch *w);

/* MHD_OPTION_NOTIFY_CONNECTION (cls: the watch): makes or drops the connection's slot and
 * passes the notification on to the admission. */
void conn_watch_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);

/* The slot of connection `c`, or NULL (a connection libmicrohttpd did not report). */
struct conn_slot *conn_slot_of(struct MHD_Connection *c);

/* A request line arrived on a connection that already served one: its headers are due. */
void conn_slot_request_started(struct conn_slot *s);
/* The request's headers are complete (with TLS: the handshake is over, handshake_wait_over()). */
void conn_slot_headers_done(struct conn_slot *s);
/* The request ended: the next request line is due within the idle and the header timeouts. */
void conn_slot_request_done(struct conn_slot *s);

/* The admission decision kept in the slot, for admission_refusal(); NULL for no slot. */
void *conn_slot_admission(const struct conn_slot *s);

/* The settings snapshot for the request starting on this connection: the one the slot
 * keeps, or the current one of `box` when it has changed since (live_settings_refresh());
 * the slot's reference is released when the connection closes. The request may use it until
 * it completes: the next request on the connection starts after that. */
const struct live_settings *conn_slot_settings(struct conn_slot *s, struct live_settings_box *box);

/* The connection's client certificate (tls_client_verify()), verified on its first request
 * and remembered for the others. */
enum tls_client conn_slot_client_cert(struct conn_slot *s, struct MHD_Connection *c);

#endif
