#include "line/jsonw.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/files.h"
#include "base/text.h"

void jw_init(struct jw *w)
{
	memset(w, 0, sizeof *w);
	jw_reset(w);
}

void jw_free(struct jw *w)
{
	free(w->buf);
	memset(w, 0, sizeof *w);
}

void jw_reset(struct jw *w)
{
	w->len = 0;
	w->depth = 0;
	w->first[0] = true;
	w->after_key = false;
	w->oom = false;
}

static bool reserve(struct jw *w, size_t extra)
{
	if (w->oom)
		return false;
	if (w->len + extra <= w->cap)
		return true;
	size_t cap = w->cap ? w->cap : 1024;
	while (cap < w->len + extra)
		cap *= 2;
	char *p = realloc(w->buf, cap);
	if (!p) {
		w->oom = true;
		return false;
	}
	w->buf = p;
	w->cap = cap;
	return true;
}

static void put(struct jw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void putc1(struct jw *w, char c)
{
	if (!reserve(w, 1))
		return;
	w->buf[w->len++] = c;
}

/* Called before every value or key: writes the comma that separates it
 * from its predecessor at the same depth. */
static void separate(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth])
		putc1(w, ',');
	w->first[w->depth] = false;
}

static void open_container(struct jw *w, char c)
{
	separate(w);
	putc1(w, c);
	if (w->depth + 1 < JW_MAX_DEPTH)
		w->depth++;
	else
		w->oom = true; /* deeper than any reading line can be: a bug */
	w->first[w->depth] = true;
}

static void close_container(struct jw *w, char c)
{
	putc1(w, c);
	if (w->depth > 0)
		w->depth--;
}

void jw_object_begin(struct jw *w) { open_container(w, '{'); }
void jw_object_end(struct jw *w) { close_container(w, '}'); }
void jw_array_begin(struct jw *w) { open_container(w, '['); }
void jw_array_end(struct jw *w) { close_container(w, ']'); }

void jw_keyn(struct jw *w, const char *key, size_t n)
{
	separate(w);
	jw_escape(w, key, n);
	putc1(w, ':');
	w->after_key = true;
}

void jw_key(struct jw *w, const char *key) { jw_keyn(w, key, strlen(key)); }

void jw_stringn(struct jw *w, const char *s, size_t n)
{
	separate(w);
	jw_escape(w, s, n);
}

void jw_string(struct jw *w, const char *s) { jw_stringn(w, s, strlen(s)); }

void jw_null(struct jw *w)
{
	separate(w);
	put(w, "null", 4);
}

void jw_bool(struct jw *w, bool v)
{
	separate(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void jw_int(struct jw *w, long long v)
{
	char tmp[24];
	char *p = tmp + sizeof tmp;
	/* Through unsigned so that LLONG_MIN negates without overflow. */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	separate(w);
	put(w, p, (size_t)(tmp + sizeof tmp - p));
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool json_number_valid(const char *s, size_t n)
{
	size_t i = 0;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return false;
	if (s[i] == '0') {
		i++;
	} else if (s[i] >= '1' && s[i] <= '9') {
		while (i < n && is_digit(s[i]))
			i++;
	} else {
		return false;
	}
	if (i < n && s[i] == '.') {
		i++;
		size_t start = i;
		while (i < n && is_digit(s[i]))
			i++;
		if (i == start)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t start = i;
		while (i < n && is_digit(s[i]))
			i++;
		if (i == start)
			return false;
	}
	return i == n;
}

/* Plain decimals only ("-12.50"), at most 40 characters: a meter never
 * sends more, and readers of the line (jansson, JavaScript) fail on numbers
 * that overflow a double, which an exponent or 400 digits would. */
static bool plain_decimal(const char *s, size_t n)
{
	if (n == 0 || n > 40 || !json_number_valid(s, n))
		return false;
	return memchr(s, 'e', n) == NULL && memchr(s, 'E', n) == NULL;
}

void jw_number_text(struct jw *w, const char *s, size_t n)
{
	if (!plain_decimal(s, n)) {
		jw_stringn(w, s, n);
		return;
	}
	separate(w);
	put(w, s, n);
}

void jw_raw_value(struct jw *w, const char *json, size_t n)
{
	separate(w);
	put(w, json, n);
}

static void put_quoted(struct jw *w, const char *s, size_t n)
{
	if (!reserve(w, n + 2))
		return;
	w->buf[w->len++] = '"';
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len++] = '"';
}

void jw_keyn_plain(struct jw *w, const char *key, size_t n)
{
	separate(w);
	if (!reserve(w, n + 3))
		return;
	char *o = w->buf + w->len;
	*o++ = '"';
	memcpy(o, key, n);
	o += n;
	*o++ = '"';
	*o++ = ':';
	w->len = (size_t)(o - w->buf);
	w->after_key = true;
}

void jw_stringn_plain(struct jw *w, const char *s, size_t n)
{
	separate(w);
	put_quoted(w, s, n);
}

void jw_escape(struct jw *w, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	/* Worst case: every byte becomes a 6-byte escape. */
	if (!reserve(w, n * 6 + 2))
		return;
	char *o = w->buf + w->len;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			*o++ = '\\';
			switch (c) {
			case '\b': *o++ = 'b'; break;
			case '\f': *o++ = 'f'; break;
			case '\n': *o++ = 'n'; break;
			case '\r': *o++ = 'r'; break;
			case '\t': *o++ = 't'; break;
			default:
				*o++ = 'u';
				*o++ = '0';
				*o++ = '0';
				*o++ = hex[c >> 4];
				*o++ = hex[c & 15];
			}
			i++;
			continue;
		}
		size_t len = utf8_seq(s + i, n - i, NULL);
		if (len == 0) {
			memcpy(o, "\\ufffd", 6);
			o += 6;
			i++;
			continue;
		}
		/* U+2028 and U+2029 are legal JSON but end a line in JavaScript. */
		if (len == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
			memcpy(o, s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
			o += 6;
		} else {
			memcpy(o, s + i, len);
			o += len;
		}
		i += len;
	}
	*o++ = '"';
	w->len = (size_t)(o - w->buf);
}

int jw_write_line(struct jw *w, int fd)
{
	putc1(w, '\n');
	if (w->oom) {
		errno = ENOMEM;
		return -1;
	}
	return write_all(fd, w->buf, w->len, -1);
}

char *jw_take(struct jw *w, size_t *len)
{
	char *p = w->oom ? NULL : malloc(w->len + 1);
	if (p) {
		if (w->len)
			memcpy(p, w->buf, w->len);
		p[w->len] = '\0';
		*len = w->len;
	}
	jw_free(w);
	return p;
}
