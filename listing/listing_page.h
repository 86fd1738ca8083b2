/* listing_page.h - which names make one page of a listing (pure, no I/O).
 *
 * A page is the `limit` smallest keys (names, or relative paths for a recursive listing) that
 * come after a cursor in byte order (strcmp: unsigned bytes), or the smallest `limit` of all
 * keys without a cursor. The directory walk offers every key it reads, in whatever order the
 * file system returns them, to listing_page_offer(), which keeps the best `limit` in a
 * max-heap: one strcmp for a key that cannot be in the page, O(log limit) comparisons and
 * one copy for a key that enters it. Memory is O(limit) keys whatever the number offered,
 * time O(n log limit) for n keys.
 *
 * `more` becomes true when a key after the cursor was left out (or pushed out) for want of
 * room: the listing goes on after this page, and the next page starts after the page's last
 * key. A page that never needed the room is the last one.
 *
 * listing_page_under() tells a recursive walk whether a directory is worth reading: every
 * key below a directory starts with the same prefix ("sub/"), so when the cursor is past all
 * of them, or a full page already holds only keys before all of them, nothing below can
 * enter the page.
 *
 * Keys are NUL-terminated and never contain NUL. The keys of one walk are distinct paths; a
 * key offered twice is kept once, but may have taken the room of another, which then comes
 * on the next page (paging by the last key still visits each key once, in order).
 */
#ifndef MMAPD_LISTING_PAGE_H
#define MMAPD_LISTING_PAGE_H

#include <stdbool.h>
#include <stddef.h>

struct listing_page {
    char **keys;        /* `count` malloc'd keys: a max-heap, ascending after _finish() */
    size_t count, cap;
    size_t limit;       /* at most this many keys are kept; 0 keeps none */
    const char *after;  /* the cursor (not owned), or NULL */
    bool more;          /* a key after the cursor did not fit */
    bool failed;        /* out of memory: the page is incomplete */
};

/* An empty page of at most `limit` keys after `after` (NULL: from the first key). `after`
 * must outlive the page. Allocates nothing yet. */
void listing_page_init(struct listing_page *p, size_t limit, const char *after);

/* Offers `key`, copied when it enters the page. Sets `failed` when out of memory. */
void listing_page_offer(struct listing_page *p, const char *key);

enum listing_under {
    LISTING_UNDER_BEFORE, /* every key with the prefix is at or before the cursor */
    LISTING_UNDER_IN,     /* some key with the prefix may enter the page */
    LISTING_UNDER_BEYOND, /* the page is full and every key with the prefix is past its last */
};

/* Where the keys that start with `prefix` (a directory's key and "/") fall, as things stand:
 * BEFORE stays true; BEYOND stays true as more keys are offered (the page's last key only
 * decreases); IN may become BEYOND. */
enum listing_under listing_page_under(const struct listing_page *p, const char *prefix);

/* Sorts the kept keys ascending in place (p->keys[0 .. p->count)) and drops repeats; no key
 * may be offered afterwards. */
void listing_page_finish(struct listing_page *p);

/* Frees the keys still held (a caller may take a key: it sets its slot to NULL). */
void listing_page_free(struct listing_page *p);

#endif
