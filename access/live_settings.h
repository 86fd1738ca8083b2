/* live_settings.h - the settings a request reads that SIGHUP may change: the bearer tokens,
 * whether /metrics needs one, the CORS origins; an immutable, reference-counted snapshot.
 *
 * live_settings_create() loads the token file (when given) and copies the rest: a snapshot
 * never changes afterwards and lives until its last reference is released (its tokens are
 * wiped before the memory is freed). A live_settings_box holds the current snapshot:
 * live_settings_publish() (the main thread, on reload) replaces it and moves the box's
 * generation on; live_settings_acquire() takes a reference to the current one under the
 * box's small mutex. Requests do not take that mutex each time: a connection keeps a
 * reference (live_settings_refresh()) and re-acquires only when the box's generation, one
 * atomic load per request, differs from its snapshot's. A request uses the snapshot it
 * started with until it completes, whatever is published meanwhile.
 */
#ifndef MMAPD_LIVE_SETTINGS_H
#define MMAPD_LIVE_SETTINGS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access/cors.h"
#include "access/token_set.h"

struct live_settings {
    _Atomic unsigned refs;
    uint64_t generation;       /* set when published: 1 for the first, then 2, 3, ... */
    struct token_set *tokens;  /* NULL: the data endpoints are open */
    bool metrics_auth;         /* /metrics needs a token too */
    struct cors_policy cors;
};

/* One reference, owned by the caller; NULL with one line in `err` (token_set_load()'s, or
 * out of memory). `token_file` NULL or "": no tokens. */
struct live_settings *live_settings_create(const char *token_file, bool metrics_auth,
                                           const struct cors_policy *cors, char *err,
                                           size_t errlen);
void live_settings_release(struct live_settings *s);

struct live_settings_box;

/* Takes the caller's reference to `first` (generation 1); NULL when out of memory (the
 * reference is then released). */
struct live_settings_box *live_settings_box_create(struct live_settings *first);
/* Drops the box's reference; call once nothing acquires any more. */
void live_settings_box_destroy(struct live_settings_box *b);

/* Makes `next` (the caller's reference, now the box's) the current snapshot and drops the
 * box's reference to the previous one, which lives on while requests hold it. */
void live_settings_publish(struct live_settings_box *b, struct live_settings *next);

/* A new reference to the current snapshot. */
struct live_settings *live_settings_acquire(struct live_settings_box *b);

/* `*cached` (a reference of the caller's, or NULL) when it is still the current snapshot;
 * otherwise releases it, acquires the current one into `*cached` and returns that. */
const struct live_settings *live_settings_refresh(struct live_settings_box *b,
                                                  struct live_settings **cached);

#endif
