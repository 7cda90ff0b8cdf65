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

int num_to_json(const char *s, size_t n, char *out)
{
	size_t i = 0, o = 0;
	if (i < n && (s[i] == '+' || s[i] == '-')) {
		if (s[i] == '-')
			out[o++] = '-';
		i++;
	}
	size_t int_start = i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	size_t int_end = i;
	size_t frac_start = 0, frac_end = 0;
	if (i < n && s[i] == '.') {
		i++;
		frac_start = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		frac_end = i;
		if (frac_end == frac_start)
			return -1; /* "12." says nothing after the point: not ours to guess */
	}
	if (i != n || (int_end == int_start && frac_end == frac_start))
		return -1;
	/* Leading zeros are not JSON; keep one digit before the point. */
	size_t k = int_start;
	while (k + 1 < int_end && s[k] == '0')
		k++;
	if (k == int_end)
		out[o++] = '0';
	else {
		memcpy(out + o, s + k, int_end - k);
		o += int_end - k;
	}
	if (frac_end > frac_start) {
		out[o++] = '.';
		memcpy(out + o, s + frac_start, frac_end - frac_start);
		o += frac_end - frac_start;
	}
	out[o] = '\0';
	return (int)o;
}

int decimal_from_scaled(uint64_t mantissa, bool negative, int exp10, char *out, size_t outlen)
{
	char digits[24];
	int nd = 0;
	uint64_t m = mantissa;
	do {
		digits[nd++] = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	/* digits[] holds the mantissa backwards. */
	size_t o = 0;
	size_t need = (size_t)nd + (size_t)abs(exp10) + 4;
	if (need > outlen || exp10 > 255 || exp10 < -255)
		return -1;
	if (negative && mantissa != 0)
		out[o++] = '-';
	if (exp10 >= 0) {
		for (int i = nd - 1; i >= 0; i--)
			out[o++] = digits[i];
		if (mantissa != 0)
			for (int i = 0; i < exp10; i++)
				out[o++] = '0';
	} else {
		int frac = -exp10;
		if (nd <= frac) {
			out[o++] = '0';
			out[o++] = '.';
			for (int i = 0; i < frac - nd; i++)
				out[o++] = '0';
			for (int i = nd - 1; i >= 0; i--)
				out[o++] = digits[i];
		} else {
			for (int i = nd - 1; i >= frac; i--)
				out[o++] = digits[i];
			out[o++] = '.';
			for (int i = frac - 1; i >= 0; i--)
				out[o++] = digits[i];
		}
	}
	out[o] = '\0';
	return (int)o;
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
