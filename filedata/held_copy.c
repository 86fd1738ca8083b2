/* held_copy.c - guarded copies out of a mapping, and the size check after them. */
#include "filedata/held_copy.h"

#include "filedata/sigbus_guard.h"

bool held_copy(struct held_copy *c, void *dst, uint64_t off, size_t len)
{
    if (!sigbus_guard_copy(dst, c->base + off, len)) {
        if (c->metrics)
            metrics_read_error(c->metrics, MRE_SIGBUS);
        return false;
    }
    if (off + len > c->end)
        c->end = off + len;
    return true;
}

bool held_copy_done(struct held_copy *c)
{
    bool ok = !c->end || !c->map || held_copy_holds(c->map, c->end, c->metrics);
    c->end = 0;
    return ok;
}

bool held_copy_holds(const struct mapped_file *m, uint64_t end, struct metrics *metrics)
{
    if (!end || mapped_file_holds(m, end))
        return true;
    if (metrics)
        metrics_read_error(metrics, MRE_SHORT);
    return false;
}
