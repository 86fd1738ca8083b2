/* sigbus_guard.c - per-thread sigsetjmp/siglongjmp around copies from mappings. */
#include "filedata/sigbus_guard.h"

#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

/* The jump buffer of the copy running on this thread, or NULL. Static TLS of the executable,
 * so reading it in the signal handler is async-signal-safe. */
static _Thread_local sigjmp_buf *volatile active;

static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
    (void)info;
    (void)uctx;
    sigjmp_buf *jb = active;
    if (jb) {
        active = NULL;
        siglongjmp(*jb, 1);
    }
    /* not inside a guarded copy: die of it, as without a handler */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

bool sigbus_guard_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, NULL) == 0;
}

/* The handler runs with SA_NODEFER and an empty sa_mask, so it blocks nothing and the signal
 * mask is the same after siglongjmp() as before sigsetjmp(): no need to save it, which would
 * cost a sigprocmask system call per copy. */
bool sigbus_guard_copy(void *dst, const void *src, size_t len)
{
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) != 0)
        return false; /* the handler cleared `active` */
    active = &jb;
    atomic_signal_fence(memory_order_seq_cst);
    memcpy(dst, src, len);
    atomic_signal_fence(memory_order_seq_cst);
    active = NULL;
    return true;
}

bool sigbus_guard_touch(const void *addr, size_t len, size_t stride)
{
    sigjmp_buf jb;
    if (sigsetjmp(jb, 0) != 0)
        return false;
    active = &jb;
    atomic_signal_fence(memory_order_seq_cst);
    const volatile unsigned char *p = addr;
    unsigned char sink = 0;
    for (size_t i = 0; i < len; i += stride)
        sink ^= p[i];
    if (len)
        sink ^= p[len - 1];
    atomic_signal_fence(memory_order_seq_cst);
    active = NULL;
    (void)sink;
    return true;
}
