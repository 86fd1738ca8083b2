/* handler_ctx.h - what the request handlers share: the one piece of server state they see.
 *
 * Built by the server at start-up (server/server.c), read by every handler on every MHD
 * thread. Only the atomics and the snapshot in `settings` (access/live_settings.h; each
 * request reads the one it started with, `request.settings`) change while serving; everything
 * else is fixed before the daemon starts.
 */
#ifndef MMAPD_HANDLER_CTX_H
#define MMAPD_HANDLER_CTX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access/admission.h"
#include "access/live_settings.h"
#include "filedata/advice.h"
#include "filedata/advice_auto.h"
#include "filedata/file_map.h"
#include "filedata/path_watch.h"
#include "filedata/prefetch_pool.h"
#include "metrics/access_log.h"

struct sample_lookahead;

struct handler_ctx {
    int root_fd;             /* O_DIRECTORY descriptor of the served root */
    bool allow_dotfiles;
    char instance_name[64];  /* sent as Mmapd-Instance when not empty */
    struct live_settings_box *settings; /* tokens, --metrics-auth, CORS: SIGHUP swaps them */
    size_t max_ranges;
    uint64_t max_sample_records; /* --max-sample-records */
    uint64_t max_sample_bytes;   /* --max-sample-bytes */
    size_t sample_iovec_max;     /* --sample-iovec-max: larger samples use the copying reader */
    size_t files_zero_copy_max;  /* --files-zero-copy-max: shorter spans are not copied */
    size_t prefetch_window;  /* bytes per WILLNEED call: the device's read_ahead_kb */
    struct advice_policy policy;
    struct advice_auto *auto_advice; /* the measurements behind `auto` (NULL: none used) */
    struct file_map *maps;
    struct path_watch *paths;       /* watches that make a stat per request unneeded, or NULL */
    struct metrics *metrics;
    struct prefetch_pool *prefetch; /* helper threads for cold requests, or NULL */
    struct sample_lookahead *lookahead; /* /sample pages read ahead, or NULL: off */
    struct admission *admission;    /* open connections against the connection limits */
    struct access_log *access_log;  /* --access-log, or NULL: off (no X-Request-Id either) */
    bool tls; /* HTTPS: bodies stream in smaller blocks; the access log names the version */
    bool stream_offload; /* streamed blocks go to the helpers while others are answered
                            (file_body.c); off only by MMAPD_TEST_STREAM_OFFLOAD=0 */
    _Atomic bool draining;       /* set on SIGTERM: /readyz answers 503 */
    _Atomic bool stopping;       /* the drain is over: a request that starts now gets 503 */
    _Atomic uint64_t in_flight;  /* requests between first handler call and completion */
    /* answers completed whose body was not streamed block by block: a long stream sees
     * from it that other requests are being answered (file_body.c) */
    _Atomic uint64_t short_answers;
    _Atomic uint64_t seeds_drawn; /* /sample seeds picked for requests that name none */
};

#endif
