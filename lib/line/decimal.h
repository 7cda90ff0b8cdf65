/* decimal.h: exact decimal text for the reading line: a meter's digits go
 * out as the meter sent them, never through a double. */
#ifndef M2M_DECIMAL_H
#define M2M_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
