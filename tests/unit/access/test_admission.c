/* test_admission.c - access/admission.h: the limits derived from the flags, libmicrohttpd's
 * limits above them, and the decision for each combination of counts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "access/admission.h"

static void limits(void **state)
{
    (void)state;
    struct admission_limits l;
    admission_limits_init(&l, 1024, 0);
    assert_int_equal(l.max_connections, 1024);
    assert_int_equal(l.over_max_connections, 128);
    assert_int_equal(l.per_ip, 0);
    assert_int_equal(l.over_per_ip, 0);
    assert_int_equal(admission_mhd_connection_limit(&l, 2), 1024 + 128 + 2);
    assert_int_equal(admission_mhd_per_ip_limit(&l, 2), 0);
    admission_limits_init(&l, 4, 2);
    assert_int_equal(l.over_max_connections, 16);
    assert_int_equal(l.over_per_ip, 4);
    assert_int_equal(admission_mhd_connection_limit(&l, 1), 4 + 16 + 1);
    assert_int_equal(admission_mhd_per_ip_limit(&l, 3), 2 + 4 + 3);
    admission_limits_init(&l, 1000000, 100);
    assert_int_equal(l.over_max_connections, 125000);
    assert_int_equal(l.over_per_ip, 25);
}

static struct admission_decision decide(const struct admission_limits *l, uint64_t served,
                                        uint64_t excess, uint64_t ip_served, uint64_t ip_excess)
{
    struct admission_counts c = {served, excess, ip_served, ip_excess};
    return admission_decide(l, &c);
}

#define EXPECT(d, v, r)                     \
    do {                                    \
        struct admission_decision d_ = (d); \
        assert_int_equal(d_.verdict, (v));  \
        assert_int_equal(d_.reason, (r));   \
    } while (0)

static void total_only(void **state)
{
    (void)state;
    struct admission_limits l;
    admission_limits_init(&l, 4, 0); /* 4 served, 16 more answered 503 */
    EXPECT(decide(&l, 0, 0, 0, 0), ADMISSION_SERVE, ADMISSION_OK);
    EXPECT(decide(&l, 3, 15, 0, 0), ADMISSION_SERVE, ADMISSION_OK);
    EXPECT(decide(&l, 4, 0, 0, 0), ADMISSION_ANSWER_503, ADMISSION_MAX_CONNECTIONS);
    EXPECT(decide(&l, 4, 15, 0, 0), ADMISSION_ANSWER_503, ADMISSION_MAX_CONNECTIONS);
    EXPECT(decide(&l, 4, 16, 0, 0), ADMISSION_CLOSE, ADMISSION_MAX_CONNECTIONS);
    EXPECT(decide(&l, 9, 99, 0, 0), ADMISSION_CLOSE, ADMISSION_MAX_CONNECTIONS);
    /* no per-address limit: the address counts do not matter */
    EXPECT(decide(&l, 0, 0, 1000, 1000), ADMISSION_SERVE, ADMISSION_OK);
}

static void per_address(void **state)
{
    (void)state;
    struct admission_limits l;
    admission_limits_init(&l, 100, 2); /* 2 served per address, 4 more answered 503 */
    EXPECT(decide(&l, 1, 0, 1, 0), ADMISSION_SERVE, ADMISSION_OK);
    EXPECT(decide(&l, 2, 0, 2, 0), ADMISSION_ANSWER_503, ADMISSION_PER_IP);
    EXPECT(decide(&l, 2, 3, 2, 3), ADMISSION_ANSWER_503, ADMISSION_PER_IP);
    EXPECT(decide(&l, 2, 4, 2, 4), ADMISSION_CLOSE, ADMISSION_PER_IP);
    /* an address with room is served while other addresses are refused */
    EXPECT(decide(&l, 50, 10, 0, 0), ADMISSION_SERVE, ADMISSION_OK);
    /* served ones that closed leave room, even with refused ones still open */
    EXPECT(decide(&l, 1, 4, 1, 4), ADMISSION_SERVE, ADMISSION_OK);
    /* both limits: the address's own is named */
    EXPECT(decide(&l, 100, 0, 2, 0), ADMISSION_ANSWER_503, ADMISSION_PER_IP);
    /* the total is full, the address is not: max_connections, still bounded per address */
    EXPECT(decide(&l, 100, 0, 1, 0), ADMISSION_ANSWER_503, ADMISSION_MAX_CONNECTIONS);
    EXPECT(decide(&l, 100, 5, 1, 4), ADMISSION_CLOSE, ADMISSION_MAX_CONNECTIONS);
    /* the 503 room in all is shared by every address */
    EXPECT(decide(&l, 100, 16, 0, 0), ADMISSION_CLOSE, ADMISSION_MAX_CONNECTIONS);
    EXPECT(decide(&l, 10, 16, 2, 0), ADMISSION_CLOSE, ADMISSION_PER_IP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limits),
        cmocka_unit_test(total_only),
        cmocka_unit_test(per_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
