/* dsmr_values.c: the values of a DSMR reading line: each record named
 * from the OBIS table (obis.h) or as an M-Bus device (mbus.h), its groups
 * written by the small writer of its kind.  See dsmr.h. */
#include "meter/dsmr.h"

#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "base/util.h"
#include "line/decimal.h"
#include "meter/mbus.h"
#include "meter/obis.h"

/* A key of the reading line written as is: it needs no escaping. */
#define JKEY(w, lit) jw_keyn_plain(w, lit, sizeof lit - 1)

static uint64_t name_hash(const char *s) { return fnv1a64(FNV1A64_INIT, s, strlen(s)); }

/* ---- small text helpers ---- */

/* Hex to bytes, line breaks skipped; -1 unless whole bytes of hex. */
static int hex_decode(const char *s, size_t n, char *out)
{
	int o = 0, hi = -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		int v = hex_digit_value(s[i]);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
		} else {
			out[o++] = (char)(hi << 4 | v);
			hi = -1;
		}
	}
	return hi < 0 ? o : -1;
}

static bool printable_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* Well-formed UTF-8 with no control character but tab and line breaks. */
static bool utf8_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			return false;
	}
	return utf8_valid(s, n);
}

/* ---- the writer ---- */

/* A number from num_to_json, which only makes valid JSON numbers: written
 * as is up to 40 characters (jw_number_text's limit, which makes longer
 * ones strings, since consumers read numbers as doubles). */
static void put_num(struct jw *w, const char *num, int len)
{
	if (len <= 40)
		jw_raw_value(w, num, (size_t)len);
	else
		jw_number_text(w, num, (size_t)len);
}

struct ctx {
	struct jw *w;
	struct dsmr_telegram *t;
	const struct dsmr_filter *filter;
	char scratch[DSMR_MAX_TELEGRAM];      /* a value without its line breaks */
	char decoded[DSMR_MAX_TELEGRAM / 2]; /* a value decoded from hex */
	int written;
};

#define gtext dsmr_gtext
#define glen dsmr_glen

#define NSLOTS (sizeof ((struct dsmr_telegram *)0)->name_slot / sizeof(uint64_t))

static void names_reset(struct dsmr_telegram *t)
{
	if (++t->gen == 0) {
		memset(t->name_gen, 0, sizeof t->name_gen);
		t->gen = 1;
	}
}

/* Looks h up; adds it when absent.  True when it was there already. */
static bool name_seen(struct dsmr_telegram *t, uint64_t h, bool add)
{
	size_t i = (size_t)(h & (NSLOTS - 1));
	for (size_t n = 0; n < NSLOTS && t->name_gen[i] == t->gen; n++, i = (i + 1) & (NSLOTS - 1))
		if (t->name_slot[i] == h)
			return true;
	if (add && t->name_gen[i] != t->gen) {
		t->name_gen[i] = t->gen;
		t->name_slot[i] = h;
	}
	return false;
}

static bool filter_pass(const struct dsmr_filter *f, const char *name, uint64_t key)
{
	if (!f || f->n == 0)
		return true;
	for (int i = 0; i < f->n; i++) {
		if (f->item[i].is_obis ? f->item[i].key == key : strcmp(f->item[i].name, name) == 0)
			return true;
	}
	return false;
}

/* Opens the entry of one value: "name":{ (h: the name's hash, or 0).  A
 * name already used in this reading falls back to the OBIS code (then
 * code_2, ...), so that no key repeats and nothing is lost.  False when
 * the entry is filtered out. */
static bool entry_begin(struct ctx *c, const char *name, uint64_t h, const struct dsmr_record *r)
{
	char obis[32], alt[48];
	if (!h)
		h = name_hash(name);
	if (name_seen(c->t, h, false)) {
		obis_format(r->key, obis);
		name = obis;
		h = name_hash(name);
		for (int k = 2; name_seen(c->t, h, false); k++) {
			if (k > DSMR_MAX_RECORDS)
				return false;
			snprintf(alt, sizeof alt, "%s_%d", obis, k);
			name = alt;
			h = name_hash(name);
		}
	}
	if (!filter_pass(c->filter, name, r->key))
		return false;
	name_seen(c->t, h, true);
	jw_keyn_plain(c->w, name, strlen(name)); /* [a-z0-9_:.*-] only */
	jw_object_begin(c->w);
	c->written++;
	return true;
}

/* Closes the entry: "obis" (the table's text when p has one, else the
 * record's code), then "time" when the meter stamped the value itself
 * (tg >= 0: the group with its timestamp). */
static void entry_end(struct ctx *c, const struct dsmr_record *r, int tg, const struct obis_param *p)
{
	JKEY(c->w, "obis");
	if (p && p->obis[0]) {
		jw_stringn_plain(c->w, p->obis, strlen(p->obis));
	} else {
		char obis[32];
		size_t n = obis_format(r->key, obis);
		jw_stringn_plain(c->w, obis, n);
	}
	if (tg >= 0) {
		char iso[26];
		JKEY(c->w, "time");
		if (dsmr_time_to_rfc3339(gtext(c->t, tg), glen(c->t, tg), iso) == 0)
			jw_stringn_plain(c->w, iso, 25);
		else
			jw_null(c->w);
	}
	jw_object_end(c->w);
}

/* A group's text with line breaks removed (a value broken over lines). */
static const char *flat(struct ctx *c, int g, size_t *n)
{
	const char *s = gtext(c->t, g);
	size_t len = glen(c->t, g);
	if (!memchr(s, '\n', len) && !memchr(s, '\r', len)) {
		*n = len;
		return s;
	}
	size_t o = 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] != '\r' && s[i] != '\n')
			c->scratch[o++] = s[i];
	*n = o;
	return c->scratch;
}

static void put_unit(struct jw *w, const char *unit, size_t n)
{
	if (n) {
		JKEY(w, "unit");
		jw_stringn(w, unit, n);
	}
}

/* "value" and "unit" of a group that should be a number; null if not. */
static void put_number(struct jw *w, const struct dsmr_telegram *t, int g)
{
	struct dsmr_number num;
	JKEY(w, "value");
	if (dsmr_group_number(t, g, &num)) {
		put_num(w, num.text, num.len);
		put_unit(w, num.unit, num.unitlen);
	} else {
		jw_null(w);
	}
}

static void put_time(struct jw *w, const char *key, const char *s, size_t n)
{
	char iso[26];
	jw_keyn_plain(w, key, strlen(key));
	if (dsmr_time_to_rfc3339(s, n, iso) == 0)
		jw_stringn_plain(w, iso, 25);
	else
		jw_null(w);
}

static bool is_number(const struct dsmr_telegram *t, int g)
{
	struct dsmr_number num;
	return dsmr_group_number(t, g, &num);
}

/* An unknown code, or a known one whose value has an unexpected shape:
 * keyed by its OBIS code.  One group: a number (with its unit) or the
 * text; several: the array of their texts. */
static void write_raw(struct ctx *c, const struct dsmr_record *r)
{
	char obis[32];
	obis_format(r->key, obis);
	if (!entry_begin(c, obis, 0, r))
		return;
	struct jw *w = c->w;
	if (r->ngroups == 1 && is_number(c->t, r->first_group)) {
		put_number(w, c->t, r->first_group);
	} else if (r->ngroups == 1) {
		size_t n;
		const char *s = flat(c, r->first_group, &n);
		JKEY(w, "value");
		jw_stringn(w, s, n);
	} else {
		JKEY(w, "value");
		jw_array_begin(w);
		for (int g = r->first_group; g < r->first_group + r->ngroups; g++) {
			size_t n;
			const char *s = flat(c, g, &n);
			jw_stringn(w, s, n);
		}
		jw_array_end(w);
	}
	entry_end(c, r, -1, NULL);
}

/* ---- one writer per kind ----
 *
 * shape: whether the record's groups are what the kind says (if not, the
 * record is written raw, under its code).  write: the value (and unit) of
 * an entry already open; returns the group of the time the meter stamped
 * the value with, or -1. */

/* A count as the first group of a series: "(2)", at most 8 digits. */
static bool series_count(const struct dsmr_telegram *t, int g, long *count)
{
	char num[16];
	if (glen(t, g) > 8 || num_to_json(gtext(t, g), glen(t, g), num) < 0 || strchr(num, '.') || num[0] == '-')
		return false;
	*count = atol(num);
	return true;
}

/* One item of a series, from its first group k; returns the length of its
 * unit (0 when it has none to offer). */
typedef size_t series_item_fn(struct ctx *c, int k, const char **unit);

/* "value":[{..},{..}], "unit": the items from group skip on, stride
 * groups each, and the first unit any of them gives. */
static void put_series(struct ctx *c, const struct dsmr_record *r, int skip, int stride, series_item_fn *item)
{
	struct jw *w = c->w;
	const char *unit = NULL;
	size_t un = 0;
	int end = r->first_group + r->ngroups;
	JKEY(w, "value");
	jw_array_begin(w);
	for (int k = r->first_group + skip; k + stride <= end; k += stride) {
		const char *u;
		jw_object_begin(w);
		size_t ul = item(c, k, &u);
		jw_object_end(w);
		if (!un && ul) {
			unit = u;
			un = ul;
		}
	}
	jw_array_end(w);
	put_unit(w, unit, un);
}

static bool num_shape(const struct dsmr_telegram *t, const struct dsmr_record *r)
{
	return r->ngroups == 1 && is_number(t, r->first_group);
}

static int num_write(struct ctx *c, const struct dsmr_record *r)
{
	put_number(c->w, c->t, r->first_group);
	return -1;
}

static bool one_group(const struct dsmr_telegram *t, const struct dsmr_record *r)
{
	(void)t;
	return r->ngroups == 1;
}

static int str_write(struct ctx *c, const struct dsmr_record *r)
{
	size_t n;
	const char *s = flat(c, r->first_group, &n);
	JKEY(c->w, "value");
	jw_stringn(c->w, s, n);
	return -1;
}

/* ID: hex-encoded ASCII, decoded when printable (trailing blanks cut);
 * TEXT: hex-encoded UTF-8, decoded when text.  Else as sent. */
static void put_hex_text(struct ctx *c, const struct dsmr_record *r, bool ascii_id)
{
	size_t n;
	const char *s = flat(c, r->first_group, &n);
	char *dec = c->decoded;
	int d = n / 2 < sizeof c->decoded ? hex_decode(s, n, dec) : -1;
	JKEY(c->w, "value");
	if (d >= 0 && ascii_id && printable_ascii(dec, (size_t)d)) {
		while (d > 0 && dec[d - 1] == ' ')
			d--;
		jw_stringn(c->w, dec, (size_t)d);
	} else if (d >= 0 && !ascii_id && utf8_text(dec, (size_t)d)) {
		jw_stringn(c->w, dec, (size_t)d);
	} else {
		jw_stringn(c->w, s, n);
	}
}

static int id_write(struct ctx *c, const struct dsmr_record *r)
{
	put_hex_text(c, r, true);
	return -1;
}

static int text_write(struct ctx *c, const struct dsmr_record *r)
{
	put_hex_text(c, r, false);
	return -1;
}

static bool time_shape(const struct dsmr_telegram *t, const struct dsmr_record *r)
{
	return r->ngroups == 1 && dsmr_group_is_timestamp(t, r->first_group);
}

static int time_write(struct ctx *c, const struct dsmr_record *r)
{
	put_time(c->w, "value", gtext(c->t, r->first_group), glen(c->t, r->first_group));
	return -1;
}

/* Belgian 1.6.0: (time)(kW), or (kW)(time). */
static bool stamp_shape(const struct dsmr_telegram *t, const struct dsmr_record *r)
{
	int g = r->first_group;
	return r->ngroups == 2 && ((dsmr_group_is_timestamp(t, g) && is_number(t, g + 1)) ||
	                           (is_number(t, g) && dsmr_group_is_timestamp(t, g + 1)));
}

static int stamp_write(struct ctx *c, const struct dsmr_record *r)
{
	int g = r->first_group;
	int tg = dsmr_group_is_timestamp(c->t, g) ? g : g + 1;
	int vg = tg == g ? g + 1 : g;
	if (dsmr_group_time_ok(c->t, tg)) {
		put_number(c->w, c->t, vg);
	} else {
		/* No trustworthy time, no value: never a wrong one. */
		struct dsmr_number num;
		dsmr_group_number(c->t, vg, &num);
		JKEY(c->w, "value");
		jw_null(c->w);
		put_unit(c->w, num.unit, num.unitlen);
	}
	return tg;
}

/* (n)(0-0:96.7.19)(end)(duration*s)...: n pairs, or one empty group. */
static bool pflog_shape(const struct dsmr_telegram *t, const struct dsmr_record *r)
{
	int g = r->first_group, n = r->ngroups;
	long count;
	if (n == 1 && glen(t, g) == 0)
		return true;
	if (n < 2 || n % 2 || !series_count(t, g, &count) || count != (n - 2) / 2)
		return false;
	for (int k = g + 2; k < g + n; k += 2)
		if (!dsmr_group_is_timestamp(t, k) || !is_number(t, k + 1))
			return false;
	return true;
}

static size_t pflog_item(struct ctx *c, int k, const char **unit)
{
	struct dsmr_number num;
	bool ok = dsmr_group_time_ok(c->t, k);
	put_time(c->w, "end", gtext(c->t, k), glen(c->t, k));
	JKEY(c->w, "duration");
	dsmr_group_number(c->t, k + 1, &num);
	if (ok)
		put_num(c->w, num.text, num.len);
	else
		jw_null(c->w);
	*unit = num.unit;
	return num.unitlen;
}

static int pflog_write(struct ctx *c, const struct dsmr_record *r)
{
	put_series(c, r, 2, 2, pflog_item);
	return -1;
}

/* Belgian 98.1.0: (n)(1-0:1.6.0)(1-0:1.6.0)(month)(time)(kW)... */
static bool peaks_shape(const struct dsmr_telegram *t, const struct dsmr_record *r)
{
	int g = r->first_group, n = r->ngroups;
	long count;
	uint64_t ref;
	if (n < 3 || !series_count(t, g, &count) || !obis_parse(gtext(t, g + 1), glen(t, g + 1), &ref))
		return false;
	/* No peak yet: (0)(1-0:1.6.0)(1-0:1.6.0)() */
	if (count == 0 && n == 4 && glen(t, g + 3) == 0)
		return true;
	if (count * 3 + 3 != n)
		return false;
	for (int k = g + 3; k < g + n; k += 3)
		if (!dsmr_group_is_timestamp(t, k) || !dsmr_group_is_timestamp(t, k + 1) || !is_number(t, k + 2))
			return false;
	return true;
}

static size_t peaks_item(struct ctx *c, int k, const char **unit)
{
	put_time(c->w, "month", gtext(c->t, k), glen(c->t, k));
	put_time(c->w, "time", gtext(c->t, k + 1), glen(c->t, k + 1));
	JKEY(c->w, "value");
	if (!dsmr_group_time_ok(c->t, k + 1)) {
		jw_null(c->w);
		return 0;
	}
	struct dsmr_number num;
	dsmr_group_number(c->t, k + 2, &num);
	put_num(c->w, num.text, num.len);
	*unit = num.unit;
	return num.unitlen;
}

static int peaks_write(struct ctx *c, const struct dsmr_record *r)
{
	put_series(c, r, 3, 3, peaks_item);
	return -1;
}

static const struct {
	bool (*shape)(const struct dsmr_telegram *t, const struct dsmr_record *r);
	int (*write)(struct ctx *c, const struct dsmr_record *r);
} kinds[OBIS_KINDS] = {
	[OBIS_NUM] = { num_shape, num_write },
	[OBIS_STR] = { one_group, str_write },
	[OBIS_ID] = { one_group, id_write },
	[OBIS_TEXT] = { one_group, text_write },
	[OBIS_TIME] = { time_shape, time_write },
	[OBIS_STAMP] = { stamp_shape, stamp_write },
	[OBIS_PFLOG] = { pflog_shape, pflog_write },
	[OBIS_PEAKS] = { peaks_shape, peaks_write },
};

/* A number, the common case, checked and written in one pass. */
static void write_known_number(struct ctx *c, const struct dsmr_record *r, const struct obis_param *p)
{
	struct dsmr_number num;
	if (r->ngroups != 1 || !dsmr_group_number(c->t, r->first_group, &num)) {
		write_raw(c, r);
		return;
	}
	if (!entry_begin(c, p->name, p->name_hash, r))
		return;
	JKEY(c->w, "value");
	put_num(c->w, num.text, num.len);
	if (num.unitlen) {
		JKEY(c->w, "unit");
		jw_stringn_plain(c->w, num.unit, num.unitlen); /* [A-Za-z0-9%/] only */
	}
	entry_end(c, r, -1, p);
}

static void write_known(struct ctx *c, const struct dsmr_record *r, const struct obis_param *p)
{
	if (p->kind == OBIS_NUM) {
		write_known_number(c, r, p);
		return;
	}
	if (!kinds[p->kind].shape(c->t, r)) {
		write_raw(c, r);
		return;
	}
	if (!entry_begin(c, p->name, p->name_hash, r))
		return;
	int stamp = kinds[p->kind].write(c, r);
	entry_end(c, r, stamp, p);
}

/* ---- M-Bus channels ---- */

static void write_mbus_reading(struct ctx *c, const struct dsmr_record *r, const struct mbus_channel *ch)
{
	struct dsmr_telegram *t = c->t;
	struct jw *w = c->w;
	char name[80];
	int tg, vg, ug;
	if (!mbus_reading_groups(t, r, &tg, &vg, &ug)) {
		write_raw(c, r);
		return;
	}
	mbus_name(ch, MBUS_PROVIDED, name, sizeof name);
	if (!entry_begin(c, name, 0, r))
		return;
	JKEY(w, "value");
	if (dsmr_group_time_ok(t, tg)) {
		struct dsmr_number num;
		dsmr_group_number(t, vg, &num);
		put_num(w, num.text, num.len);
	} else {
		/* No real time: the device has no reading to give. */
		jw_null(w);
	}
	const char *unit;
	size_t un;
	mbus_reading_unit(t, vg, ug, &unit, &un);
	put_unit(w, unit, un);
	entry_end(c, r, tg, NULL);
}

static void write_mbus(struct ctx *c, const struct dsmr_record *r, const struct mbus_channel *ch)
{
	enum mbus_field field = mbus_field_of(r->key);
	if (field == MBUS_PROVIDED) {
		write_mbus_reading(c, r, ch);
		return;
	}
	if (r->ngroups != 1) {
		write_raw(c, r);
		return;
	}
	char name[80];
	mbus_name(ch, field, name, sizeof name);
	/* The device's own name, shaped as the table's parameters are. */
	const struct obis_param p = { .name = name, .obis = "", .unit = "",
		                      .kind = field == MBUS_ID ? OBIS_ID : OBIS_NUM, .name_hash = name_hash(name) };
	write_known(c, r, &p);
}

int dsmr_write_values(struct jw *w, struct dsmr_telegram *t, const struct dsmr_filter *filter)
{
	static struct ctx c;
	struct mbus_channel ch[5];
	c.w = w;
	c.t = t;
	c.filter = filter;
	c.written = 0;
	names_reset(t);
	mbus_scan(t, ch);
	for (int i = 0; i < t->nrec; i++) {
		const struct dsmr_record *r = &t->rec[i];
		if (mbus_is_record(r->key)) {
			write_mbus(&c, r, &ch[r->key >> 32 & 255]);
			continue;
		}
		const struct obis_param *p = obis_lookup(r->key);
		if (p)
			write_known(&c, r, p);
		else
			write_raw(&c, r);
	}
	return c.written;
}

/* ---- the meter object ---- */

static const struct dsmr_record *find(const struct dsmr_telegram *t, uint64_t key)
{
	for (int i = 0; i < t->nrec; i++)
		if (t->rec[i].key == key && t->rec[i].ngroups == 1 && glen(t, t->rec[i].first_group) > 0)
			return &t->rec[i];
	return NULL;
}

void dsmr_write_meter(struct jw *w, const struct dsmr_telegram *t)
{
	static const uint64_t id_keys[] = { OBIS(0, 0, 96, 1, 1), OBIS(0, 0, 96, 1, 0), OBIS(0, 0, 42, 0, 0),
		                            OBIS(0, 0, 96, 1, 255), OBIS(1, 0, 0, 0, 0) };
	static const uint64_t version_keys[] = { OBIS(1, 3, 0, 2, 8), OBIS(0, 0, 96, 1, 4) };
	JKEY(w, "meter");
	jw_object_begin(w);
	for (size_t i = 0; i < sizeof id_keys / sizeof *id_keys; i++) {
		const struct dsmr_record *r = find(t, id_keys[i]);
		if (!r)
			continue;
		const char *s = gtext(t, r->first_group);
		size_t n = glen(t, r->first_group);
		char dec[DSMR_MAX_TELEGRAM / 2];
		int d = n / 2 < sizeof dec && !memchr(s, '\n', n) ? hex_decode(s, n, dec) : -1;
		JKEY(w, "id");
		if (d > 0 && printable_ascii(dec, (size_t)d)) {
			while (d > 0 && dec[d - 1] == ' ')
				d--;
			jw_stringn(w, dec, (size_t)d);
		} else {
			while (n > 0 && s[n - 1] == ' ')
				n--;
			jw_stringn(w, s, n);
		}
		break;
	}
	for (size_t i = 0; i < sizeof version_keys / sizeof *version_keys; i++) {
		const struct dsmr_record *r = find(t, version_keys[i]);
		if (r) {
			JKEY(w, "version");
			jw_stringn(w, gtext(t, r->first_group), glen(t, r->first_group));
			break;
		}
	}
	JKEY(w, "model");
	jw_stringn(w, t->text + t->header.off, t->header.len);
	jw_object_end(w);
}

/* ---- -p and --list ---- */

int dsmr_filter_add(struct dsmr_filter *f, const char *item, char *why, size_t whylen)
{
	if (f->n >= DSMR_FILTER_MAX) {
		snprintf(why, whylen, "more than %d parameters", DSMR_FILTER_MAX);
		return -1;
	}
	uint64_t key;
	size_t n = strlen(item);
	if (n > 0 && obis_parse(item, n, &key) == n) {
		f->item[f->n].is_obis = true;
		f->item[f->n].key = key;
		f->item[f->n].name[0] = '\0';
		f->n++;
		return 0;
	}
	bool known = mbus_name_known(item) || obis_by_name(item);
	if (!known || n >= sizeof f->item[0].name) {
		snprintf(why, whylen, "unknown parameter '%s' (see --list)", item);
		return -1;
	}
	f->item[f->n].is_obis = false;
	f->item[f->n].key = 0;
	memcpy(f->item[f->n].name, item, n + 1);
	f->n++;
	return 0;
}

int dsmr_list_params(FILE *out)
{
	return obis_list(out) < 0 || mbus_list(out) < 0 ? -1 : 0;
}
