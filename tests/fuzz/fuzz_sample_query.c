/* fuzz_sample_query.c - libFuzzer target: the /sample query parser and the sampler behind it.
 * Input: 8 bytes of file size, then the raw query. Checks the contract of sample_query.h and
 * sampler.h: an accepted query respects the limits, an error names a parameter and a reason,
 * and every offset the sampler yields is aligned and lies wholly inside the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/sample_query.h"
#include "sampling/sampler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

#define MAX_RECORDS 64
#define MAX_BYTES (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 8)
        return 0;
    uint64_t file_size;
    memcpy(&file_size, data, 8);
    file_size %= (1ull << 44);
    char *query = malloc(len - 8 + 1);
    memcpy(query, data + 8, len - 8);
    query[len - 8] = '\0';

    struct sample_query q;
    struct query_error err = {{0}, NULL};
    if (!sample_query_parse(query, MAX_RECORDS, MAX_BYTES, &q, &err)) {
        if (!err.reason)
            abort(); /* an error always says why */
        free(query);
        return 0;
    }
    if (q.n < 1 || q.n > MAX_RECORDS || q.size < 1 || q.size > MAX_BYTES ||
        q.n * q.size > MAX_BYTES || q.align < 1 || q.world < 1 || q.rank >= q.world)
        abort();
    struct sample_spec spec;
    sample_query_spec(&q, file_size, 12345, &spec);
    struct sampler s;
    if (sampler_init(&s, &spec, &err) != SAMPLE_OK) {
        if (!err.reason)
            abort();
        free(query);
        return 0;
    }
    uint64_t off[MAX_RECORDS];
    size_t n = sampler_offsets(&s, off, MAX_RECORDS);
    if (n != s.count || n > q.n)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (off[i] % q.align != 0 || off[i] > file_size || file_size - off[i] < q.size)
            abort();
        for (size_t j = 0; !q.replace && j < i; j++)
            if (off[j] == off[i])
                abort(); /* without replacement, never the same record twice */
    }
    free(query);
    return 0;
}
