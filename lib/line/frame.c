/* frame.c: see frame.h. */
#include "line/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/err.h"
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

void reading_print(struct jw *w)
{
	if (jw_write_line(w, STDOUT_FILENO) == 0)
		return;
	if (errno == EPIPE)
		exit(EXIT_RUNTIME);
	die_errno(EXIT_RUNTIME, "stdout");
}
