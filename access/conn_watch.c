/* conn_watch.c - connection slots, and the watchdog that ends requests whose headers stall. */
#include "access/conn_watch.h"

#include "access/handshake_wait.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct conn_slot {
    void *admission;              /* admission_notify()'s socket context */
    struct tls_creds *tls;        /* the credentials its TLS session uses, or NULL */
    int client_cert;              /* 1 + enum tls_client once verified; 0: not yet */
    struct live_settings *settings; /* the snapshot of its latest request, or NULL */
    struct handshake_waiter handshake; /* with TLS: waits for the client off the loop */
    _Atomic uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
    int fd;
    uint64_t timeout_ns;
    uint64_t idle_ns; /* 0: the next request line has no deadline */
    struct conn_slot *prev, *next; /* the watch list, under the watch's lock */
};

struct conn_watch {
    uint64_t timeout_ns, idle_ns;
    struct admission *admission;
    struct metrics *metrics;
    struct tls *tls; /* NULL: plain HTTP */
    struct handshake_wait *handshakes; /* with TLS */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;          /* under lock */
    struct conn_slot *head; /* under lock */
    bool have_thread;
    pthread_t thread;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void arm(struct conn_slot *s, uint64_t extra_ns)
{
    if (s->timeout_ns)
        atomic_store_explicit(&s->deadline_ns, now_ns() + extra_ns + s->timeout_ns,
                              memory_order_relaxed);
}

/* One round: shuts down every socket past its deadline; lock held. */
static void sweep(struct conn_watch *w)
{
    uint64_t now = now_ns();
    for (struct conn_slot *s = w->head; s; s = s->next) {
        uint64_t d = atomic_load_explicit(&s->deadline_ns, memory_order_relaxed);
        if (d && d < now) {
            atomic_store_explicit(&s->deadline_ns, 0, memory_order_relaxed);
            shutdown(s->fd, SHUT_RDWR);
            metrics_connection_rejected(w->metrics, MRJ_HEADER_TIMEOUT);
        }
    }
}

static void *watchdog(void *arg)
{
    struct conn_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t step = w->timeout_ns / 4, ns = (uint64_t)until.tv_nsec + step % 1000000000ull;
        until.tv_sec += (time_t)(step / 1000000000ull + ns / 1000000000ull);
        until.tv_nsec = (long)(ns % 1000000000ull);
        int rc = 0;
        while (!w->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&w->wake, &w->lock, &until);
        if (!w->stopping)
            sweep(w);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct conn_watch *conn_watch_create(unsigned timeout_s, unsigned idle_s,
                                     struct admission *admission, struct metrics *metrics,
                                     struct tls *tls)
{
    struct conn_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->timeout_ns = (uint64_t)timeout_s * 1000000000ull;
    w->idle_ns = (uint64_t)idle_s * 1000000000ull;
    w->admission = admission;
    w->metrics = metrics;
    w->tls = tls;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    bool ok = pthread_mutex_init(&w->lock, NULL) == 0;
    if (ok && pthread_cond_init(&w->wake, &ca) != 0) {
        pthread_mutex_destroy(&w->lock);
        ok = false;
    }
    pthread_condattr_destroy(&ca);
    if (!ok) {
        free(w);
        return NULL;
    }
    if (tls) {
        char err[200];
        w->handshakes = handshake_wait_create(err, sizeof err);
        if (!w->handshakes) {
            conn_watch_destroy(w);
            return NULL;
        }
    }
    if (w->timeout_ns) {
        w->have_thread = pthread_create(&w->thread, NULL, watchdog, w) == 0;
        if (!w->have_thread) {
            conn_watch_destroy(w);
            return NULL;
        }
    }
    return w;
}

void conn_watch_destroy(struct conn_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    if (w->have_thread)
        pthread_join(w->thread, NULL);
    handshake_wait_free(w->handshakes);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void conn_watch_stop_handshakes(struct conn_watch *w)
{
    if (w)
        handshake_wait_stop(w->handshakes);
}

void conn_watch_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    struct conn_watch *w = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_slot *s = calloc(1, sizeof *s);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = NULL;
        if (!s || !ci) { /* no slot: served as if no limit applied, no deadline */
            free(s);
            if (w->tls && ci) /* but never without mmapd's TLS settings */
                shutdown(ci->connect_fd, SHUT_RDWR);
            return;
        }
        s->fd = ci->connect_fd;
        s->timeout_ns = w->timeout_ns;
        s->idle_ns = w->idle_ns;
        if (!tls_connection_started(w->tls, c, &s->tls)) {
            shutdown(s->fd, SHUT_RDWR); /* libmicrohttpd sees the end and closes it */
        } else if (w->handshakes) {
            const union MHD_ConnectionInfo *ti =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
            if (ti && ti->tls_session)
                handshake_wait_attach(w->handshakes, &s->handshake, c, ti->tls_session, s->fd);
        }
        admission_notify(w->admission, c, &s->admission, code);
        arm(s, 0);
        pthread_mutex_lock(&w->lock);
        s->next = w->head;
        if (w->head)
            w->head->prev = s;
        w->head = s;
        pthread_mutex_unlock(&w->lock);
        *socket_context = s;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        struct conn_slot *s = *socket_context;
        pthread_mutex_lock(&w->lock);
        if (s->prev)
            s->prev->next = s->next;
        else
            w->head = s->next;
        if (s->next)
            s->next->prev = s->prev;
        pthread_mutex_unlock(&w->lock);
        admission_notify(w->admission, c, &s->admission, code);
        tls_release(s->tls); /* the session is gone by now */
        live_settings_release(s->settings); /* its last request has completed */
        free(s);
        *socket_context = NULL;
    }
}

struct conn_slot *conn_slot_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void conn_slot_request_started(struct conn_slot *s)
{
    if (s)
        arm(s, 0);
}

void conn_slot_request_done(struct conn_slot *s)
{
    if (s && s->idle_ns)
        arm(s, s->idle_ns);
}

void conn_slot_headers_done(struct conn_slot *s)
{
    if (!s)
        return;
    atomic_store_explicit(&s->deadline_ns, 0, memory_order_relaxed);
    handshake_wait_over(&s->handshake); /* a request came: the handshake is over */
}

void *conn_slot_admission(const struct conn_slot *s) { return s ? s->admission : NULL; }

enum tls_client conn_slot_client_cert(struct conn_slot *s, struct MHD_Connection *c)
{
    if (!s)
        return TLS_CLIENT_OK; /* no slot, no TLS: a TLS connection without one is shut down */
    if (!s->client_cert)
        s->client_cert = 1 + (int)tls_client_verify(s->tls, c);
    return (enum tls_client)(s->client_cert - 1);
}

const struct live_settings *conn_slot_settings(struct conn_slot *s, struct live_settings_box *box)
{
    return live_settings_refresh(box, &s->settings);
}
