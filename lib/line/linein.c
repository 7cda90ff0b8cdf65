#include "line/linein.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int linein_init_cap(struct linein *in, size_t max, size_t cap)
{
	memset(in, 0, sizeof *in);
	in->max = max;
	in->cap = cap;
	in->first_cap = cap;
	in->buf = malloc(in->cap);
	return in->buf ? 0 : -1;
}

int linein_init(struct linein *in, size_t max) { return linein_init_cap(in, max, 65536); }

void linein_free(struct linein *in)
{
	free(in->buf);
	in->buf = NULL;
}

static void split_lines(struct linein *in, line_fn *fn, void *arg)
{
	size_t start = 0;
	for (;;) {
		char *nl = memchr(in->buf + start, '\n', in->len - start);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (in->buf + start));
		in->lineno++;
		if (in->skipping)
			in->skipping = false; /* already reported */
		else if (n > in->max)
			fn(NULL, 0, in->lineno, arg);
		else
			fn(in->buf + start, n, in->lineno, arg);
		start += n + 1;
	}
	memmove(in->buf, in->buf + start, in->len - start);
	in->len -= start;
	if (in->len > in->max) {
		/* Said now, while it is read: the newline may be far away. */
		if (!in->skipping)
			fn(NULL, 0, in->lineno + 1, arg);
		in->skipping = true;
		in->len = 0;
	}
}

int linein_read(struct linein *in, int fd, line_fn *fn, void *arg)
{
	if ((in->cap - in->len < 4096 && in->cap < in->max + 65536) || (in->filled && in->cap < 65536)) {
		size_t cap = in->cap * 2;
		char *p = realloc(in->buf, cap);
		if (p) {
			in->buf = p;
			in->cap = cap;
		}
	}
	size_t room = in->cap - in->len;
	ssize_t n = read(fd, in->buf + in->len, room);
	in->filled = n > 0 && (size_t)n == room;
	int rc = 0;
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		rc = -1;
		n = 0;
	}
	if (n == 0) {
		int saved = errno;
		in->eof = true;
		if (in->len > 0 && !in->skipping) {
			in->lineno++;
			fn(in->buf, in->len, in->lineno, arg); /* the last line had no newline */
		}
		in->len = 0;
		errno = saved;
		return rc;
	}
	in->len += (size_t)n;
	split_lines(in, fn, arg);
	/* A burst read whole: the room it needed goes back. */
	if (!in->filled && in->len == 0 && in->cap > in->first_cap) {
		char *p = realloc(in->buf, in->first_cap);
		if (p) {
			in->buf = p;
			in->cap = in->first_cap;
		}
	}
	return 0;
}
