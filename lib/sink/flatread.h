/* flatread.h: a reading as the sinks (InfluxDB, the exporter) see it.
 *
 * The reading line's values, flattened into an array of name, kind, exact
 * text, unit and the meter's own time stamp.  The sinks work on this and
 * never on the JSON tree, so they do not care which JSON reader parsed the
 * line, and their encoders can be fed anything by a fuzz harness.
 * Pointers point into the parsed reading: valid while it lives. */
#ifndef M2M_FLATREAD_H
#define M2M_FLATREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "line/reading.h"

enum flat_kind {
	FV_INTEGER, /* a JSON number without fraction or exponent: "-12", within 64 bits */
	FV_DECIMAL, /* any other JSON number: "1.193", "1e3", a longer integer */
	FV_STRING,
	FV_BOOL,    /* text is "true" or "false" */
	FV_OTHER,   /* null, array, object: nothing a sink writes */
};

/* Longest number text kept (a longer number is FV_OTHER: no meter has one). */
#define FLAT_TEXT_MAX 64

struct flat_value {
	const char *name;
	enum flat_kind kind;
	char text[FLAT_TEXT_MAX];  /* numbers (their text in the line) and booleans */
	const char *str;           /* FV_STRING: the string (may hold no NUL) */
	const char *unit;          /* or NULL */
	const char *time;          /* the meter's own stamp, or NULL */
};

struct flat_reading {
	const char *time, *type, *device;
	const char *meter_id;      /* meter.id, else meter.serial, or NULL */
	struct flat_value *v;
	size_t n, cap;
	size_t skipped;            /* values without a usable name */
};

void flat_init(struct flat_reading *f);
void flat_free(struct flat_reading *f);
/* Fills f from a parsed reading (replacing what it held).  Returns 0, or
 * -1 when memory ran out. */
int flat_from_reading(struct flat_reading *f, const struct reading *r);

#endif
