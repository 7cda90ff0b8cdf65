/* decimal.c: see decimal.h. */
#include "line/decimal.h"

#include <stdlib.h>
#include <string.h>

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
