/* admission.c - count open connections, decide at accept and at start, uncount at close. */
#include "access/admission.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "access/ip_table.h"

/* A connection's socket context holds its decision, not a pointer: 1 + its admission_reason,
 * plus HAS_IP when it is counted in the address table. 0: not started. */
#define CTX_REASON_MASK 0xffu
#define CTX_HAS_IP 0x100u

struct admission {
    struct admission_limits limits;
    struct metrics *metrics;
    pthread_mutex_t lock;
    uint64_t served, excess; /* under lock */
    _Atomic uint64_t open;   /* served + excess, written under lock, read without */
    struct ip_table *ips;    /* NULL without a per-address limit */
};

static unsigned at_least(unsigned floor, unsigned v) { return v > floor ? v : floor; }

void admission_limits_init(struct admission_limits *l, unsigned max_connections, unsigned per_ip)
{
    l->max_connections = max_connections;
    l->over_max_connections = at_least(16, max_connections / 8);
    l->per_ip = per_ip;
    l->over_per_ip = per_ip ? at_least(4, per_ip / 4) : 0;
}

/* Admission decides on counts that lag by the connections between the accept policy callback
 * and the started notification: at most one per libmicrohttpd thread. */
unsigned admission_mhd_connection_limit(const struct admission_limits *l, unsigned threads)
{
    return l->max_connections + l->over_max_connections + threads;
}

unsigned admission_mhd_per_ip_limit(const struct admission_limits *l, unsigned threads)
{
    return l->per_ip ? l->per_ip + l->over_per_ip + threads : 0;
}

struct admission_decision admission_decide(const struct admission_limits *l,
                                           const struct admission_counts *c)
{
    struct admission_decision d = {ADMISSION_SERVE, ADMISSION_OK};
    if (l->per_ip && c->ip_served >= l->per_ip)
        d.reason = ADMISSION_PER_IP;
    else if (c->served >= l->max_connections)
        d.reason = ADMISSION_MAX_CONNECTIONS;
    else
        return d;
    bool room = c->excess < l->over_max_connections &&
                (!l->per_ip || c->ip_excess < l->over_per_ip);
    d.verdict = room ? ADMISSION_ANSWER_503 : ADMISSION_CLOSE;
    return d;
}

struct admission *admission_create(const struct admission_limits *limits,
                                   unsigned mhd_connection_limit, struct metrics *metrics)
{
    struct admission *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->limits = *limits;
    a->metrics = metrics;
    if (limits->per_ip && !(a->ips = ip_table_create(mhd_connection_limit))) {
        free(a);
        return NULL;
    }
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        ip_table_destroy(a->ips);
        free(a);
        return NULL;
    }
    return a;
}

void admission_destroy(struct admission *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    ip_table_destroy(a->ips);
    free(a);
}

static void count_rejection(struct admission *a, enum admission_reason r)
{
    metrics_connection_rejected(a->metrics,
                                r == ADMISSION_PER_IP ? MRJ_PER_IP : MRJ_MAX_CONNECTIONS);
}

/* Fills the counts for a connection from `ip` (NULL: not tracked by address). */
static void counts_of(const struct admission *a, const struct ip_counts *ip,
                      struct admission_counts *c)
{
    *c = (struct admission_counts){a->served, a->excess, ip ? ip->served : 0,
                                   ip ? ip->excess : 0};
}

enum MHD_Result admission_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct admission *a = cls;
    struct ip_key key;
    struct admission_counts c;
    pthread_mutex_lock(&a->lock);
    const struct ip_counts *ip =
        a->ips && ip_key_from_sockaddr(addr, addrlen, &key) ? ip_table_find(a->ips, &key) : NULL;
    counts_of(a, ip, &c);
    struct admission_decision d = admission_decide(&a->limits, &c);
    pthread_mutex_unlock(&a->lock);
    if (d.verdict != ADMISSION_CLOSE)
        return MHD_YES;
    count_rejection(a, d.reason);
    return MHD_NO;
}

/* libmicrohttpd keeps the address as accept() gave it, in a buffer of its family's size, but
 * does not say that size: the family tells it, so the length passed only has to be enough. */
bool admission_connection_key(struct MHD_Connection *c, struct ip_key *key)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci && ip_key_from_sockaddr(ci->client_addr, sizeof(struct sockaddr_storage), key);
}

static uintptr_t started(struct admission *a, struct MHD_Connection *conn)
{
    struct ip_key key;
    bool keyed = a->ips && admission_connection_key(conn, &key);
    struct admission_counts c;
    pthread_mutex_lock(&a->lock);
    struct ip_counts *ip = keyed ? ip_table_get(a->ips, &key) : NULL;
    counts_of(a, ip, &c);
    /* a CLOSE here means others started since the accept callback let this one in: it is
     * open already, so it is answered 503 */
    struct admission_decision d = admission_decide(&a->limits, &c);
    bool serve = d.verdict == ADMISSION_SERVE;
    if (serve)
        a->served++;
    else
        a->excess++;
    if (ip) {
        if (serve)
            ip->served++;
        else
            ip->excess++;
    }
    atomic_store_explicit(&a->open, a->served + a->excess, memory_order_relaxed);
    pthread_mutex_unlock(&a->lock);
    if (!serve)
        count_rejection(a, d.reason);
    return (1u + (uintptr_t)d.reason) | (ip ? CTX_HAS_IP : 0);
}

static void closed(struct admission *a, struct MHD_Connection *conn, uintptr_t ctx)
{
    bool serve = (ctx & CTX_REASON_MASK) == 1u + ADMISSION_OK;
    struct ip_key key;
    bool keyed = (ctx & CTX_HAS_IP) && admission_connection_key(conn, &key);
    pthread_mutex_lock(&a->lock);
    if (serve)
        a->served--;
    else
        a->excess--;
    struct ip_counts *ip = keyed ? ip_table_find(a->ips, &key) : NULL;
    if (ip) {
        if (serve)
            ip->served--;
        else
            ip->excess--;
        ip_table_drop_if_idle(a->ips, &key);
    }
    atomic_store_explicit(&a->open, a->served + a->excess, memory_order_relaxed);
    pthread_mutex_unlock(&a->lock);
}

void admission_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    struct admission *a = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = (void *)started(a, c);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        closed(a, c, (uintptr_t)*socket_context);
        *socket_context = NULL;
    }
}

enum admission_reason admission_refusal(void *socket_context)
{
    uintptr_t ctx = (uintptr_t)socket_context;
    if (ctx == 0)
        return ADMISSION_OK;
    return (enum admission_reason)((ctx & CTX_REASON_MASK) - 1u);
}

uint64_t admission_open(struct admission *a)
{
    return atomic_load_explicit(&a->open, memory_order_relaxed);
}
