/* libcheck: a test driver for lib/ (t/lib.bats).  Each subcommand reads its
 * input from argv or stdin and prints what the library made of it, so the
 * bats tests assert the library's real output.
 *
 *   libcheck escape          stdin -> one JSON string literal
 *   libcheck num TEXT        num_to_json
 *   libcheck scaled M E      decimal_from_scaled (M may start with '-')
 *   libcheck crc-arc         stdin -> CRC-16/ARC as 4 hex digits
 *   libcheck crc-xmodem      stdin -> CRC-16/XMODEM as 4 hex digits
 *   libcheck devid ID        exit 0 if a valid device id
 *   libcheck serial SPEC     serial_params_parse, formatted back
 *   libcheck port SPEC       port_init: the kind it saw
 *   libcheck portspec P C H  port_spec_from_options ("" for an absent one)
 *   libcheck now             time_now_rfc3339
 *   libcheck reading T D     a reading line with one value */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "line/jsonw.h"
#include "line/frame.h"
#include "line/decimal.h"
#include "meter/port.h"
#include "base/text.h"
#include "base/util.h"

static size_t slurp(char **out)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while (buf && (r = read(0, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap) {
			char *bigger = realloc(buf, cap *= 2);
			if (!bigger)
				die(EXIT_RUNTIME, "out of memory");
			buf = bigger;
		}
	}
	if (!buf)
		die(EXIT_RUNTIME, "out of memory");
	*out = buf;
	return n;
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	if (argc < 2)
		die(EXIT_USAGE, "usage: libcheck escape|num|scaled|crc-arc|crc-xmodem|devid|serial|port|now|reading ...");
	const char *cmd = argv[1];
	struct jw w;
	jw_init(&w);
	if (strcmp(cmd, "escape") == 0) {
		char *in;
		size_t n = slurp(&in);
		jw_stringn(&w, in, n);
		jw_write_line(&w, 1);
		free(in);
	} else if (strcmp(cmd, "num") == 0 && argc == 3) {
		char out[256];
		if (strlen(argv[2]) > 200 || num_to_json(argv[2], strlen(argv[2]), out) < 0)
			die(EXIT_RUNTIME, "not a number: %s", argv[2]);
		puts(out);
	} else if (strcmp(cmd, "scaled") == 0 && argc == 4) {
		char out[600];
		int neg = argv[2][0] == '-';
		unsigned long long m = strtoull(argv[2] + neg, NULL, 10);
		if (decimal_from_scaled(m, neg, atoi(argv[3]), out, sizeof out) < 0)
			die(EXIT_RUNTIME, "does not fit");
		puts(out);
	} else if (strncmp(cmd, "crc-", 4) == 0) {
		char *in;
		size_t n = slurp(&in);
		printf("%04X\n", strcmp(cmd, "crc-arc") == 0 ? crc16_arc(0, in, n) : crc16_xmodem(0, in, n));
		free(in);
	} else if (strcmp(cmd, "devid") == 0 && argc == 3) {
		return device_id_valid(argv[2]) ? 0 : 1;
	} else if (strcmp(cmd, "serial") == 0 && argc == 3) {
		struct serial_params p;
		char out[32];
		if (serial_params_parse(argv[2], &p) < 0)
			die(EXIT_USAGE, "bad serial settings: %s", argv[2]);
		serial_params_format(&p, out, sizeof out);
		puts(out);
	} else if (strcmp(cmd, "port") == 0 && argc == 3) {
		struct port p;
		char why[256];
		static const char *const kinds[] = { "serial", "tcp", "file", "stdin" };
		if (port_init(&p, argv[2], NULL, why, sizeof why) < 0)
			die(EXIT_USAGE, "%s: %s", argv[2], why);
		if (p.kind == PORT_TCP)
			printf("tcp %s %s\n", p.host, p.service);
		else
			puts(kinds[p.kind]);
	} else if (strcmp(cmd, "portspec") == 0 && argc == 5) {
		char spec[256], why[256];
		const char *a[3];
		for (int i = 0; i < 3; i++)
			a[i] = *argv[i + 2] ? argv[i + 2] : NULL;
		if (port_spec_from_options(a[0], a[1], a[2], spec, sizeof spec, why, sizeof why) < 0)
			die(EXIT_USAGE, "%s", why);
		printf("[%s]\n", spec);
	} else if (strcmp(cmd, "now") == 0) {
		char now[25];
		time_now_rfc3339(now);
		puts(now);
	} else if (strcmp(cmd, "reading") == 0 && argc == 4) {
		reading_begin(&w, argv[2], argv[3]);
		reading_values_begin(&w);
		jw_key(&w, "x");
		jw_object_begin(&w);
		jw_key(&w, "value");
		jw_number_text(&w, "1.50", 4);
		jw_key(&w, "unit");
		jw_string(&w, "kWh");
		jw_object_end(&w);
		reading_end(&w);
		jw_write_line(&w, 1);
	} else {
		die(EXIT_USAGE, "unknown command: %s", cmd);
	}
	jw_free(&w);
	return 0;
}
