/* test_live_settings.c - settings snapshots (access/live_settings.h): a connection's cached
 * reference follows the published generation, a request's snapshot stays valid after a
 * publish, the last reference frees it (ASan finds a leak or a use after free), and a bad
 * token file builds nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "access/live_settings.h"

static char *token_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/mmapd-test-live-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static struct live_settings *make(const char *tokens)
{
    struct cors_policy cors = {0};
    char err[256] = "";
    char *path = tokens ? token_file(tokens) : NULL;
    struct live_settings *s = live_settings_create(path, false, &cors, err, sizeof err);
    if (path)
        unlink(path);
    assert_non_null(s);
    return s;
}

static void cached_reference_follows_publish(void **state)
{
    (void)state;
    struct live_settings_box *box = live_settings_box_create(make("one\n"));
    assert_non_null(box);
    struct live_settings *conn = NULL; /* a connection slot's cache */
    const struct live_settings *req1 = live_settings_refresh(box, &conn);
    assert_int_equal(req1->generation, 1);
    assert_int_equal(token_set_check(req1->tokens, "Bearer one"), AUTH_OK);
    assert_ptr_equal(live_settings_refresh(box, &conn), req1); /* no change: same snapshot */

    struct live_settings *held = live_settings_acquire(box); /* a request without a slot */
    live_settings_publish(box, make("two\n"));
    /* the old snapshot lives on while referenced */
    assert_int_equal(token_set_check(held->tokens, "Bearer one"), AUTH_OK);
    assert_int_equal(atomic_load(&held->refs), 2); /* the connection's and the request's */
    const struct live_settings *req2 = live_settings_refresh(box, &conn);
    assert_int_equal(req2->generation, 2);
    assert_int_equal(token_set_check(req2->tokens, "Bearer one"), AUTH_INVALID);
    assert_int_equal(token_set_check(req2->tokens, "Bearer two"), AUTH_OK);
    assert_int_equal(atomic_load(&held->refs), 1);
    live_settings_release(held); /* freed here */

    live_settings_publish(box, make(NULL));
    assert_int_equal(live_settings_refresh(box, &conn)->generation, 3);
    assert_null(conn->tokens);
    live_settings_release(conn);
    live_settings_box_destroy(box);
}

static void bad_token_file_builds_nothing(void **state)
{
    (void)state;
    struct cors_policy cors = {0};
    char err[256] = "";
    char *path = token_file("bad token\n");
    assert_null(live_settings_create(path, true, &cors, err, sizeof err));
    unlink(path);
    assert_non_null(strstr(err, "line 1 is not a token"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cached_reference_follows_publish),
        cmocka_unit_test(bad_token_file_builds_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
