/* demo.h - the demo directory mmapd serves when no --root is given.
 *
 * demo_prepare() makes `dir` (and its parents) and, when missing or of the wrong size,
 * writes two files there atomically (temporary file, then rename):
 *   records.bin  DEMO_RECORDS records of DEMO_RECORD_SIZE bytes; record i is the text
 *                "record %08u of %08u offset %012llu " padded with '.' to 63 bytes and '\n',
 *                so any byte range can be checked by eye or by demo_record();
 *   hello.txt    one line of text.
 * Returns true and sets *created when it wrote anything; false with a reason in err.
 */
#ifndef MMAPD_DEMO_H
#define MMAPD_DEMO_H

#include <stdbool.h>
#include <stddef.h>

#define DEMO_RECORD_SIZE 64u
#define DEMO_RECORDS 262144u /* 16 MiB */

bool demo_prepare(const char *dir, bool *created, char *err, size_t errlen);

/* Writes record `i` (DEMO_RECORD_SIZE bytes, not NUL-terminated) into out. */
void demo_record(unsigned i, char out[DEMO_RECORD_SIZE]);

#endif
