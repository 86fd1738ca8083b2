/* admission.h - mmapd's own connection limits, checked ahead of libmicrohttpd's.
 *
 * libmicrohttpd 0.9.75 enforces MHD_OPTION_CONNECTION_LIMIT by no longer accepting (new
 * clients wait in the listen backlog without an answer) and MHD_OPTION_PER_IP_CONNECTION_LIMIT
 * by closing the new socket, and tells the application about neither. So mmapd counts open
 * connections itself (total, and per address with --max-connections-per-ip) and gives
 * libmicrohttpd limits it never reaches. A new connection is, in this order:
 *   - served, while fewer than max_connections are served and fewer than per_ip from its
 *     address;
 *   - else accepted to be refused: every request on it but GET /healthz is answered 503 with
 *     Retry-After: 1 and Connection: close (router.c), while fewer than over_max_connections
 *     such connections are open in all and fewer than over_per_ip from its address;
 *   - else closed at once by the accept policy callback, before libmicrohttpd allocates it.
 * Each refused connection is counted once in mmapd_connections_rejected_total by the reason
 * it was refused for: per_ip when its address was over its limit, else max_connections.
 *
 * Cost: one mutex taken at accept, at the connection-started and at the connection-closed
 * notifications; nothing per request but reading the connection's socket context.
 */
#ifndef MMAPD_ADMISSION_H
#define MMAPD_ADMISSION_H

#include <microhttpd.h>
#include <stdint.h>

#include "access/ip_table.h"
#include "metrics/metrics.h"

struct admission_limits {
    unsigned max_connections;      /* connections served at once */
    unsigned over_max_connections; /* more accepted in all, only to be answered 503 */
    unsigned per_ip;               /* connections served at once from one address; 0: any */
    unsigned over_per_ip;          /* more accepted from one address, only to be answered 503 */
};

/* The limits for --max-connections and --max-connections-per-ip: room for 503 answers to
 * max(16, max_connections / 8) connections in all and max(4, per_ip / 4) per address. */
void admission_limits_init(struct admission_limits *l, unsigned max_connections, unsigned per_ip);

/* The limits to give libmicrohttpd (MHD_OPTION_CONNECTION_LIMIT, and
 * MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0 for none) when it runs `threads` threads: above what
 * admission lets through, so that libmicrohttpd's own refusals stay a last resort. */
unsigned admission_mhd_connection_limit(const struct admission_limits *l, unsigned threads);
unsigned admission_mhd_per_ip_limit(const struct admission_limits *l, unsigned threads);

enum admission_verdict { ADMISSION_SERVE, ADMISSION_ANSWER_503, ADMISSION_CLOSE };
enum admission_reason { ADMISSION_OK, ADMISSION_MAX_CONNECTIONS, ADMISSION_PER_IP };

/* Connections open now: in all, and from the new connection's address (0 and 0 when there
 * is no per-address limit). */
struct admission_counts {
    uint64_t served, excess;
    uint64_t ip_served, ip_excess;
};

struct admission_decision {
    enum admission_verdict verdict;
    enum admission_reason reason; /* ADMISSION_OK exactly when the verdict is SERVE */
};

/* What to do with one more connection (pure). */
struct admission_decision admission_decide(const struct admission_limits *l,
                                           const struct admission_counts *c);

struct admission;

/* Counts for `limits`; `mhd_connection_limit` bounds the addresses tracked at once (every
 * open connection has one). Rejections are counted in `metrics`. NULL when out of memory. */
struct admission *admission_create(const struct admission_limits *limits,
                                   unsigned mhd_connection_limit, struct metrics *metrics);
/* Call after libmicrohttpd stopped (it reports every connection closed before). */
void admission_destroy(struct admission *a);

/* The address key of connection `c` (the client's IP address); false when it has none (not
 * IPv4 or IPv6). */
bool admission_connection_key(struct MHD_Connection *c, struct ip_key *key);

/* MHD_AcceptPolicyCallback (cls: the admission): MHD_NO, counted, for a connection to close. */
enum MHD_Result admission_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);

/* MHD_OPTION_NOTIFY_CONNECTION (cls: the admission): STARTED decides and counts a connection
 * and keeps the decision in its socket context; CLOSED uncounts it. */
void admission_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);

/* Why the requests on a connection are refused, from the socket context admission_notify()
 * gave it: ADMISSION_OK when they are served. Takes no lock. */
enum admission_reason admission_refusal(void *socket_context);

/* Connections open (served and refused), for the mmapd_connections_open gauge; no lock. */
uint64_t admission_open(struct admission *a);

#endif
