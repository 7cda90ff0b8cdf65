/* util.h: small helpers shared by every tool: strict number parsing, exact
 * decimal text, host time, CRCs, device ids, the reading line's frame. */
#ifndef M2M_UTIL_H
#define M2M_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "line/jsonw.h"

/* Strict parsers for option values: the whole string must be a number in
 * [min, max].  Return 0, or -1 when it is not. */
int parse_long(const char *s, long min, long max, long *out);
int parse_double(const char *s, double min, double max, double *out);

/* Turns a meter's decimal text ("000123.456", "+5", "-0012", ".5") into a
 * valid JSON number with exactly the digits the meter sent after the
 * decimal point ("123.456", "5", "-12", "0.5"), never going through a
 * double.  out must hold n + 2 bytes.  Returns the length written, or -1
 * when the text is not a plain decimal number. */
int num_to_json(const char *s, size_t n, char *out);

/* value = mantissa x 10^exp10 as exact decimal text (kmpread): 6344, -2 ->
 * "63.44"; 5, 3 -> "5000"; negative mantissas get a '-'.  out needs 64
 * bytes at least; returns the length, or -1 if it would not fit. */
int decimal_from_scaled(uint64_t mantissa, bool negative, int exp10, char *out, size_t outlen);

/* Host time now as RFC 3339 UTC with milliseconds: 2026-11-27T02:46:43.123Z.
 * out needs 25 bytes. */
void time_now_rfc3339(char out[25]);
/* Monotonic clock in milliseconds, for timeouts and intervals. */
int64_t mono_ms(void);

/* CRC-16/ARC (DSMR P1: poly 0x8005 reflected, init 0). */
uint16_t crc16_arc(uint16_t crc, const void *data, size_t n);
/* CRC-16/XMODEM (KMP: poly 0x1021, init 0, MSB first). */
uint16_t crc16_xmodem(uint16_t crc, const void *data, size_t n);

/* The frame of every reading line: {"time":..,"type":..,"device":..
 * then the caller adds "meter" if it has one, then reading_values_begin
 * opens "values":{ and reading_end closes both objects. */
void reading_begin(struct jw *w, const char *type, const char *device);
void reading_values_begin(struct jw *w);
void reading_end(struct jw *w);

/* Splits a comma-separated list in place; returns the number of items
 * stored in items[] (at most max), or -1 if there are more or one is empty. */
int split_list(char *s, char **items, int max);

#endif
