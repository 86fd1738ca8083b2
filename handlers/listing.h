/* listing.h - directory listings of /files (issue 4): JSON for programs, HTML for browsers.
 *
 * listing_handle() answers GET or HEAD for a directory beneath the root. The router calls it
 * for "/files" and for "/files/DIR/" (a path that ends in '/'), with `rel` the path after
 * "/files/" decoded and checked by url_path_decode() (which refuses "." and ".." segments and,
 * unless allow_dotfiles, dotfiles) and without the trailing slash: "" for the root, "sub" or
 * "sub/deeper" otherwise (trailing slashes are tolerated and dropped). It sets
 * req->rec.handler to MH_LIST and queues exactly one response:
 *
 * - 400 for any query parameter other than one "recursive=0" or "recursive=1" (values are
 *   compared as sent: the daemon keeps query strings percent-encoded, so "recursive=%31" is
 *   refused; empty parameters, as in "?&recursive=1", are ignored);
 * - 404 when the directory is missing (or is not a directory), 403 when opening it is refused
 *   (permissions, a symlink leaving the root), 414 when the path is too long;
 * - 200 otherwise, "Cache-Control: no-cache" and "Vary: Accept". HTML ("text/html;
 *   charset=utf-8") when the Accept header prefers text/html (listing_wants_html()), else
 *   JSON ("application/json"):
 *
 *     {"path": "/files/sub/", "truncated": false, "entries": [{"name": "a b.txt",
 *      "type": "file", "size": 12, "mtime": "2026-11-24T05:58:33Z", "mtime_unix": 1795499913,
 *      "etag": "\"a96009-c-18eae5a884691a6b\"", "resident_bytes": 4096,
 *      "href": "/files/sub/a%20b.txt"}, ...]}
 *
 * What is listed: exactly what /files would serve, plus the directories a crawler can descend
 * into. Each entry is opened beneath the root with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS), first as O_PATH (so a FIFO or a device is never opened for
 * reading), then, when it is a regular file, for reading. So symlinks are followed only when
 * they resolve inside the root, and FIFOs, sockets, devices and broken links are left out.
 * Names starting with '.' are left out unless allow_dotfiles.
 *
 * Fields: "size" and "etag" are those of GET /files/NAME (etag_format()); "mtime" is RFC 3339
 * UTC to the second and "mtime_unix" the same in seconds (the file's own mtime, even when it
 * lies in the future); "resident_bytes" comes from page_cache_resident() and is null when the
 * kernel could not tell. Directories have "type": "dir", "size": 0, "etag": null and
 * "resident_bytes": 0. "href" is the absolute path of the entry's URL, percent-encoded
 * (directories end in '/').
 *
 * Names that are not valid UTF-8: JSON strings must be UTF-8, so "name" and "path" replace
 * each byte that does not start a well-formed sequence with U+FFFD (listing_put_utf8()). Such a
 * name is lossy, but "href" percent-encodes the raw bytes, so it always fetches the right
 * file. The HTML page does the same: U+FFFD in the text, raw bytes in the link.
 *
 * Order and bounds: entries are sorted by name, bytewise (strcmp). "?recursive=1" adds the
 * contents of subdirectories, named by their path relative to the listed directory
 * ("a/b.txt"), depth first, never entering a directory that is its own ancestor (a symlink
 * loop). A listing holds at most max_entries entries and descends at most max_depth levels
 * below the listed directory, and examines at most 4 x max_entries directory entries
 * (dotfiles and unservable entries included); reaching any bound sets "truncated": true.
 * Which entries a truncated listing keeps is unspecified. A directory at the depth bound is
 * listed but not entered, and makes the listing truncated.
 *
 * The HTML page (like nginx's autoindex) is a table of name, size, mtime, resident bytes and
 * the resident percentage, with a "../" link except at the root. Links are absolute paths
 * ("/files/sub/a%20b.txt"), so they work both for "/files" and "/files/" and `wget -r -np`
 * can follow them; directory links end in '/'.
 */
#ifndef MMAPD_LISTING_H
#define MMAPD_LISTING_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "handlers/etag.h"
#include "handlers/request.h"

#define LISTING_MAX_ENTRIES 10000 /* the future --listing-limit */
#define LISTING_MAX_DEPTH 32

enum MHD_Result listing_handle(struct request *req, const char *rel);

/* listing_handle() for a raw URL path (after "/files/", still percent-encoded, "" or ending
 * in '/'): decodes it with url_path_decode() and answers 400/403/414 for a bad path. */
enum MHD_Result listing_handle_url(struct request *req, const char *raw);

/* The walk on its own, for tests (and a future --listing-limit). */

struct listing_options {
    bool recursive;
    bool allow_dotfiles;
    size_t max_entries;
    unsigned max_depth; /* capped at LISTING_MAX_DEPTH */
};

struct listing_entry {
    char *name; /* raw bytes, relative to the listed directory */
    bool dir;
    uint64_t size;
    struct timespec mtime;
    char etag[ETAG_LEN]; /* "" for directories */
    bool resident_known;
    uint64_t resident;
    dev_t dev;
    ino_t ino;
};

struct listing {
    struct listing_entry *entries; /* sorted by name */
    size_t count, cap;
    bool truncated;
};

/* Lists directory `rel` ("" for the root) beneath root_fd into *out (zeroed first). Returns 0,
 * or the HTTP status to answer (403, 404, 414, 500) with *out empty. */
int listing_collect(int root_fd, const char *rel, const struct listing_options *opt,
                    struct listing *out);
void listing_free(struct listing *l);

#endif
