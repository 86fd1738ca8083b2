/* handshake_wait.c - suspend a handshake that found the socket empty, resume it on epoll. */
#include "access/handshake_wait.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct handshake_wait {
    int epfd, stopfd;
    pthread_mutex_t lock;
    bool stopping;                  /* under lock */
    struct handshake_waiter *head;  /* the waiting ones, under lock */
    pthread_t thread;
};

static void unlink_waiter(struct handshake_wait *w, struct handshake_waiter *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        w->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

/* Under the lock: out of the epoll set, back to libmicrohttpd. */
static void wake(struct handshake_wait *w, struct handshake_waiter *e)
{
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, e->fd, NULL);
    unlink_waiter(w, e);
    e->waiting = false;
    MHD_resume_connection(e->c);
}

static void park(struct handshake_waiter *e)
{
    struct handshake_wait *w = e->w;
    pthread_mutex_lock(&w->lock);
    if (!w->stopping && !e->waiting) {
        /* suspended first: the thread cannot resume it before, it needs the lock */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = e};
        MHD_suspend_connection(e->c);
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, e->fd, &ev) == 0) {
            e->waiting = true;
            e->next = w->head;
            if (w->head)
                w->head->prev = e;
            w->head = e;
        } else {
            MHD_resume_connection(e->c); /* polled as before, rather than lost */
        }
    }
    pthread_mutex_unlock(&w->lock);
}

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
    struct handshake_waiter *e = p;
    if (!e->done && gnutls_handshake_get_last_in(e->session) == GNUTLS_HANDSHAKE_FINISHED)
        e->done = true; /* the client's Finished: the handshake is over */
    ssize_t n;
    do
        n = recv(e->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    int err = errno;
    if ((err == EAGAIN || err == EWOULDBLOCK) && !e->done)
        park(e);
    gnutls_transport_set_errno(e->session, err);
    errno = err;
    return -1;
}

/* GnuTLS calls it only with a record or handshake timeout set (mmapd and libmicrohttpd set
 * none); the default one would take the pull pointer for the descriptor. */
static int pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
    struct handshake_waiter *e = p;
    struct pollfd pfd = {.fd = e->fd, .events = POLLIN};
    int r = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
    return r < 0 ? -1 : r;
}

static void *run(void *arg)
{
    struct handshake_wait *w = arg;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(w->epfd, evs, 64, -1);
        if (n < 0 && errno != EINTR)
            return NULL;
        pthread_mutex_lock(&w->lock);
        bool stop = w->stopping;
        for (int i = 0; i < n && !stop; i++) {
            struct handshake_waiter *e = evs[i].data.ptr;
            if (e && e->waiting)
                wake(w, e);
        }
        pthread_mutex_unlock(&w->lock);
        if (stop)
            return NULL;
    }
}

void handshake_wait_over(struct handshake_waiter *e)
{
    e->done = true;
}

struct handshake_wait *handshake_wait_create(char *err, size_t errlen)
{
    struct handshake_wait *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory for the handshake waits");
        return NULL;
    }
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    pthread_mutex_init(&w->lock, NULL);
    if (w->epfd < 0 || w->stopfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->stopfd, &ev) != 0 ||
        pthread_create(&w->thread, NULL, run, w) != 0) {
        snprintf(err, errlen, "cannot start the TLS handshake waits: %s", strerror(errno));
        goto fail;
    }
    return w;
fail:
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->stopfd >= 0)
        close(w->stopfd);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
}

void handshake_wait_attach(struct handshake_wait *w, struct handshake_waiter *e,
                           struct MHD_Connection *c, gnutls_session_t session, int fd)
{
    *e = (struct handshake_waiter){.w = w, .c = c, .session = session, .fd = fd};
    gnutls_transport_set_ptr2(session, e, (gnutls_transport_ptr_t)(intptr_t)fd);
    gnutls_transport_set_pull_function(session, pull);
    gnutls_transport_set_pull_timeout_function(session, pull_timeout);
}

void handshake_wait_stop(struct handshake_wait *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    bool was = w->stopping;
    w->stopping = true;
    while (w->head)
        wake(w, w->head);
    pthread_mutex_unlock(&w->lock);
    if (was)
        return;
    uint64_t one = 1;
    if (write(w->stopfd, &one, sizeof one) != sizeof one) {
        /* an eventfd write fails only at its maximum count: the thread is awake anyway */
    }
    pthread_join(w->thread, NULL);
}

void handshake_wait_free(struct handshake_wait *w)
{
    if (!w)
        return;
    handshake_wait_stop(w);
    close(w->epfd);
    close(w->stopfd);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
