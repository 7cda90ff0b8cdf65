#include "sink/influx.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- time ---- */

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int len[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : len[m - 1];
}

int rfc3339_to_ns(const char *s, int64_t *ns)
{
	int y, mo, d, h, mi, sec;
	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' ||
	    !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return -1;
	/* Line protocol holds 1677-09-21 to 2262-04-11; keep well inside. */
	if (y < 1678 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	const char *p = s + 19;
	int64_t frac = 0;
	if (*p == '.') {
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 9)
				frac = frac * 10 + (*p - '0');
		if (n == 0)
			return -1;
		for (; n < 9; n++)
			frac *= 10;
	}
	int offset_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	/* A leap second is the last instant of its minute, 59.999999999. */
	if (sec == 60) {
		sec = 59;
		frac = 999999999;
	}
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
	*ns = secs * 1000000000 + frac;
	return 0;
}

/* ---- escaping ---- */

/* Whether s can be written as a measurement, tag or field key: no control
 * characters, no backslash (1.x would keep it and misread a following
 * escape), not empty. */
static bool writable(const char *s)
{
	if (!s || !*s)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			return false;
	return true;
}

static bool field_key_ok(const char *s) { return writable(s) && s[0] != '_' && strcmp(s, "time") != 0; }

/* specials: the characters that get a backslash (measurements: ", ";
 * keys and tag values: ",= "). */
static void put_escaped(struct buf *b, const char *s, const char *specials)
{
	for (const char *p = s;; p++) {
		size_t run = strcspn(p, specials);
		buf_add(b, p, run);
		p += run;
		if (!*p)
			break;
		buf_addc(b, '\\');
		buf_addc(b, *p);
	}
}

/* ---- points ---- */

static bool numeric(const struct flat_value *v) { return v->kind == FV_INTEGER || v->kind == FV_DECIMAL; }

static void put_series(struct buf *b, const char *measurement, const struct flat_reading *r, bool with_meter_id)
{
	put_escaped(b, measurement, ", ");
	buf_adds(b, ",device=");
	put_escaped(b, r->device, ",= ");
	if (with_meter_id) {
		buf_adds(b, ",meter_id=");
		put_escaped(b, r->meter_id, ",= ");
	}
	buf_adds(b, ",type=");
	put_escaped(b, r->type, ",= ");
}

static bool same_stamp(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* Writes one point: the fields whose stamp is `stamp` (NULL: the reading's
 * own time).  Returns whether a point was written. */
static bool put_point(struct buf *b, const char *measurement, const struct flat_reading *r, bool with_meter_id,
                      const char *stamp, int64_t ns, bool has_ns, struct influx_count *c)
{
	size_t start = b->len;
	size_t fields = 0;
	put_series(b, measurement, r, with_meter_id);
	for (size_t i = 0; i < r->n; i++) {
		const struct flat_value *v = &r->v[i];
		if (!numeric(v) || !same_stamp(v->time, stamp) || !field_key_ok(v->name))
			continue;
		buf_addc(b, fields ? ',' : ' ');
		put_escaped(b, v->name, ",= ");
		buf_addc(b, '=');
		buf_adds(b, v->text);
		if (v->kind == FV_INTEGER)
			buf_addc(b, 'i');
		fields++;
	}
	if (!fields) {
		b->len = start; /* a point needs a field: take the series back */
		if (b->p)
			b->p[start] = '\0';
		return false;
	}
	if (has_ns)
		buf_printf(b, " %" PRId64, ns);
	buf_addc(b, '\n');
	c->points++;
	c->fields += fields;
	return true;
}

int influx_encode(const struct influx_opts *o, const struct flat_reading *r, struct buf *out,
                  struct influx_count *c, char *why, size_t whylen)
{
	const char *measurement = o->measurement ? o->measurement : r->type;
	if (!writable(measurement) || !writable(r->device) || !writable(r->type)) {
		snprintf(why, whylen, "the measurement, type or device cannot be written as line protocol");
		return -1;
	}
	int64_t ns = 0;
	bool has_ns = r->time != NULL;
	if (has_ns && rfc3339_to_ns(r->time, &ns) < 0) {
		snprintf(why, whylen, "\"time\" is not an RFC 3339 time");
		return -1;
	}
	bool with_meter_id = writable(r->meter_id);
	if (r->meter_id && !with_meter_id)
		c->skipped++;
	for (size_t i = 0; i < r->n; i++)
		if (numeric(&r->v[i]) && !field_key_ok(r->v[i].name))
			c->skipped++;
	size_t before = c->points;
	put_point(out, measurement, r, with_meter_id, NULL, ns, has_ns, c);
	/* Each distinct meter stamp: a point at that time, once. */
	for (size_t i = 0; i < r->n; i++) {
		const struct flat_value *v = &r->v[i];
		if (!numeric(v) || !v->time)
			continue;
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = numeric(&r->v[k]) && same_stamp(r->v[k].time, v->time);
		if (seen)
			continue;
		int64_t stamp_ns;
		if (rfc3339_to_ns(v->time, &stamp_ns) < 0) {
			c->skipped++;
			continue;
		}
		put_point(out, measurement, r, with_meter_id, v->time, stamp_ns, true, c);
	}
	if (out->oom) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return (int)(c->points - before);
}
