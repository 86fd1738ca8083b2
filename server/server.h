/* server.h - the server context: served root, file cache, listening socket, MHD daemon.
 *
 * server_start() opens and checks the root, binds the listening socket (or takes the one
 * systemd passed: server/socket_activation.h; `socket_activated` then) and starts the MHD
 * daemon (internal thread pool over epoll, suspend/resume enabled, limits from the config;
 * connection limits counted and enforced by access/admission.h ahead of libmicrohttpd's)
 * and the thread that accepts for it (server/acceptor.h); with --tls-cert, HTTPS
 * (access/tls.h), its files checked before anything listens.
 * The settings SIGHUP may change are published in `handlers.settings` (access/live_settings.h).
 * On failure it returns false with one line in `err` and leaves nothing running or open.
 * server_drain() stops accepting and waits until no request is in flight or the drain
 * timeout passes (a further SIGTERM or SIGINT cuts it short; SIGUSR1 still reopens the log, SIGHUP is ignored);
 * once none is in flight, a request that starts on a connection still open is answered 503
 * "shutting down" instead of being cut off by the stop; server_stop() closes
 * the rest, the access log last, after every request completed.
 */
#ifndef MMAPD_SERVER_H
#define MMAPD_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "access/tls.h"
#include "handlers/handler_ctx.h"
#include "server/config.h"
#include "server/file_limits.h"
#include "server/log.h"

struct server {
    struct handler_ctx handlers;
    struct MHD_Daemon *mhd;
    struct acceptor *acceptor; /* accepts on listen_fd for mhd */
    int listen_fd;
    char bound[80];          /* "127.0.0.1:8080" */
    bool socket_activated;   /* listen_fd came from systemd, --listen was not bound */
    bool read_ahead_from_sysfs;
    int path_watch_errno;    /* why --revalidate inotify fell back to stat, or 0 */
    struct file_limits file_limits; /* the descriptor limit raised, the file cache sized */
    struct admission_limits limits; /* from --max-connections and --max-connections-per-ip */
    struct conn_watch *watch;       /* connection slots and the --header-timeout watchdog */
    struct tls *tls;                /* HTTPS settings, or NULL: plain HTTP */
    struct mhd_log mhd_log;         /* libmicrohttpd's log lines: TLS failures counted */
};

bool server_start(struct server *s, const struct mmapd_config *cfg, const char *root, char *err,
                  size_t errlen);

/* --check-config: what server_start() checks before it binds (the listen address, `root`
 * unless NULL, the token file, the TLS files), without binding or starting anything. */
bool server_check(const struct mmapd_config *cfg, const char *root, char *err, size_t errlen);

/* The pieces of `cfg` that SIGHUP reloads (server/reload.h), built as server_start() builds
 * them: the settings snapshot (the token file loaded; one reference, NULL with `err` set)
 * and the TLS settings (pointing into `cfg`). */
struct live_settings *server_live_settings(const struct mmapd_config *cfg, char *err,
                                           size_t errlen);
struct tls_settings server_tls_settings(const struct mmapd_config *cfg);

/* Returns the number of requests still in flight when it gave up (0: drained). */
unsigned long server_drain(struct server *s, unsigned timeout_s, const sigset_t *sigs);

void server_stop(struct server *s);

/* SIGUSR1: the access log file opened again (logrotate renamed it); a failure is logged and
 * the old file kept. */
void server_reopen_logs(struct server *s);

#endif
