/* reload.h - SIGHUP: read the configuration again and swap in what may change while serving.
 *
 * reload_run() loads the whole configuration again from the argv and environment the process
 * started with (config_load(), so flags and variables beat the file exactly as at start),
 * then builds everything it would swap before it swaps anything: the settings snapshot (the
 * token file read and checked, --metrics-auth, the CORS origins; access/live_settings.h)
 * and, with TLS, new credentials from the TLS files (access/tls.h, the checks of a start:
 * readable, parsed, key matching the certificate, priorities accepted, client CA). Any
 * failure leaves the running settings as they were and logs one line; on success the
 * snapshot is published and the credentials swapped together. Requests and TLS connections
 * already going on keep what they started with.
 *
 * Reloadable: --auth-token-file (and the file's content), --metrics-auth, --cors-origin,
 * --tls-cert, --tls-key, --tls-key-password-file, --tls-priorities, --tls-client-ca (and the
 * files' content). Every other option needs a restart: a changed one is logged as ignored,
 * one line each, and so is turning TLS on or off. `running` is the configuration in force;
 * its reloadable fields are updated on success. The outcome goes to the metrics
 * (metrics_config_reloaded()). The outcome's log line ("reload: done: ..." or "reload failed,
 * the running settings stay: <reason>") is also written to `outcome`, for systemd's STATUS=.
 */
#ifndef MMAPD_RELOAD_H
#define MMAPD_RELOAD_H

#include <stdbool.h>

#include "server/config.h"
#include "server/server.h"

bool reload_run(struct server *s, struct mmapd_config *running, int argc, char *const argv[],
                char *const envp[], char *outcome, size_t outcomelen);

#endif
