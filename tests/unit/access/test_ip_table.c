/* test_ip_table.c - access/ip_table.h: address keys, counts per address, a full table, and
 * entries dropped and reused in any order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "access/ip_table.h"

static struct ip_key v4(const char *text)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(80)};
    assert_int_equal(inet_pton(AF_INET, text, &in.sin_addr), 1);
    struct ip_key k;
    assert_true(ip_key_from_sockaddr((struct sockaddr *)&in, sizeof in, &k));
    return k;
}

static struct ip_key v6(const char *text)
{
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
    assert_int_equal(inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
    struct ip_key k;
    assert_true(ip_key_from_sockaddr((struct sockaddr *)&in6, sizeof in6, &k));
    return k;
}

static void keys(void **state)
{
    (void)state;
    struct ip_key a = v4("127.0.0.1"), b = v4("127.0.0.2");
    assert_int_equal(a.len, 4);
    assert_memory_equal(a.bytes, "\x7f\x00\x00\x01", 4);
    assert_memory_not_equal(a.bytes, b.bytes, 4);
    /* the port is not part of the key */
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    struct ip_key c;
    assert_true(ip_key_from_sockaddr((struct sockaddr *)&in, sizeof in, &c));
    assert_memory_equal(&a, &c, sizeof a);
    /* IPv4-mapped IPv6 is the IPv4 client */
    struct ip_key m = v6("::ffff:127.0.0.1");
    assert_memory_equal(&a, &m, sizeof a);
    struct ip_key six = v6("2001:db8::1");
    assert_int_equal(six.len, 16);
    /* other families, short lengths and NULL have no key */
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_false(ip_key_from_sockaddr((struct sockaddr *)&un, sizeof un, &c));
    assert_false(ip_key_from_sockaddr((struct sockaddr *)&in, sizeof in - 1, &c));
    assert_false(ip_key_from_sockaddr(NULL, 0, &c));
}

static void counts_per_address(void **state)
{
    (void)state;
    struct ip_table *t = ip_table_create(8);
    assert_non_null(t);
    struct ip_key a = v4("10.0.0.1"), b = v6("2001:db8::1");
    assert_null(ip_table_find(t, &a));
    struct ip_counts *ca = ip_table_get(t, &a);
    assert_non_null(ca);
    assert_int_equal(ca->served, 0);
    assert_int_equal(ca->excess, 0);
    ca->served = 2;
    ca->excess = 1;
    assert_ptr_equal(ip_table_get(t, &a), ca);
    assert_ptr_equal(ip_table_find(t, &a), ca);
    struct ip_counts *cb = ip_table_get(t, &b);
    assert_non_null(cb);
    assert_ptr_not_equal(ca, cb);
    assert_int_equal(ip_table_size(t), 2);
    /* an entry with a count left stays */
    ip_table_drop_if_idle(t, &a);
    assert_ptr_equal(ip_table_find(t, &a), ca);
    ca->served = 0;
    ip_table_drop_if_idle(t, &a);
    assert_ptr_equal(ip_table_find(t, &a), ca);
    ca->excess = 0;
    ip_table_drop_if_idle(t, &a);
    assert_null(ip_table_find(t, &a));
    assert_int_equal(ip_table_size(t), 1);
    ip_table_drop_if_idle(t, &a); /* absent: nothing happens */
    assert_int_equal(ip_table_size(t), 1);
    assert_ptr_equal(ip_table_find(t, &b), cb);
    ip_table_destroy(t);
}

/* Fill to capacity, refuse one more, drop in a scattered order, fill again. */
static void full_and_reused(void **state)
{
    (void)state;
    enum { CAP = 300 };
    struct ip_table *t = ip_table_create(CAP);
    assert_non_null(t);
    struct ip_key k[CAP + 1];
    for (unsigned i = 0; i <= CAP; i++) {
        char text[32];
        snprintf(text, sizeof text, "10.%u.%u.1", i / 256, i % 256);
        k[i] = v4(text);
    }
    for (unsigned i = 0; i < CAP; i++) {
        struct ip_counts *c = ip_table_get(t, &k[i]);
        assert_non_null(c);
        c->served = i + 1;
    }
    assert_int_equal(ip_table_size(t), CAP);
    assert_null(ip_table_get(t, &k[CAP]));
    for (unsigned i = 0; i < CAP; i++)
        assert_int_equal(ip_table_find(t, &k[i])->served, i + 1);
    for (unsigned step = 0; step < 7; step++) /* every 7th from 0, then from 1, ... */
        for (unsigned i = step; i < CAP; i += 7) {
            ip_table_find(t, &k[i])->served = 0;
            ip_table_drop_if_idle(t, &k[i]);
            assert_null(ip_table_find(t, &k[i]));
            for (unsigned j = i + 7; j < CAP; j += 7) /* the others are still there */
                assert_int_equal(ip_table_find(t, &k[j])->served, j + 1);
        }
    assert_int_equal(ip_table_size(t), 0);
    for (unsigned i = 1; i <= CAP; i++)
        assert_non_null(ip_table_get(t, &k[i]));
    assert_int_equal(ip_table_size(t), CAP);
    assert_null(ip_table_get(t, &k[0]));
    ip_table_destroy(t);
}

static void bad_capacity(void **state)
{
    (void)state;
    assert_null(ip_table_create(0));
    ip_table_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys),
        cmocka_unit_test(counts_per_address),
        cmocka_unit_test(full_and_reused),
        cmocka_unit_test(bad_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
