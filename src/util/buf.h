/* buf: a growable byte buffer with a hard size cap, always NUL-terminated.
 * The buffer owns its memory; buf_free releases it (the struct itself is the
 * caller's). Appending past the cap fails and sets `over`, leaving the content
 * as it was, so a caller checks once at the end. Not thread-safe. */
#ifndef LIPA_BUF_H
#define LIPA_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t len, cap, max; /* max 0 means 1 MiB */
    bool over;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
bool buf_append(struct buf *b, const void *p, size_t n);
bool buf_puts(struct buf *b, const char *s);
bool buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the data to the caller (free()); the buffer is left empty. */
char *buf_steal(struct buf *b);

#endif
