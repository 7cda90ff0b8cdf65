/* jsonw.h: the JSON line writer, the one serializer of every reading line.
 *
 * It builds one object in a growable buffer and writes it with a trailing
 * newline in a single write, so a reader of the pipe never sees half a line.
 * Commas are placed automatically.  Strings are escaped completely: '"',
 * '\\', every byte below 0x20 and 0x7f, U+2028/U+2029 (so the line is also
 * valid JavaScript), and every byte that is not part of well-formed UTF-8
 * becomes U+FFFD: a serial line can carry anything. */
#ifndef M2M_JSONW_H
#define M2M_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define JW_MAX_DEPTH 16

struct jw {
	char *buf;
	size_t len, cap;
	int depth;
	bool first[JW_MAX_DEPTH]; /* no member written yet at this depth */
	bool after_key;
	bool oom;                 /* an allocation failed: the line is void */
};

void jw_init(struct jw *w);
void jw_free(struct jw *w);
/* Empties the buffer for the next line; keeps its memory. */
void jw_reset(struct jw *w);

void jw_object_begin(struct jw *w);
void jw_object_end(struct jw *w);
void jw_array_begin(struct jw *w);
void jw_array_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_keyn(struct jw *w, const char *key, size_t n);
void jw_string(struct jw *w, const char *s);
void jw_stringn(struct jw *w, const char *s, size_t n);
void jw_null(struct jw *w);
void jw_bool(struct jw *w, bool v);
void jw_int(struct jw *w, long long v);
/* Writes a number given as text.  The text must be a plain JSON decimal
 * (see num_to_json in line/decimal.h) of at most 40 characters, with no exponent;
 * anything else is written as a string, so that the line stays valid JSON
 * that every consumer (jansson, JavaScript) can load. */
void jw_number_text(struct jw *w, const char *s, size_t n);
/* Appends pre-formed JSON as one value (trusted: the caller made it). */
void jw_raw_value(struct jw *w, const char *json, size_t n);
/* A key or string the caller knows needs no escaping (printable ASCII
 * without '"' and '\\', such as p1read's value names and OBIS codes),
 * copied as is: the hot path of a reader that writes thousands a second. */
void jw_keyn_plain(struct jw *w, const char *key, size_t n);
void jw_stringn_plain(struct jw *w, const char *s, size_t n);

/* Hands over the buffer as a malloc'd NUL-terminated string and frees w;
 * NULL when memory ran out (now or while writing). */
char *jw_take(struct jw *w, size_t *len);

/* Appends "\n" and writes the whole line to fd (write_all: short writes,
 * EINTR, a non-blocking fd).  Returns 0, or -1 with errno set. */
int jw_write_line(struct jw *w, int fd);

/* Escapes s into a JSON string literal (with quotes) appended to w's buffer
 * without any comma logic; exposed for tests and the fuzz harness. */
void jw_escape(struct jw *w, const char *s, size_t n);

/* True when s[0..n) is a JSON number literal per RFC 8259. */
bool json_number_valid(const char *s, size_t n);

#endif
