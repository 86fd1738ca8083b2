/* listing_page.c - the smallest `limit` keys after a cursor, in a bounded max-heap. */
#include "listing/listing_page.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_CAP 64

void listing_page_init(struct listing_page *p, size_t limit, const char *after)
{
    *p = (struct listing_page){.limit = limit, .after = after};
}

static void swap(char **a, char **b)
{
    char *t = *a;
    *a = *b;
    *b = t;
}

static void sift_up(char **heap, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (strcmp(heap[parent], heap[i]) >= 0)
            return;
        swap(&heap[parent], &heap[i]);
        i = parent;
    }
}

static void sift_down(char **heap, size_t n, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, top = i;
        if (left < n && strcmp(heap[left], heap[top]) > 0)
            top = left;
        if (right < n && strcmp(heap[right], heap[top]) > 0)
            top = right;
        if (top == i)
            return;
        swap(&heap[i], &heap[top]);
        i = top;
    }
}

/* Room for one more key below the limit; false when out of memory. */
static bool reserve(struct listing_page *p)
{
    if (p->count < p->cap)
        return true;
    size_t cap = p->cap ? p->cap * 2 : FIRST_CAP;
    if (cap > p->limit)
        cap = p->limit;
    char **keys = realloc(p->keys, cap * sizeof *keys);
    if (!keys)
        return false;
    p->keys = keys;
    p->cap = cap;
    return true;
}

void listing_page_offer(struct listing_page *p, const char *key)
{
    if (p->failed || (p->after && strcmp(key, p->after) <= 0))
        return;
    bool full = p->count == p->limit;
    if (full) {
        p->more = true;
        /* the page's last key stays when the new one comes after it (or is it) */
        if (p->count == 0 || strcmp(key, p->keys[0]) >= 0)
            return;
    } else if (!reserve(p)) {
        p->failed = true;
        return;
    }
    char *copy = strdup(key);
    if (!copy) {
        p->failed = true;
        return;
    }
    if (full) {
        free(p->keys[0]);
        p->keys[0] = copy;
        sift_down(p->keys, p->count, 0);
    } else {
        p->keys[p->count] = copy;
        sift_up(p->keys, p->count++);
    }
}

enum listing_under listing_page_under(const struct listing_page *p, const char *prefix)
{
    /* a prefix before the cursor that does not start it: all its keys are before it too */
    if (p->after && strcmp(prefix, p->after) < 0 &&
        strncmp(prefix, p->after, strlen(prefix)) != 0)
        return LISTING_UNDER_BEFORE;
    /* every key with the prefix comes at or after the prefix */
    if (p->count == p->limit && (p->count == 0 || strcmp(prefix, p->keys[0]) >= 0))
        return LISTING_UNDER_BEYOND;
    return LISTING_UNDER_IN;
}

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void listing_page_finish(struct listing_page *p)
{
    if (p->count < 2)
        return;
    qsort(p->keys, p->count, sizeof *p->keys, by_bytes);
    size_t kept = 1;
    for (size_t i = 1; i < p->count; i++) {
        if (strcmp(p->keys[i], p->keys[kept - 1]) == 0)
            free(p->keys[i]);
        else
            p->keys[kept++] = p->keys[i];
    }
    p->count = kept;
}

void listing_page_free(struct listing_page *p)
{
    for (size_t i = 0; i < p->count; i++)
        free(p->keys[i]);
    free(p->keys);
    *p = (struct listing_page){0};
}
