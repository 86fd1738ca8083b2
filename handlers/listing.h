/* listing.h - directory listings of /files (issue 4): JSON for programs, HTML for browsers.
 *
 * listing_handle() answers GET or HEAD for a directory beneath the root. The router calls it
 * for "/files" and for "/files/DIR/" (a path that ends in '/'), with `rel` the path after
 * "/files/" decoded and checked by url_path_decode() (which refuses "." and ".." segments and,
 * unless allow_dotfiles, dotfiles) and without the trailing slash: "" for the root, "sub" or
 * "sub/deeper" otherwise (trailing slashes are tolerated and dropped). It sets
 * req->rec.handler to MH_LIST and queues exactly one response:
 *
 * - 400 for a bad query (listing_query.h: recursive, limit, after), with a JSON body that
 *   names the parameter: {"error": "bad query parameter", "parameter": "limit", "reason":
 *   "must be > 0", "status": 400};
 * - 404 when the directory is missing (or is not a directory), 403 when opening it is refused
 *   (permissions, a symlink leaving the root), 414 when the path is too long;
 * - 200 otherwise, "Cache-Control: no-cache" and "Vary: Accept". HTML ("text/html;
 *   charset=utf-8") when the Accept header prefers text/html (listing_text_wants_html()), else
 *   JSON ("application/json"):
 *
 *     {"path": "/files/sub/", "truncated": false, "limit": 1000,
 *      "next": "/files/sub/?limit=1000&after=f01000", "entries": [{"name": "a b.txt",
 *      "type": "file", "size": 12, "mtime": "2026-11-24T05:58:33Z", "mtime_unix": 1795499913,
 *      "etag": "\"a96009-c-18eae5a884691a6b\"", "resident_bytes": 4096,
 *      "href": "/files/sub/a%20b.txt"}, ...]}
 *
 *   and, when there is a next page, "Link: <NEXT>; rel=\"next\"" with the same URL as "next".
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
 * each byte that does not start a well-formed sequence with U+FFFD
 * (listing_text_put_utf8()). Such a name is lossy, but "href" percent-encodes the raw bytes,
 * so it always fetches the right file. The HTML page does the same: U+FFFD in the text, raw
 * bytes in the link.
 *
 * Pages: a listing is cut into pages of at most `limit` entries (listing_query.h: default
 * 1000, at most 10000), in byte order (strcmp) of the entry's name, or, with "?recursive=1",
 * of its path relative to the listed directory ("a/b.txt"). A page holds the first `limit`
 * entries that come after the cursor `after` (all of them from the start without one). When
 * the listing goes on, "next" (and the Link header, and a "next page" link in HTML) is the
 * URL of the next page: the same directory, recursive=1 when given, limit, and after= the
 * page's last key, percent-encoded; it is absent on the last page. A client follows "next"
 * until there is none. Entries created or removed meanwhile appear or not according to
 * where they fall against the cursor; the others appear exactly once, in order. The cursor
 * need not exist (a deleted entry's name works).
 *
 * How a page is made (listing_page.h): one pass over the directory (recursive: the tree)
 * keeps the `limit` smallest names after the cursor in a bounded heap, using only what
 * readdir() says (dotfiles, and FIFOs, sockets and devices by their d_type, are left out
 * there); then only those are opened, checked and measured (openat2, fstat, cachestat), in
 * order. So memory is O(limit) entries and the system calls per entry (the cachestat of
 * resident_bytes included) are paid for at most `limit` entries, whatever the directory's
 * size; readdir() still reads the whole directory once per page. An entry dropped by those
 * checks (a symlink leaving the root, a broken one, one that became a FIFO or vanished)
 * still moves the cursor, so a page may hold fewer than `limit` entries, even none, and
 * still have a "next".
 *
 * Recursion: subdirectories are entered depth first as they are read, never a directory
 * that is its own ancestor (a symlink loop), and never one whose whole contents fall before
 * the cursor or past the page's last entry once the page is full (listing_page_under()), so
 * a page of a large tree reads little more than the directories its range covers. A listing
 * descends at most max_depth levels below the listed directory (a directory at the bound is
 * listed but not entered), and one page reads at most max_scan directory entries (dotfiles
 * and unservable entries included); reaching either bound sets "truncated": true on that
 * page, and which entries a truncated listing then misses is unspecified.
 *
 * The HTML page (like nginx's autoindex) is a table of name, size, mtime, resident bytes and
 * the resident percentage, with a "../" link except at the root, and a "next page" link
 * (rel="next") under it when there is one. Links are absolute paths ("/files/sub/a%20b.txt"),
 * so they work both for "/files" and "/files/" and `wget -r -np` can follow them; directory
 * links end in '/'.
 */
#ifndef MMAPD_LISTING_H
#define MMAPD_LISTING_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "handlers/request.h"
#include "listing/listing_walk.h"

enum MHD_Result listing_handle(struct request *req, const char *rel);

/* listing_handle() for a raw URL path (after "/files/", still percent-encoded, "" or ending
 * in '/'): decodes it with url_path_decode() and answers 400/403/414 for a bad path. */
enum MHD_Result listing_handle_url(struct request *req, const char *raw);

#endif
