/* obis.h: OBIS codes (IEC 62056-61) and the one table of the parameters
 * the readers publish, whatever the protocol: a DSMR, SML or DLMS reader
 * that meets 1-0:1.8.0 publishes it as electricity_imported_total, in kWh.
 *
 * A code "A-B:C.D.E*F" is kept as one key:
 *   A<<40 | B<<32 | C<<24 | D<<16 | E<<8 | F      (F 255: "no F") */
#ifndef M2M_OBIS_H
#define M2M_OBIS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OBIS_KEY(a, b, c, d, e, f)                                                                             \
	((uint64_t)(a) << 40 | (uint64_t)(b) << 32 | (uint64_t)(c) << 24 | (uint64_t)(d) << 16 |                 \
	 (uint64_t)(e) << 8 | (uint64_t)(f))
/* The usual code, without F. */
#define OBIS(a, b, c, d, e) OBIS_KEY(a, b, c, d, e, 255)

/* "A-B:C.D.E" with an optional ".F" or "*F" (F 255 is the same as none).
 * C may be the letter C, F, L or P (96..99).  Returns the length parsed
 * from s (at most n bytes), or 0 when s does not begin with a code. */
size_t obis_parse(const char *s, size_t n, uint64_t *key);
/* "1-0:1.7.0" ("*F" added unless F is 255).  Returns the length. */
size_t obis_format(uint64_t key, char out[32]);

/* What a value is, so that a reader knows how to decode it. */
enum obis_kind {
	OBIS_NUM,    /* a number with a unit: 000671.578*kWh */
	OBIS_STR,    /* text, as sent */
	OBIS_ID,     /* an identifier, hex-encoded ASCII in DSMR */
	OBIS_TEXT,   /* a text message, hex-encoded UTF-8 in DSMR */
	OBIS_TIME,   /* a point in time */
	OBIS_PFLOG,  /* the power failure log: [{end, duration}] */
	OBIS_PEAKS,  /* monthly peaks: [{month, time, value}] */
	OBIS_STAMP,  /* a number with the time it was reached */
	OBIS_KINDS
};

struct obis_param {
	const char *name;     /* the name in the reading line */
	const char *obis;     /* the code as text, "1-0:1.8.0" */
	const char *unit;     /* the usual unit, "" when none */
	enum obis_kind kind;
	const char *meaning;  /* one line for --list */
	uint64_t key;         /* obis, parsed */
	uint64_t name_hash;   /* fnv1a64 of name, for writers' name sets */
};

/* The parameter of a code, or NULL when the table has none. */
const struct obis_param *obis_lookup(uint64_t key);
/* The parameter of a name, or NULL. */
const struct obis_param *obis_by_name(const char *name);
/* name, code, unit ("-" when none), meaning: tab-separated, one a line.
 * Returns -1 when a write failed (see ferror). */
int obis_list(FILE *out);

#endif
