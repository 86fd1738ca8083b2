/* test_fnv.c - FNV-1a against the published test vectors (base/fnv.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/fnv.h"

static uint64_t of(const char *s) { return fnv1a(FNV1A_START, s, strlen(s)); }

static void test_known_answers(void **state)
{
    (void)state;
    /* Fowler, Noll and Vo's FNV-1a 64-bit vectors */
    assert_true(of("") == UINT64_C(0xcbf29ce484222325));
    assert_true(of("a") == UINT64_C(0xaf63dc4c8601ec8c));
    assert_true(of("foobar") == UINT64_C(0x85944171f73967e8));
}

static void test_chains_and_u64(void **state)
{
    (void)state;
    /* in pieces, the same as at once */
    assert_true(fnv1a(fnv1a(FNV1A_START, "foo", 3), "bar", 3) == of("foobar"));
    /* a u64 is its 8 bytes, least significant first */
    const unsigned char le[8] = {0x66, 0x6f, 0x6f, 0x62, 0x61, 0x72, 0, 0};
    assert_true(fnv1a_u64(FNV1A_START, UINT64_C(0x7261626f6f66)) ==
                fnv1a(FNV1A_START, le, sizeof le));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_chains_and_u64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
