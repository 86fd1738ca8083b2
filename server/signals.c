/* signals.c - block mmapd's signals everywhere, take them in the main thread. */
#include "server/signals.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

bool signals_block(sigset_t *set)
{
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1); /* reopen the access log */
    return sigaction(SIGPIPE, &ign, NULL) == 0 && pthread_sigmask(SIG_BLOCK, set, NULL) == 0;
}

int signals_wait(const sigset_t *set, int timeout_ms)
{
    for (;;) {
        int sig;
        if (timeout_ms < 0) {
            sig = sigwaitinfo(set, NULL);
        } else {
            struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
            sig = sigtimedwait(set, NULL, &ts);
        }
        if (sig > 0)
            return sig;
        if (errno == EAGAIN)
            return 0;
        if (errno != EINTR)
            return 0;
    }
}
