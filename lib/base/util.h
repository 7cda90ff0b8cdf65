/* util.h: small helpers shared by every tool: strict number parsing, host
 * time, CRCs, lists. */
#ifndef M2M_UTIL_H
#define M2M_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict parsers for option values: the whole string must be a number in
 * [min, max].  Return 0, or -1 when it is not. */
int parse_long(const char *s, long min, long max, long *out);
int parse_double(const char *s, double min, double max, double *out);

/* Host time now as RFC 3339 UTC with milliseconds: 2026-11-27T02:46:43.123Z.
 * out needs 25 bytes. */
void time_now_rfc3339(char out[25]);
/* Monotonic clock in milliseconds, for timeouts and intervals. */
int64_t mono_ms(void);
/* Sleeps ms milliseconds, through signals. */
void sleep_ms(long ms);

/* CRC-16/ARC (DSMR P1: poly 0x8005 reflected, init 0). */
uint16_t crc16_arc(uint16_t crc, const void *data, size_t n);
/* CRC-16/XMODEM (KMP: poly 0x1021, init 0, MSB first). */
uint16_t crc16_xmodem(uint16_t crc, const void *data, size_t n);

/* Splits a comma-separated list in place; returns the number of items
 * stored in items[] (at most max), or -1 if there are more or one is empty. */
int split_list(char *s, char **items, int max);

#endif
