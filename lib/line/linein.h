/* linein.h: LF-delimited input with a limit on the line length.
 *
 * linein_read reads what one read(2) gives and calls fn for every line
 * completed, without its newline.  A line longer than max is never
 * buffered whole: it is skipped up to its newline and fn gets it as
 * line == NULL (its number in lineno), so that the caller can name it.
 * At end of input a last line without a newline still counts. */
#ifndef M2M_LINEIN_H
#define M2M_LINEIN_H

#include <stdbool.h>
#include <stddef.h>

struct linein {
	char *buf;
	size_t len, cap, max;
	size_t first_cap;  /* what it shrinks back to once a read leaves nothing behind */
	bool skipping; /* inside a line longer than max */
	bool eof;
	bool filled;   /* the last read filled the buffer: more was waiting */
	unsigned long lineno; /* lines seen so far */
};

/* line is NULL (and len 0) for a line longer than max. */
typedef void line_fn(const char *line, size_t len, unsigned long lineno, void *arg);

/* Returns 0, or -1 when memory ran out.  Reads take up to 64 KiB. */
int linein_init(struct linein *in, size_t max);
/* The same, reads starting at cap bytes (the buffer grows as lines
 * need, and after a read that filled it up to 64 KiB, back to cap once
 * it is empty): for many inputs that each bring a line now and then, one
 * of which may bring many readers' lines at once (p1read --meters) and is
 * then read in a few calls, not one a line. */
int linein_init_cap(struct linein *in, size_t max, size_t cap);
void linein_free(struct linein *in);
/* One read from fd.  Returns 0 (eof set at end of input, and on a read
 * error, which errno then names), or -1 with errno for a read error. */
int linein_read(struct linein *in, int fd, line_fn *fn, void *arg);

#endif
