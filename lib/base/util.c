#include "base/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int parse_long(const char *s, long min, long max, long *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_double(const char *s, double min, double max, double *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void time_now_rfc3339(char out[25])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	int ms = (int)(ts.tv_nsec / 1000000);
	/* Written by hand: strftime plus snprintf is measurable per telegram. */
	int y = tm.tm_year + 1900;
	char *p = out;
	*p++ = (char)('0' + y / 1000 % 10);
	*p++ = (char)('0' + y / 100 % 10);
	*p++ = (char)('0' + y / 10 % 10);
	*p++ = (char)('0' + y % 10);
	int fields[5] = { tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec };
	const char seps[5] = { '-', '-', 'T', ':', ':' };
	for (int i = 0; i < 5; i++) {
		*p++ = seps[i];
		*p++ = (char)('0' + fields[i] / 10);
		*p++ = (char)('0' + fields[i] % 10);
	}
	*p++ = '.';
	*p++ = (char)('0' + ms / 100);
	*p++ = (char)('0' + ms / 10 % 10);
	*p++ = (char)('0' + ms % 10);
	*p++ = 'Z';
	*p = '\0';
}

int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint16_t arc_table[256];
static uint16_t xmodem_table[256];

static void crc_tables_init(void)
{
	for (int i = 0; i < 256; i++) {
		uint16_t c = (uint16_t)i;
		for (int b = 0; b < 8; b++)
			c = (c & 1) ? (uint16_t)((c >> 1) ^ 0xA001) : (uint16_t)(c >> 1);
		arc_table[i] = c;
		uint16_t x = (uint16_t)(i << 8);
		for (int b = 0; b < 8; b++)
			x = (x & 0x8000) ? (uint16_t)((x << 1) ^ 0x1021) : (uint16_t)(x << 1);
		xmodem_table[i] = x;
	}
}

static void crc_tables_once(void)
{
	/* Single-threaded programs: a flag is enough. */
	static bool ready;
	if (!ready) {
		crc_tables_init();
		ready = true;
	}
}

uint16_t crc16_arc(uint16_t crc, const void *data, size_t n)
{
	crc_tables_once();
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		crc = (uint16_t)((crc >> 8) ^ arc_table[(crc ^ p[i]) & 0xff]);
	return crc;
}

uint16_t crc16_xmodem(uint16_t crc, const void *data, size_t n)
{
	crc_tables_once();
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		crc = (uint16_t)((crc << 8) ^ xmodem_table[((crc >> 8) ^ p[i]) & 0xff]);
	return crc;
}

int split_list(char *s, char **items, int max)
{
	int n = 0;
	for (char *tok = s;;) {
		char *comma = strchr(tok, ',');
		if (comma)
			*comma = '\0';
		if (!*tok || n >= max)
			return -1;
		items[n++] = tok;
		if (!comma)
			return n;
		tok = comma + 1;
	}
}
