/* frame.c: see frame.h. */
#include "line/frame.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/files.h"
#include "base/util.h"

void reading_begin(struct jw *w, const char *type, const char *device)
{
	char now[25];
	time_now_rfc3339(now);
	jw_reset(w);
	jw_object_begin(w);
	jw_key(w, "time");
	jw_stringn(w, now, 24);
	jw_key(w, "type");
	jw_string(w, type);
	jw_key(w, "device");
	jw_string(w, device);
}

void reading_values_begin(struct jw *w)
{
	jw_key(w, "values");
	jw_object_begin(w);
}

void reading_end(struct jw *w)
{
	jw_object_end(w);
	jw_object_end(w);
}

static _Noreturn void stdout_failed(void)
{
	if (errno == EPIPE)
		exit(EXIT_RUNTIME);
	die_errno(EXIT_RUNTIME, "stdout");
}

/* Lines held for reading_flush while gathering: one write(2) for every
 * meter a wake-up of a many-meter reader served.  Whole lines only, and
 * flushed before the buffer would pass this, so that no line is ever
 * split between two writes. */
#define GATHER_MAX 65536

static struct {
	bool on;
	char *buf;
	size_t len;
} gathered;

void reading_gather(bool on)
{
	gathered.on = on;
}

void reading_flush(void)
{
	if (gathered.len && write_all(STDOUT_FILENO, gathered.buf, gathered.len, -1) < 0)
		stdout_failed();
	gathered.len = 0;
}

void reading_print(struct jw *w)
{
	if (!gathered.on) {
		if (jw_write_line(w, STDOUT_FILENO) < 0)
			stdout_failed();
		return;
	}
	if (w->oom) {
		errno = ENOMEM;
		stdout_failed();
	}
	if (!gathered.buf && !(gathered.buf = malloc(GATHER_MAX)))
		die(EXIT_RUNTIME, "out of memory");
	if (gathered.len + w->len + 1 > GATHER_MAX)
		reading_flush();
	if (w->len + 1 > GATHER_MAX) { /* a line longer than the buffer: as is */
		if (jw_write_line(w, STDOUT_FILENO) < 0)
			stdout_failed();
		return;
	}
	memcpy(gathered.buf + gathered.len, w->buf, w->len);
	gathered.buf[gathered.len + w->len] = '\n';
	gathered.len += w->len + 1;
}
