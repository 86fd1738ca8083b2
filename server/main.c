/* main.c - mmapd entry point: configuration, demo directory, serve until SIGTERM/SIGINT,
 * reload on SIGHUP, reopen the access log on SIGUSR1, tell systemd about each
 * (server/sd_notify.h). Exit status: 0 after a clean stop or a good --check-config, 2 for bad
 * configuration or a failed start. */
#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filedata/sigbus_guard.h"
#include "server/acceptor.h"
#include "server/config_load.h"
#include "server/demo.h"
#include "server/log.h"
#include "server/reload.h"
#include "server/sd_notify.h"
#include "server/server.h"
#include "server/signals.h"

extern char **environ;

/* One line whenever an `auto` class settles after its warm-up or changes arm, with the
 * figures it compared. `seen` holds what was last logged. */
static void log_advice_auto(const struct server *s, struct advice_auto_state *seen)
{
    for (int c = 0; c < ACCESS_CLASS_COUNT; c++) {
        struct advice_auto_state st;
        if (!s->handlers.policy.automatic[c])
            continue;
        advice_auto_read(s->handlers.auto_advice, (enum access_class)c, &st);
        if (st.settled && (!seen[c].settled || st.changes != seen[c].changes))
            log_info("advice auto: class %s %s WILLNEED: cold requests cost %.2f ms/MiB with it "
                     "(%llu measured), %.2f ms/MiB without (%llu)",
                     access_class_name((enum access_class)c), st.serving ? "gives" : "skips",
                     st.cost[1] / 1e6, (unsigned long long)st.costs[1], st.cost[0] / 1e6,
                     (unsigned long long)st.costs[0]);
        seen[c] = st;
    }
}

/* One line a second at most while accepting fails for a reason of this process's own (too
 * many open files, no memory): the acceptor pauses instead of spinning, clients wait. */
static void log_accept_failures(const struct server *s, uint64_t *seen)
{
    int e;
    uint64_t n = acceptor_failures(s->acceptor, &e);
    if (n != *seen)
        log_info("accept failed %llu time(s) in the last second: %s; pausing %d ms each time",
                 (unsigned long long)(n - *seen), strerror(e), ACCEPTOR_PAUSE_MS);
    *seen = n;
}

/* One message to systemd (server/sd_notify.h); a failed send is logged the first time only. */
static void notify(const struct sd_notify *n, bool *warned, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void notify(const struct sd_notify *n, bool *warned, const char *fmt, ...)
{
    char msg[2048], err[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!sd_notify_send(n, msg, err, sizeof err) && !*warned) {
        log_error("%s (logged once)", err);
        *warned = true;
    }
}

static int fail(const char *msg)
{
    fprintf(stderr, "mmapd: error: %s\n", msg);
    return 2;
}

int main(int argc, char **argv)
{
    static struct mmapd_config cfg; /* large (paths); static storage, owned by main only */
    struct server server;
    sigset_t sigs;
    char err[1024];

    /* Response buffers (up to 1 MiB, handlers/file_body.h) come and go with every request:
     * keep them on the heap and keep freed heap for reuse, or glibc maps, trims and faults
     * the pages in again and again (warm 1 MiB ranges, --threads 1: 260 us of server CPU per
     * request with these, 290 to 470 us without). */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    if (!signals_block(&sigs))
        return fail("cannot block SIGTERM/SIGINT/SIGHUP/SIGUSR1");
    if (!sigbus_guard_install())
        return fail("cannot install the SIGBUS handler");
    switch (config_load(&cfg, argc, argv, environ, err, sizeof err)) {
    case CONFIG_HELP:
        config_usage(stdout);
        return 0;
    case CONFIG_VERSION:
        printf("mmapd %s (libmicrohttpd %s, jansson %s)\n", MMAPD_VERSION, MHD_get_version(),
               JANSSON_VERSION);
        return 0;
    case CONFIG_ERROR:
        return fail(err);
    case CONFIG_CHECK:
        if (!server_check(&cfg, cfg.root[0] ? cfg.root : NULL, err, sizeof err))
            return fail(err);
        printf("mmapd: configuration OK\n");
        return 0;
    case CONFIG_RUN:
        break;
    }

    bool demo = cfg.root[0] == '\0', demo_created = false;
    const char *root = demo ? cfg.demo_dir : cfg.root;
    if (demo && !demo_prepare(cfg.demo_dir, &demo_created, err, sizeof err))
        return fail(err);
    if (!server_start(&server, &cfg, root, err, sizeof err))
        return fail(err);

    char stream[64], random[64], range[64];
    advice_policy_format(&cfg.advice, ACCESS_STREAM, stream, sizeof stream);
    advice_policy_format(&cfg.advice, ACCESS_RANDOM, random, sizeof random);
    advice_policy_format(&cfg.advice, ACCESS_RANGE, range, sizeof range);
    char url[100];
    snprintf(url, sizeof url, "%s://%s", server.tls ? "https" : "http", server.bound);
    log_info("listening on %s%s", url,
             server.socket_activated ? " (socket passed by systemd)" : "");
    if (server.socket_activated && strcmp(cfg.listen, CONFIG_LISTEN_DEFAULT) != 0)
        log_info("--listen %s not bound: systemd passed the listening socket", cfg.listen);
    log_info("serving %s%s%s", root, demo ? " (demo directory" : "",
             demo ? (demo_created ? ", just created)" : ")") : "");
    log_info("threads=%u max-connections=%u (+%u answered 503) max-connections-per-ip=%u "
             "(+%u answered 503) connection-timeout=%us header-timeout=%us connection-memory=%zu "
             "max-ranges=%u max-sample-records=%u max-sample-bytes=%zu sample-iovec-max=%u "
             "files-zero-copy-max=%zu "
             "advice stream=%s range=%s random=%s read-ahead=%zuKiB%s revalidate=%s",
             cfg.threads, server.limits.max_connections, server.limits.over_max_connections,
             server.limits.per_ip, server.limits.over_per_ip, cfg.connection_timeout,
             cfg.header_timeout, cfg.connection_memory,
             cfg.max_ranges, cfg.max_sample_records, cfg.max_sample_bytes,
             cfg.sample_iovec_max, cfg.files_zero_copy_max, stream, range, random,
             server.handlers.prefetch_window / 1024,
             server.read_ahead_from_sysfs ? "" : " (default: not found in sysfs)",
             !server.handlers.paths                         ? "stat"
             : cfg.revalidate == REVALIDATE_INOTIFY_ASYNC ? "inotify-async"
                                                          : "inotify");
    const struct file_limits *fl = &server.file_limits;
    log_info("file cache: %zu files at most (open files limit %lu%s%lu, vm.max_map_count %lu: "
             "%zu fit)%s",
             fl->capacity, fl->nofile_before,
             fl->nofile != fl->nofile_before ? " raised to " : " = ", fl->nofile,
             fl->max_map_count, fl->fit, fl->lowered ? "; --map-cache lowered to that" : "");
    if (server.path_watch_errno)
        log_info("revalidate=stat: inotify is unavailable (%s), so every request stats its "
                 "path", strerror(server.path_watch_errno));

    struct sd_notify sd;
    bool sd_warned = false;
    if (!sd_notify_open(&sd, err, sizeof err))
        log_error("%s", err);
    else if (sd.fd >= 0 && getenv("WATCHDOG_USEC") &&
             (!getenv("WATCHDOG_PID") || atol(getenv("WATCHDOG_PID")) == (long)getpid()))
        log_error("WATCHDOG_USEC is set but mmapd sends no WATCHDOG=1: remove WatchdogSec= "
                  "from the unit, or systemd stops mmapd when it runs out");
    notify(&sd, &sd_warned, "READY=1\nSTATUS=serving %s on %s", root, url);

    struct advice_auto_state seen[ACCESS_CLASS_COUNT] = {0};
    int sig;
    uint64_t accept_failures = 0;
    while ((sig = signals_wait(&sigs, 1000)) == 0 || sig == SIGHUP || sig == SIGUSR1) {
        if (sig == SIGHUP) {
            char outcome[1200];
            notify(&sd, &sd_warned, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the "
                   "configuration", (unsigned long long)sd_notify_monotonic_usec());
            reload_run(&server, &cfg, argc, argv, environ, outcome, sizeof outcome);
            notify(&sd, &sd_warned, "READY=1\nSTATUS=serving %s on %s; %s", root, url, outcome);
        } else if (sig == SIGUSR1)
            server_reopen_logs(&server);
        access_log_flush(server.handlers.access_log); /* lines wait a second at most */
        log_advice_auto(&server, seen);
        log_accept_failures(&server, &accept_failures);
    }
    log_info("received %s, draining for up to %us", strsignal(sig), cfg.drain_timeout);
    notify(&sd, &sd_warned, "STOPPING=1\nSTATUS=received %s, draining for up to %us",
           strsignal(sig), cfg.drain_timeout);
    unsigned long left = server_drain(&server, cfg.drain_timeout, &sigs);
    if (left)
        log_info("drain ended with %lu request(s) in flight; closing them", left);
    server_stop(&server);
    sd_notify_close(&sd);
    log_info("stopped");
    return 0;
}
