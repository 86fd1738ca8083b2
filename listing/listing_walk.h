/* listing_walk.h - the walk of a directory listing on its own: one page of a directory (or,
 * recursively, of a tree) beneath the root, read and checked, for the /files listings
 * (handlers/listing.h, which describes what is listed, the pages and the recursion) and for
 * tests.
 */
#ifndef MMAPD_LISTING_WALK_H
#define MMAPD_LISTING_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http/etag.h"

#define LISTING_MAX_DEPTH 32
#define LISTING_MAX_SCAN 1000000 /* directory entries read for one page */

struct listing_options {
    bool recursive;
    bool allow_dotfiles;
    size_t limit;       /* entries per page; 0 is taken as 1 */
    const char *after;  /* the cursor (raw bytes), or NULL for the first page */
    unsigned max_depth; /* capped at LISTING_MAX_DEPTH */
    size_t max_scan;    /* directory entries read at most */
};

struct listing_entry {
    char *name; /* raw bytes, relative to the listed directory */
    bool dir;
    uint64_t size;
    struct timespec mtime;
    char etag[ETAG_LEN]; /* "" for directories */
    bool resident_known;
    uint64_t resident;
};

struct listing {
    struct listing_entry *entries; /* ascending by name */
    size_t count;
    char *next;     /* the next page's cursor (the last name this page took), NULL on the last */
    bool truncated; /* a depth or scan bound was reached */
};

/* One page of directory `rel` ("" for the root) beneath root_fd into *out (zeroed first).
 * Returns 0, or the HTTP status to answer (403, 404, 414, 500) with *out empty. */
int listing_walk_collect(int root_fd, const char *rel, const struct listing_options *opt,
                    struct listing *out);
void listing_walk_free(struct listing *l);

#endif
