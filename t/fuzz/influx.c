/* Fuzz harness for lib/sink/influx.c: whatever reading comes in, the line
 * protocol written for it is whole points, one per line, each with a
 * series, at least one field and a time, and no unescaped separator or
 * control character inside a name; RFC 3339 parsing never crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sink/flatread.h"
#include "sink/influx.h"

/* Counts the sections of one point split at unescaped spaces. */
static int sections(const char *line, size_t n)
{
	int parts = 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch < 0x20 || ch == 0x7f)
			abort();
		if (ch == '\\') {
			if (i + 1 >= n || !strchr(",= ", line[i + 1]))
				abort(); /* we never write a bare backslash */
			i++;
		} else if (ch == ' ') {
			parts++;
		}
	}
	return parts;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	int64_t ns;
	(void)rfc3339_to_ns(text, &ns);
	free(text);

	struct reading r;
	char why[256];
	if (reading_parse((const char *)data, size, &r, why, sizeof why) < 0)
		return 0;
	struct flat_reading f;
	flat_init(&f);
	struct buf out;
	buf_init(&out);
	struct influx_count c = { 0 };
	if (flat_from_reading(&f, &r) == 0) {
		int points = influx_encode(&(struct influx_opts){ NULL }, &f, &out, &c, why, sizeof why);
		if (points < 0 && out.len)
			abort(); /* refused, yet something was written */
		int lines = 0;
		for (char *p = out.p, *end = out.len ? out.p + out.len : NULL; p && p < end; lines++) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				abort(); /* a point without its newline */
			int s = sections(p, (size_t)(nl - p));
			if (s != 3 && !(s == 2 && !f.time))
				abort();
			p = nl + 1;
		}
		if (points >= 0 && lines != points)
			abort();
	}
	buf_free(&out);
	flat_free(&f);
	reading_free(&r);
	return 0;
}
