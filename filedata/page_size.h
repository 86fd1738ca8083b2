/* page_size.h - the size of a memory page, for rounding spans of a mapping to whole pages.
 *
 * page_size() never fails: sysconf()'s answer, or 4096 when it has none.
 */
#ifndef MMAPD_PAGE_SIZE_H
#define MMAPD_PAGE_SIZE_H

#include <stdint.h>
#include <unistd.h>

static inline uint64_t page_size(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? (uint64_t)ps : 4096;
}

#endif
