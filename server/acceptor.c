/* acceptor.c - accept(2) on mmapd's socket, hand each connection to libmicrohttpd. */
#include "server/acceptor.h"

#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    BATCH = 64, /* connections accepted per wake-up before the stop event is looked at */
};

struct acceptor {
    int listen_fd;
    int stop_fd; /* eventfd: readable once acceptor_stop() is called */
    struct MHD_Daemon *mhd;
    pthread_t thread;
    _Atomic uint64_t failures;
    _Atomic int last_errno;
};

/* Errors that concern one peer's connection (accept(2), "Error handling"): try the next. */
static bool peer_error(int e)
{
    return e == EINTR || e == ECONNABORTED || e == EPROTO || e == ENETDOWN || e == ENOPROTOOPT ||
           e == EHOSTDOWN || e == ENONET || e == EHOSTUNREACH || e == EOPNOTSUPP ||
           e == ENETUNREACH || e == EPERM;
}

/* Accepts until the socket has nothing more, BATCH connections at most; `*pause` says
 * whether a failure about this process stopped it. */
static void accept_batch(struct acceptor *a, bool *pause)
{
    *pause = false;
    for (int i = 0; i < BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(a->listen_fd, (struct sockaddr *)&peer, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            /* closes fd itself when it refuses the connection (limits, accept policy) */
            (void)MHD_add_connection(a->mhd, fd, (const struct sockaddr *)&peer, len);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (peer_error(errno))
            continue;
        atomic_store(&a->last_errno, errno);
        atomic_fetch_add(&a->failures, 1);
        *pause = true;
        return;
    }
}

static void *accept_thread(void *arg)
{
    struct acceptor *a = arg;
    bool pause = false;
    for (;;) {
        struct pollfd p[2] = {{.fd = a->stop_fd, .events = POLLIN},
                              {.fd = a->listen_fd, .events = POLLIN}};
        /* while pausing, only the stop event is watched, for ACCEPTOR_PAUSE_MS */
        int n = poll(p, pause ? 1 : 2, pause ? ACCEPTOR_PAUSE_MS : -1);
        if (n < 0 && errno != EINTR)
            break; /* cannot happen with valid descriptors; never spin */
        if (n > 0 && (p[0].revents & POLLIN))
            break;
        if (pause || (n > 0 && p[1].revents))
            accept_batch(a, &pause);
    }
    return NULL;
}

struct acceptor *acceptor_start(int listen_fd, struct MHD_Daemon *mhd)
{
    struct acceptor *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->listen_fd = listen_fd;
    a->mhd = mhd;
    a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (a->stop_fd < 0)
        goto fail;
    if (pthread_create(&a->thread, NULL, accept_thread, a) != 0)
        goto fail;
    return a;
fail:
    if (a->stop_fd >= 0)
        close(a->stop_fd);
    free(a);
    return NULL;
}

void acceptor_stop(struct acceptor *a)
{
    if (!a)
        return;
    uint64_t one = 1;
    while (write(a->stop_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    pthread_join(a->thread, NULL);
    close(a->stop_fd);
    free(a);
}

uint64_t acceptor_failures(const struct acceptor *a, int *last_errno)
{
    *last_errno = atomic_load(&a->last_errno);
    return atomic_load(&a->failures);
}
