/* server.c - start, drain and stop the libmicrohttpd daemon around the handlers. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access/admission.h"
#include "access/conn_watch.h"
#include "handlers/router.h"
#include "handlers/sample_lookahead.h"
#include "metrics/metrics.h"
#include "server/acceptor.h"
#include "server/file_limits.h"
#include "server/listen_addr.h"
#include "server/log.h"
#include "server/read_ahead.h"
#include "server/signals.h"
#include "server/socket_activation.h"

static bool open_root(const char *root, int *fd, char *err, size_t errlen)
{
    struct stat st;
    if (stat(root, &st) != 0) {
        snprintf(err, errlen, "--root %s: %s", root, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "--root %s: not a directory", root);
        return false;
    }
    int d = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0 || faccessat(d, ".", R_OK | X_OK, 0) != 0) {
        snprintf(err, errlen, "--root %s: not readable: %s", root, strerror(errno));
        if (d >= 0)
            close(d);
        return false;
    }
    *fd = d;
    return true;
}

/* libmicrohttpd's own connection limits sit above mmapd's (access/admission.h): it would
 * stop accepting (total) or close new sockets unseen (per IP), where mmapd answers 503 or
 * closes and counts. */
static struct MHD_Daemon *start_mhd(struct server *s, const struct mmapd_config *cfg)
{
    struct MHD_OptionItem opts[24];
    size_t n = 0;
#define OPT(o, v, p) (opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)})
    OPT(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)log_mhd, &s->mhd_log); /* first, or MHD warns */
    if (s->tls)
        n += tls_mhd_options(s->tls, opts + n, 4);
    OPT(MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL); /* refuse malformed requests with 400 */
    OPT(MHD_OPTION_CONNECTION_LIMIT, admission_mhd_connection_limit(&s->limits, cfg->threads),
        NULL);
    if (cfg->max_connections_per_ip)
        OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            admission_mhd_per_ip_limit(&s->limits, cfg->threads), NULL);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)conn_watch_notify, s->watch);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout, NULL);
    OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->connection_memory, NULL);
    if (cfg->threads > 1)
        OPT(MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL);
    OPT(MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)router_uri_log, &s->handlers);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)router_completed, &s->handlers);
    OPT(MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)router_keep_escaped, NULL);
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    /* server/acceptor.h accepts and hands the connections over */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    if (s->tls)
        flags |= MHD_USE_TLS;
    return MHD_start_daemon(flags, 0, admission_accept, s->handlers.admission, router_access,
                            &s->handlers,
                            MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

struct tls_settings server_tls_settings(const struct mmapd_config *cfg)
{
    return (struct tls_settings){
        .cert = cfg->tls_cert,
        .key = cfg->tls_key,
        .password_file = cfg->tls_key_password_file[0] ? cfg->tls_key_password_file : NULL,
        .priorities = cfg->tls_priorities[0] ? cfg->tls_priorities : NULL,
        .client_ca = cfg->tls_client_ca[0] ? cfg->tls_client_ca : NULL,
    };
}

struct live_settings *server_live_settings(const struct mmapd_config *cfg, char *err,
                                           size_t errlen)
{
    return live_settings_create(cfg->auth_token_file, cfg->metrics_auth != 0, &cfg->cors, err,
                                errlen);
}

/* What server_start() checks before it binds, and server_check() checks alone: the listen
 * address, the root, the token file and the TLS files. Each result goes to its place in `s`
 * (settings published in a box, TLS); the caller cleans up with server_stop(). */
static bool start_checked(struct server *s, const struct mmapd_config *cfg, const char *root,
                          struct listen_addr *addr, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->listen_fd = -1;
    s->handlers.root_fd = -1;
    if (!listen_addr_parse(cfg->listen, addr, err, errlen) ||
        (root && !open_root(root, &s->handlers.root_fd, err, errlen)))
        return false;
    struct live_settings *first = server_live_settings(cfg, err, errlen);
    if (!first)
        return false;
    s->handlers.settings = live_settings_box_create(first);
    if (!s->handlers.settings) {
        snprintf(err, errlen, "out of memory for the settings");
        return false;
    }
    if (cfg->tls_cert[0]) {
        struct tls_settings ts = server_tls_settings(cfg);
        s->tls = tls_create(&ts, err, errlen);
        if (!s->tls)
            return false;
        s->handlers.tls = true;
    }
    s->handlers.stream_offload = !cfg->test_no_offload;
    return true;
}

bool server_check(const struct mmapd_config *cfg, const char *root, char *err, size_t errlen)
{
    struct server s;
    struct listen_addr addr;
    bool ok = start_checked(&s, cfg, root, &addr, err, errlen) &&
              access_log_check(cfg->access_log, err, errlen);
    server_stop(&s);
    return ok;
}

bool server_start(struct server *s, const struct mmapd_config *cfg, const char *root, char *err,
                  size_t errlen)
{
    struct listen_addr addr;
    int inherited = -1;
    char inherited_bound[sizeof s->bound], activation_err[256];
    /* first, before any descriptor of ours could take the number systemd passed it as */
    enum socket_activation sa = socket_activation_take(
        &inherited, inherited_bound, sizeof inherited_bound, activation_err,
        sizeof activation_err);
    if (!start_checked(s, cfg, root, &addr, err, errlen))
        goto fail;
    if (sa == SOCKET_ACTIVATION_ERROR) {
        snprintf(err, errlen, "%s", activation_err);
        goto fail;
    }
    if (sa == SOCKET_ACTIVATION_TAKEN) {
        s->listen_fd = inherited;
        s->socket_activated = true;
        memcpy(s->bound, inherited_bound, sizeof s->bound);
    }
    s->handlers.allow_dotfiles = cfg->allow_dotfiles != 0;
    snprintf(s->handlers.instance_name, sizeof s->handlers.instance_name, "%s",
             cfg->instance_name);
    s->handlers.max_ranges = cfg->max_ranges;
    s->handlers.max_sample_records = cfg->max_sample_records;
    s->handlers.max_sample_bytes = cfg->max_sample_bytes;
    s->handlers.sample_iovec_max = cfg->sample_iovec_max;
    s->handlers.files_zero_copy_max = cfg->files_zero_copy_max;
    s->handlers.policy = cfg->advice;
    s->handlers.prefetch_window = read_ahead_bytes(s->handlers.root_fd, &s->read_ahead_from_sysfs);
    s->handlers.metrics = metrics_create((enum instrument_level)cfg->instrument);
    s->mhd_log.metrics = s->handlers.metrics;
    if (s->handlers.metrics) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        metrics_config_loaded(s->handlers.metrics,
                              (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000);
    }
    if (strcmp(cfg->access_log, "off") != 0) {
        s->handlers.access_log = access_log_open(cfg->access_log,
                                                 (enum access_format)cfg->access_log_format,
                                                 cfg->threads, err, errlen);
        if (!s->handlers.access_log)
            goto fail;
    }
    admission_limits_init(&s->limits, cfg->max_connections, cfg->max_connections_per_ip);
    file_limits_plan(cfg->map_cache,
                     (size_t)s->limits.max_connections + s->limits.over_max_connections,
                     &s->file_limits);
    if (s->handlers.metrics && cfg->revalidate != REVALIDATE_STAT) {
        /* a watch per cached file and per directory on the way to one */
        s->handlers.paths = path_watch_create(s->handlers.root_fd,
                                              s->file_limits.capacity + 4096,
                                              cfg->revalidate == REVALIDATE_INOTIFY);
        if (!s->handlers.paths)
            s->path_watch_errno = errno;
    }
    if (s->handlers.metrics)
        s->handlers.maps = file_map_create(s->file_limits.capacity, &s->handlers.policy,
                                           s->handlers.metrics, s->handlers.paths);
    if (s->handlers.maps)
        s->handlers.admission = admission_create(
            &s->limits, admission_mhd_connection_limit(&s->limits, cfg->threads),
            s->handlers.metrics);
    if (s->handlers.admission)
        s->watch = conn_watch_create(cfg->header_timeout, cfg->connection_timeout,
                                     s->handlers.admission, s->handlers.metrics, s->tls);
    if (!s->watch) {
        snprintf(err, errlen, "out of memory for the metrics, the file cache or the "
                              "connection counts, or no thread for the header deadline");
        goto fail;
    }
    const bool first[ACCESS_CLASS_COUNT] = ADVICE_AUTO_FIRST;
    s->handlers.auto_advice = advice_auto_create(first);
    if (!s->handlers.auto_advice) {
        snprintf(err, errlen, "out of memory for the advice measurements");
        goto fail;
    }
    if (cfg->prefetch_threads) {
        s->handlers.prefetch =
            prefetch_pool_create(cfg->prefetch_threads, 4 * (size_t)cfg->max_connections,
                                 s->handlers.metrics, s->handlers.prefetch_window,
                                 cfg->test_hint_delay_ns);
        if (!s->handlers.prefetch) {
            snprintf(err, errlen, "cannot start %u prefetch threads", cfg->prefetch_threads);
            goto fail;
        }
    }
    if (s->handlers.prefetch && cfg->sample_lookahead) {
        const struct sample_lookahead_config la = {
            cfg->sample_lookahead, cfg->sample_lookahead_bytes,
            cfg->sample_lookahead_client_bytes, cfg->test_lookahead_expiry_ns};
        s->handlers.lookahead = sample_lookahead_create(&la, s->handlers.prefetch,
                                                        s->handlers.metrics,
                                                        s->handlers.prefetch_window);
        if (!s->handlers.lookahead) {
            snprintf(err, errlen, "out of memory for the /sample lookahead table");
            goto fail;
        }
    }
    if (!s->socket_activated &&
        !listen_socket_open(&addr, SOMAXCONN, &s->listen_fd, s->bound, sizeof s->bound, err,
                            errlen))
        goto fail;
    s->mhd = start_mhd(s, cfg);
    if (!s->mhd) {
        snprintf(err, errlen, "libmicrohttpd could not start on %s (see the log line above)",
                 s->bound);
        goto fail;
    }
    s->acceptor = acceptor_start(s->listen_fd, s->mhd);
    if (!s->acceptor) {
        snprintf(err, errlen, "cannot start the thread that accepts connections");
        goto fail;
    }
    return true;
fail:
    if (inherited >= 0 && s->listen_fd != inherited) /* taken, not yet handed to `s` */
        close(inherited);
    server_stop(s);
    return false;
}

void server_reopen_logs(struct server *s)
{
    char err[PATH_MAX + 128];
    if (!s->handlers.access_log)
        return;
    if (access_log_reopen(s->handlers.access_log, err, sizeof err))
        log_info("SIGUSR1: access log reopened");
    else
        log_error("SIGUSR1: %s; still writing to the file opened before", err);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

unsigned long server_drain(struct server *s, unsigned timeout_s, const sigset_t *sigs)
{
    atomic_store(&s->handlers.draining, true);
    acceptor_stop(s->acceptor);
    s->acceptor = NULL;
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    double deadline = now_s() + timeout_s;
    for (;;) {
        uint64_t left = atomic_load(&s->handlers.in_flight);
        if (left == 0) {
            /* none in flight: requests that start from now on get 503; one that started
             * before this store was seen is in flight again, and waited for */
            atomic_store(&s->handlers.stopping, true);
            left = atomic_load(&s->handlers.in_flight);
        }
        if (left == 0 || now_s() >= deadline)
            return (unsigned long)left;
        access_log_flush(s->handlers.access_log);
        int sig = signals_wait(sigs, 20);
        if (sig == SIGUSR1) {
            server_reopen_logs(s);
            continue;
        }
        if (sig > 0 && sig != SIGHUP) { /* no reload while draining */
            log_info("received %s again, stopping now", strsignal(sig));
            return (unsigned long)atomic_load(&s->handlers.in_flight);
        }
    }
}

void server_stop(struct server *s)
{
    /* first: the helpers finish their jobs and resume every suspended connection, which
     * libmicrohttpd needs before it stops */
    acceptor_stop(s->acceptor); /* nothing new is handed to the daemon while it stops */
    s->acceptor = NULL;
    prefetch_pool_destroy(s->handlers.prefetch);
    s->handlers.prefetch = NULL;
    sample_lookahead_destroy(s->handlers.lookahead); /* its tasks ran or were dropped */
    s->handlers.lookahead = NULL;
    conn_watch_stop_handshakes(s->watch);
    if (s->mhd) {
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    conn_watch_destroy(s->watch);
    s->watch = NULL;
    access_log_close(s->handlers.access_log); /* every request completed: nothing lost */
    s->handlers.access_log = NULL;
    tls_destroy(s->tls); /* after every connection released its credentials */
    s->tls = NULL;
    admission_destroy(s->handlers.admission);
    s->handlers.admission = NULL;
    file_map_destroy(s->handlers.maps);
    advice_auto_destroy(s->handlers.auto_advice);
    s->handlers.auto_advice = NULL;
    s->handlers.maps = NULL;
    path_watch_destroy(s->handlers.paths);
    s->handlers.paths = NULL;
    metrics_destroy(s->handlers.metrics);
    s->handlers.metrics = NULL;
    live_settings_box_destroy(s->handlers.settings); /* after every connection released it */
    s->handlers.settings = NULL;
    if (s->handlers.root_fd >= 0) {
        close(s->handlers.root_fd);
        s->handlers.root_fd = -1;
    }
}
