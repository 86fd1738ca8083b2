/* test_listing_page.c - the page selection of listings (listing/listing_page.h): the kept
 * keys against a sort of everything, `more`, paging by the last key, listing_page_under(),
 * and the memory bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listing/listing_page.h"

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A random key over bytes that order differently signed and unsigned, and around '/'. */
static void random_key(char *out, size_t room)
{
    static const char alphabet[] = " -./0Aaz\x7f\x80\xc3\xff";
    size_t n = 1 + (size_t)rand() % (room - 1);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[(size_t)rand() % (sizeof alphabet - 1)];
    out[n] = '\0';
}

/* Offers keys[0..n) (distinct) in their order; checks the page against the sorted keys after
 * `after`, first `limit` of them, and `more` against whether any was left. */
static void expect_page(char **keys, size_t n, size_t limit, const char *after)
{
    struct listing_page p;
    listing_page_init(&p, limit, after);
    for (size_t i = 0; i < n; i++)
        listing_page_offer(&p, keys[i]);
    assert_false(p.failed);
    assert_true(p.count <= limit);
    assert_true(p.cap <= limit); /* never more room than the page */
    listing_page_finish(&p);

    char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    assert_non_null(sorted);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!after || strcmp(keys[i], after) > 0)
            sorted[m++] = keys[i];
    qsort(sorted, m, sizeof *sorted, by_bytes);
    size_t want = m < limit ? m : limit;
    assert_int_equal(p.count, want);
    for (size_t i = 0; i < want; i++)
        assert_string_equal(p.keys[i], sorted[i]);
    assert_int_equal(p.more, m > limit);
    free(sorted);
    listing_page_free(&p);
}

static void test_against_sort(void **state)
{
    (void)state;
    srand(7);
    enum { N = 300 };
    char buf[N][8];
    char *keys[N];
    for (int round = 0; round < 3000; round++) {
        size_t want = (size_t)rand() % N, n = 0;
        for (size_t tries = 0; tries < want; tries++) { /* distinct keys */
            random_key(buf[n], sizeof buf[n]);
            bool repeat = false;
            for (size_t i = 0; i < n && !repeat; i++)
                repeat = strcmp(keys[i], buf[n]) == 0;
            if (!repeat) {
                keys[n] = buf[n];
                n++;
            }
        }
        size_t limit = 1 + (size_t)rand() % 40;
        char cursor[8];
        const char *after = NULL;
        int pick = rand() % 3;
        if (pick == 1 && n > 0) {
            after = keys[(size_t)rand() % n]; /* an existing key */
        } else if (pick == 2) {
            random_key(cursor, sizeof cursor); /* most likely none */
            after = cursor;
        }
        expect_page(keys, n, limit, after);
    }
}

/* Reverse order (tmpfs returns a directory's newest entries first) and sorted order. */
static void test_worst_orders(void **state)
{
    (void)state;
    enum { N = 5000 };
    static char buf[N][8];
    char *keys[N];
    for (size_t i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "f%05zu", N - 1 - i);
        keys[i] = buf[i];
    }
    expect_page(keys, N, 100, NULL);
    expect_page(keys, N, 100, "f02500");
    for (size_t i = 0; i < N / 2; i++) {
        char *t = keys[i];
        keys[i] = keys[N - 1 - i];
        keys[N - 1 - i] = t;
    }
    expect_page(keys, N, 100, NULL);
    expect_page(keys, N, 100, "f04950");
    expect_page(keys, N, N, NULL);
}

/* Paging by the last key of each page visits every key once, in order, and stops. */
static void test_paging_visits_each_key_once(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char buf[N][12];
    char *keys[N];
    srand(11);
    for (size_t i = 0; i < N; i++) {
        snprintf(buf[i], sizeof buf[i], "%08x", (unsigned)rand());
        keys[i] = buf[i];
    }
    char *sorted[N];
    memcpy(sorted, keys, sizeof sorted);
    qsort(sorted, N, sizeof *sorted, by_bytes);
    size_t distinct = 0; /* rand() may repeat a value: a repeat may shorten a page */
    for (size_t i = 0; i < N; i++)
        distinct += i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0;
    for (size_t limit = 1; limit <= 2100; limit = limit * 3 + 4) {
        char last[12] = "";
        const char *after = NULL;
        size_t seen = 0, pages = 0;
        for (;;) {
            struct listing_page p;
            listing_page_init(&p, limit, after);
            for (size_t i = 0; i < N; i++)
                listing_page_offer(&p, keys[i]);
            listing_page_finish(&p);
            pages++;
            for (size_t i = 0; i < p.count; i++) {
                assert_true(strcmp(p.keys[i], last) > 0); /* ascending across pages */
                strcpy(last, p.keys[i]);
            }
            seen += p.count;
            bool more = p.more;
            listing_page_free(&p);
            if (!more)
                break;
            after = last;
        }
        assert_int_equal(seen, distinct);
        if (distinct == N) /* no repeats: full pages, and no empty last page */
            assert_int_equal(pages, (N + limit - 1) / limit);
    }
}

/* A key offered twice (a walk offers distinct paths) is kept once; it may take the room of
 * another key, which the next page then holds. */
static void test_repeats_kept_once(void **state)
{
    (void)state;
    struct listing_page p;
    listing_page_init(&p, 2, NULL);
    listing_page_offer(&p, "a");
    listing_page_offer(&p, "a");
    listing_page_offer(&p, "b");
    listing_page_finish(&p);
    assert_int_equal(p.count, 1);
    assert_string_equal(p.keys[0], "a");
    assert_true(p.more);
    listing_page_free(&p);

    listing_page_init(&p, 10, NULL);
    const char *offers[] = {"b", "a", "b", "c", "a"};
    for (size_t i = 0; i < sizeof offers / sizeof offers[0]; i++)
        listing_page_offer(&p, offers[i]);
    listing_page_finish(&p);
    assert_int_equal(p.count, 3);
    assert_string_equal(p.keys[0], "a");
    assert_string_equal(p.keys[1], "b");
    assert_string_equal(p.keys[2], "c");
    assert_false(p.more);
    listing_page_free(&p);
}

static void test_zero_limit(void **state)
{
    (void)state;
    struct listing_page p;
    listing_page_init(&p, 0, "b");
    listing_page_offer(&p, "a");
    assert_false(p.more); /* before the cursor: not this listing's business */
    listing_page_offer(&p, "c");
    assert_true(p.more);
    assert_int_equal(p.count, 0);
    assert_int_equal(listing_page_under(&p, "z/"), LISTING_UNDER_BEYOND);
    listing_page_finish(&p);
    listing_page_free(&p);
}

/* The cursor itself is never in the page. */
static void test_cursor_excluded(void **state)
{
    (void)state;
    struct listing_page p;
    listing_page_init(&p, 5, "m");
    listing_page_offer(&p, "m");
    listing_page_offer(&p, "l");
    listing_page_offer(&p, "m\x01");
    listing_page_finish(&p);
    assert_int_equal(p.count, 1);
    assert_string_equal(p.keys[0], "m\x01");
    listing_page_free(&p);
}

static void test_under(void **state)
{
    (void)state;
    struct listing_page p;
    /* against the cursor */
    listing_page_init(&p, 3, "d/m");
    assert_int_equal(listing_page_under(&p, "c/"), LISTING_UNDER_BEFORE);
    assert_int_equal(listing_page_under(&p, "d.x/"), LISTING_UNDER_BEFORE); /* '.' < '/' */
    assert_int_equal(listing_page_under(&p, "d/"), LISTING_UNDER_IN);     /* d/n > d/m */
    assert_int_equal(listing_page_under(&p, "d/m/"), LISTING_UNDER_IN);   /* d/m/x > d/m */
    assert_int_equal(listing_page_under(&p, "d/a/"), LISTING_UNDER_BEFORE);
    assert_int_equal(listing_page_under(&p, "d0/"), LISTING_UNDER_IN);
    assert_int_equal(listing_page_under(&p, "\xff/"), LISTING_UNDER_IN);
    /* against a full page, whose last key is "e" */
    listing_page_offer(&p, "e");
    listing_page_offer(&p, "d/z");
    assert_int_equal(listing_page_under(&p, "zz/"), LISTING_UNDER_IN); /* not full yet */
    listing_page_offer(&p, "d/n");
    assert_int_equal(listing_page_under(&p, "e/"), LISTING_UNDER_BEYOND);
    assert_int_equal(listing_page_under(&p, "f/"), LISTING_UNDER_BEYOND);
    assert_int_equal(listing_page_under(&p, "d/y/"), LISTING_UNDER_IN); /* d/y/a < e */
    assert_int_equal(listing_page_under(&p, "e.d/"), LISTING_UNDER_BEYOND);
    assert_int_equal(listing_page_under(&p, "c/"), LISTING_UNDER_BEFORE);
    assert_false(p.more);
    listing_page_offer(&p, "d/y/a"); /* pushes "e" out */
    assert_true(p.more);
    assert_int_equal(listing_page_under(&p, "d/z/"), LISTING_UNDER_BEYOND);
    assert_int_equal(listing_page_under(&p, "d/y/"), LISTING_UNDER_IN);
    listing_page_free(&p);
    /* no cursor: nothing is before */
    listing_page_init(&p, 1, NULL);
    assert_int_equal(listing_page_under(&p, "/"), LISTING_UNDER_IN);
    assert_int_equal(listing_page_under(&p, " /"), LISTING_UNDER_IN);
    listing_page_free(&p);
}

/* 100000 keys through a page of 10: 10 kept, room for 10, in any order. */
static void test_memory_bound(void **state)
{
    (void)state;
    struct listing_page p;
    listing_page_init(&p, 10, "k050000");
    char key[16];
    for (unsigned i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "k%06u", (i * 7919u) % 100000u);
        listing_page_offer(&p, key);
        assert_true(p.count <= 10 && p.cap <= 10);
    }
    listing_page_finish(&p);
    assert_int_equal(p.count, 10);
    assert_string_equal(p.keys[0], "k050001");
    assert_string_equal(p.keys[9], "k050010");
    assert_true(p.more);
    listing_page_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_sort),
        cmocka_unit_test(test_worst_orders),
        cmocka_unit_test(test_paging_visits_each_key_once),
        cmocka_unit_test(test_repeats_kept_once),
        cmocka_unit_test(test_zero_limit),
        cmocka_unit_test(test_cursor_excluded),
        cmocka_unit_test(test_under),
        cmocka_unit_test(test_memory_bound),
    };
    return cmocka_run_group_tests_name("listing_page", tests, NULL, NULL);
}
