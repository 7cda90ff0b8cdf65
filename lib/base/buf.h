/* buf.h: a growable byte buffer for text built piece by piece (InfluxDB
 * line protocol, Prometheus exposition, HTML).  An allocation failure
 * sets oom and makes every later append a no-op, so a builder checks once
 * at the end instead of after every piece. */
#ifndef M2M_BUF_H
#define M2M_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *p;      /* NUL-terminated while not oom */
	size_t len, cap;
	bool oom;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
void buf_add(struct buf *b, const char *s, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
