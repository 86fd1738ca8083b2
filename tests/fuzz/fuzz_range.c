/* fuzz_range.c - libFuzzer target: the Range parser and range-set normalisation.
 * Input: 8 bytes of representation size, 1 byte of max ranges, then the header value.
 * Checks the contract of http/range.h on every input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 9)
        return 0;
    uint64_t size;
    memcpy(&size, data, 8);
    size %= (1ull << 40); /* keep some inputs small enough to be satisfiable */
    size_t max = (size_t)data[8] % 80 + 1;
    char *header = malloc(len - 9 + 1);
    memcpy(header, data + 9, len - 9);
    header[len - 9] = '\0';

    struct byte_range r[RANGE_SLOTS(80)];
    size_t n = 0;
    enum range_outcome out = range_parse(header, size, max, r, &n);
    if (out == RANGE_OK) {
        if (n == 0 || n > max || size == 0)
            abort();
        for (size_t i = 0; i < n; i++)
            if (r[i].first > r[i].last || r[i].last >= size)
                abort();
        for (size_t i = 1; i < n; i++) /* sorted, disjoint, not adjacent: merged */
            if (r[i].first <= r[i - 1].last + 1)
                abort();
        if (range_coalesce(r, n) != n)
            abort();
    } else if (n != 0) {
        abort();
    }
    free(header);
    return 0;
}
