/* strbuf.h - a growable text buffer for building responses.
 *
 * strbuf_printf() and strbuf_append() grow the buffer as needed; after an allocation failure
 * the buffer stays in a failed state (`failed` true) and ignores further writes, so callers
 * check once at the end. strbuf_take() hands the NUL-terminated text to the caller (free()).
 */
#ifndef MMAPD_STRBUF_H
#define MMAPD_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *data;
    size_t len, cap;
    bool failed;
};

void strbuf_append(struct strbuf *b, const char *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Returns the text (caller frees) and resets b; NULL if any write failed. */
char *strbuf_take(struct strbuf *b, size_t *len);
void strbuf_free(struct strbuf *b);

#endif
