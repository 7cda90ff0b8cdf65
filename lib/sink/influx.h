/* influx.h: readings as InfluxDB line protocol (1.x and 2.x alike).
 *
 * One reading becomes:
 *   <measurement>,device=<device>,meter_id=<id>,type=<type> <field>=<v>,... <ns>
 * The measurement is the reading's type unless one is given.  Tags are the
 * device, the meter's id (meter.id, else meter.serial; left out when the
 * meter names none) and the type, sorted by key as InfluxDB prefers.
 * Fields are the numeric values, keyed by parameter name: an integer in
 * the line (no point, no exponent) is an integer field ("5i"), any other
 * number a float written with the reader's digits.  Strings, booleans,
 * arrays and objects are not written (the meter id is a tag already).
 *
 * Time: the point's time is the reading's "time" in nanoseconds.  A value
 * the meter stamped itself (the hourly M-Bus gas reading) goes in a point
 * of its own at the meter's time, with the same measurement and tags, so
 * that its series holds each meter reading once, at the moment it was
 * taken (written again with the same time it overwrites itself).
 *
 * Names and tag values are escaped (',', '=', ' ' get a backslash); one
 * that cannot be written safely (a control character, a backslash, which
 * InfluxDB 1.x does not unescape, an empty name, the reserved "time" or a
 * leading '_') is left out and counted, never half-written. */
#ifndef M2M_INFLUX_H
#define M2M_INFLUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "sink/flatread.h"

struct influx_opts {
	const char *measurement;   /* NULL: the reading's type */
};

struct influx_count {
	size_t points, fields;
	size_t skipped;            /* values or tags left out as unwritable */
};

/* Appends the reading's points (each ending in '\n') to out.  Returns the
 * number of points appended (0 when it has no numeric value), or -1 when
 * the reading cannot be written at all, with the reason in why (a bad
 * time, an unwritable measurement or device), or when memory ran out. */
int influx_encode(const struct influx_opts *o, const struct flat_reading *r, struct buf *out,
                  struct influx_count *c, char *why, size_t whylen);

/* RFC 3339 date-time ("2026-11-27T10:00:01.123Z", "2010-12-09T11:25:00+01:00")
 * to nanoseconds since 1970 UTC.  Returns 0, or -1 when s is not one. */
int rfc3339_to_ns(const char *s, int64_t *ns);

#endif
