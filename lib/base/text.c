/* text.c: see text.h. */
#include "base/text.h"

#include <string.h>

size_t utf8_seq(const void *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = str;
	unsigned char c = s[0];
	if (c < 0x80) {
		if (cp)
			*cp = c;
		return 1;
	}
	size_t len;
	uint32_t v;
	/* The second byte's range excludes overlong forms (E0, F0),
	 * surrogates (ED) and code points above U+10FFFF (F4). */
	unsigned char lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, v = c & 0x1f;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, v = c & 0x0f;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	v = v << 6 | (s[1] & 0x3f);
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (cp)
		*cp = v;
	return len;
}

bool utf8_valid(const void *str, size_t n)
{
	const unsigned char *s = str;
	for (size_t i = 0; i < n;) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_seq(s + i, n - i, NULL);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

uint64_t fnv1a64(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

uint32_t fnv1a32(uint32_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

int hex_digit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool is_id_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool device_id_valid(const char *id)
{
	size_t n = 0;
	for (const char *p = id; *p; p++, n++)
		if (!is_id_char(*p) || n >= 64)
			return false;
	return n > 0;
}

bool opt_name_spell(char *out, size_t n, const char *name, bool to_dash)
{
	size_t len = strlen(name);
	if (len >= n)
		return false;
	char from = to_dash ? '_' : '-', to = to_dash ? '-' : '_';
	for (size_t i = 0; i <= len; i++)
		out[i] = name[i] == from ? to : name[i];
	return true;
}

int words_split(char *s, char **words, int max)
{
	int n = 0;
	char *out = s;
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			return n;
		if (n == max)
			return -1;
		words[n++] = out;
		while (*s && *s != ' ' && *s != '\t') {
			if (*s == '\'') {
				char *close = strchr(s + 1, '\'');
				if (!close)
					return -1;
				memmove(out, s + 1, (size_t)(close - s - 1));
				out += close - s - 1;
				s = close + 1;
			} else if (*s == '\\' && s[1]) {
				*out++ = s[1];
				s += 2;
			} else {
				*out++ = *s++;
			}
		}
		bool end = !*s;
		*out++ = '\0';
		if (end)
			return n;
		s++;
	}
}
