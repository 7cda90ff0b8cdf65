/* obis.c: the OBIS table of p1read, M-Bus device naming, and the values of
 * a DSMR reading line.  See dsmr.h. */
#include "meter/dsmr.h"

#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "base/util.h"

enum kind {
	K_NUM,    /* 000671.578*kWh, 01.234kW, 0001 */
	K_STR,    /* as sent */
	K_ID,     /* hex-encoded ASCII: decoded when printable */
	K_TEXT,   /* hex-encoded text message: decoded when UTF-8 */
	K_TIME,   /* YYMMDDhhmmssX */
	K_PFLOG,  /* (n)(0-0:96.7.19)(end)(duration*s)... */
	K_PEAKS,  /* Belgian 98.1.0: (n)(1-0:1.6.0)(1-0:1.6.0)(month)(time)(kW)... */
	K_STAMP,  /* Belgian 1.6.0: (time)(kW), or (kW)(time) */
};

struct param {
	const char *name, *obis, *unit;
	enum kind kind;
	const char *meaning;
	uint64_t key, hash;
};

/* Names follow dsmr_parser and Home Assistant where they have one. */
static struct param params[] = {
	{ "p1_message_header", "1-3:0.2.8", "", K_STR, "DSMR version of the P1 output", 0, 0 },
	{ "version_information", "0-0:96.1.4", "", K_STR, "Belgian e-MUCS version", 0, 0 },
	{ "p1_message_timestamp", "0-0:1.0.0", "", K_TIME, "time the meter made the telegram", 0, 0 },
	{ "equipment_identifier", "0-0:96.1.1", "", K_ID, "equipment identifier", 0, 0 },
	{ "meter_serial_number", "0-0:96.1.0", "", K_ID, "meter serial number (Iskra IE, E.ON HU)", 0, 0 },
	{ "logical_device_name", "0-0:42.0.0", "", K_ID, "logical device name (Luxembourg, Hungary)", 0, 0 },
	{ "device_identifier", "1-0:0.0.0", "", K_STR, "complete device id (EasyMeter Q3D, Iskra IE)", 0, 0 },
	{ "serial_number", "0-0:96.1.255", "", K_STR, "device serial number (EasyMeter Q3D)", 0, 0 },
	{ "equipment_state", "1-0:96.5.5", "", K_STR, "device state, hex (EasyMeter Q3D)", 0, 0 },
	{ "electricity_imported_total", "1-0:1.8.0", "kWh", K_NUM, "energy used, all tariffs", 0, 0 },
	{ "electricity_used_tariff_1", "1-0:1.8.1", "kWh", K_NUM, "energy used in tariff 1", 0, 0 },
	{ "electricity_used_tariff_2", "1-0:1.8.2", "kWh", K_NUM, "energy used in tariff 2", 0, 0 },
	{ "electricity_used_tariff_3", "1-0:1.8.3", "kWh", K_NUM, "energy used in tariff 3", 0, 0 },
	{ "electricity_used_tariff_4", "1-0:1.8.4", "kWh", K_NUM, "energy used in tariff 4", 0, 0 },
	{ "electricity_exported_total", "1-0:2.8.0", "kWh", K_NUM, "energy delivered, all tariffs", 0, 0 },
	{ "electricity_delivered_tariff_1", "1-0:2.8.1", "kWh", K_NUM, "energy delivered in tariff 1", 0, 0 },
	{ "electricity_delivered_tariff_2", "1-0:2.8.2", "kWh", K_NUM, "energy delivered in tariff 2", 0, 0 },
	{ "electricity_delivered_tariff_3", "1-0:2.8.3", "kWh", K_NUM, "energy delivered in tariff 3", 0, 0 },
	{ "electricity_delivered_tariff_4", "1-0:2.8.4", "kWh", K_NUM, "energy delivered in tariff 4", 0, 0 },
	{ "electricity_reactive_imported_total", "1-0:3.8.0", "kvarh", K_NUM, "reactive energy imported", 0, 0 },
	{ "electricity_reactive_imported_tariff_1", "1-0:3.8.1", "kvarh", K_NUM, "reactive energy imported, tariff 1", 0, 0 },
	{ "electricity_reactive_imported_tariff_2", "1-0:3.8.2", "kvarh", K_NUM, "reactive energy imported, tariff 2", 0, 0 },
	{ "electricity_reactive_exported_total", "1-0:4.8.0", "kvarh", K_NUM, "reactive energy exported", 0, 0 },
	{ "electricity_reactive_exported_tariff_1", "1-0:4.8.1", "kvarh", K_NUM, "reactive energy exported, tariff 1", 0, 0 },
	{ "electricity_reactive_exported_tariff_2", "1-0:4.8.2", "kvarh", K_NUM, "reactive energy exported, tariff 2", 0, 0 },
	{ "electricity_reactive_total_q1", "1-0:5.8.0", "kvarh", K_NUM, "reactive energy, quadrant 1", 0, 0 },
	{ "electricity_reactive_total_q2", "1-0:6.8.0", "kvarh", K_NUM, "reactive energy, quadrant 2", 0, 0 },
	{ "electricity_reactive_total_q3", "1-0:7.8.0", "kvarh", K_NUM, "reactive energy, quadrant 3", 0, 0 },
	{ "electricity_reactive_total_q4", "1-0:8.8.0", "kvarh", K_NUM, "reactive energy, quadrant 4", 0, 0 },
	{ "electricity_combined", "1-0:15.8.0", "kWh", K_NUM, "absolute active energy (A+ plus A-)", 0, 0 },
	{ "electricity_active_tariff", "0-0:96.14.0", "", K_NUM, "tariff in use (1 or 2)", 0, 0 },
	{ "current_electricity_usage", "1-0:1.7.0", "kW", K_NUM, "power drawn now", 0, 0 },
	{ "current_electricity_delivery", "1-0:2.7.0", "kW", K_NUM, "power delivered now", 0, 0 },
	{ "current_reactive_imported", "1-0:3.7.0", "kvar", K_NUM, "reactive power imported now", 0, 0 },
	{ "current_reactive_exported", "1-0:4.7.0", "kvar", K_NUM, "reactive power exported now", 0, 0 },
	{ "instantaneous_reactive_power_q1", "1-0:5.7.0", "kvar", K_NUM, "reactive power now, quadrant 1", 0, 0 },
	{ "instantaneous_reactive_power_q2", "1-0:6.7.0", "kvar", K_NUM, "reactive power now, quadrant 2", 0, 0 },
	{ "instantaneous_reactive_power_q3", "1-0:7.7.0", "kvar", K_NUM, "reactive power now, quadrant 3", 0, 0 },
	{ "instantaneous_reactive_power_q4", "1-0:8.7.0", "kvar", K_NUM, "reactive power now, quadrant 4", 0, 0 },
	{ "current_average_demand", "1-0:1.4.0", "kW", K_NUM, "average demand of this quarter hour (Belgium)", 0, 0 },
	{ "maximum_demand_month", "1-0:1.6.0", "kW", K_STAMP, "highest quarter-hour demand this month, with its time (Belgium)", 0, 0 },
	{ "maximum_demand_13_months", "0-0:98.1.0", "kW", K_PEAKS, "highest demand of each of the last 13 months (Belgium)", 0, 0 },
	{ "actual_threshold_electricity", "0-0:17.0.0", "kW", K_NUM, "power limit", 0, 0 },
	{ "actual_switch_position", "0-0:96.3.10", "", K_NUM, "breaker state", 0, 0 },
	{ "short_power_failure_count", "0-0:96.7.21", "", K_NUM, "power failures in any phase", 0, 0 },
	{ "long_power_failure_count", "0-0:96.7.9", "", K_NUM, "long power failures in any phase", 0, 0 },
	{ "power_failure_log", "1-0:99.97.0", "s", K_PFLOG, "long power failures: [{end, duration}]", 0, 0 },
	{ "voltage_sag_l1_count", "1-0:32.32.0", "", K_NUM, "voltage sags in phase L1", 0, 0 },
	{ "voltage_sag_l2_count", "1-0:52.32.0", "", K_NUM, "voltage sags in phase L2", 0, 0 },
	{ "voltage_sag_l3_count", "1-0:72.32.0", "", K_NUM, "voltage sags in phase L3", 0, 0 },
	{ "voltage_swell_l1_count", "1-0:32.36.0", "", K_NUM, "voltage swells in phase L1", 0, 0 },
	{ "voltage_swell_l2_count", "1-0:52.36.0", "", K_NUM, "voltage swells in phase L2", 0, 0 },
	{ "voltage_swell_l3_count", "1-0:72.36.0", "", K_NUM, "voltage swells in phase L3", 0, 0 },
	{ "text_message_code", "0-0:96.13.1", "", K_TEXT, "text message code (hex decoded when text)", 0, 0 },
	{ "text_message", "0-0:96.13.0", "", K_TEXT, "text message (hex decoded when text)", 0, 0 },
	{ "text_message_2", "0-0:96.13.2", "", K_TEXT, "text message 2 (Luxembourg)", 0, 0 },
	{ "text_message_3", "0-0:96.13.3", "", K_TEXT, "text message 3 (Luxembourg)", 0, 0 },
	{ "text_message_4", "0-0:96.13.4", "", K_TEXT, "text message 4 (Luxembourg)", 0, 0 },
	{ "text_message_5", "0-0:96.13.5", "", K_TEXT, "text message 5 (Luxembourg)", 0, 0 },
	{ "instantaneous_voltage_l1", "1-0:32.7.0", "V", K_NUM, "voltage L1", 0, 0 },
	{ "instantaneous_voltage_l2", "1-0:52.7.0", "V", K_NUM, "voltage L2", 0, 0 },
	{ "instantaneous_voltage_l3", "1-0:72.7.0", "V", K_NUM, "voltage L3", 0, 0 },
	{ "instantaneous_current_l1", "1-0:31.7.0", "A", K_NUM, "current L1", 0, 0 },
	{ "instantaneous_current_l2", "1-0:51.7.0", "A", K_NUM, "current L2", 0, 0 },
	{ "instantaneous_current_l3", "1-0:71.7.0", "A", K_NUM, "current L3", 0, 0 },
	{ "instantaneous_active_power_l1_positive", "1-0:21.7.0", "kW", K_NUM, "power drawn on L1", 0, 0 },
	{ "instantaneous_active_power_l2_positive", "1-0:41.7.0", "kW", K_NUM, "power drawn on L2", 0, 0 },
	{ "instantaneous_active_power_l3_positive", "1-0:61.7.0", "kW", K_NUM, "power drawn on L3", 0, 0 },
	{ "instantaneous_active_power_l1_negative", "1-0:22.7.0", "kW", K_NUM, "power delivered on L1", 0, 0 },
	{ "instantaneous_active_power_l2_negative", "1-0:42.7.0", "kW", K_NUM, "power delivered on L2", 0, 0 },
	{ "instantaneous_active_power_l3_negative", "1-0:62.7.0", "kW", K_NUM, "power delivered on L3", 0, 0 },
	{ "instantaneous_reactive_power_l1_positive", "1-0:23.7.0", "kvar", K_NUM, "reactive power imported on L1", 0, 0 },
	{ "instantaneous_reactive_power_l1_negative", "1-0:24.7.0", "kvar", K_NUM, "reactive power exported on L1", 0, 0 },
	{ "instantaneous_reactive_power_l2_positive", "1-0:43.7.0", "kvar", K_NUM, "reactive power imported on L2", 0, 0 },
	{ "instantaneous_reactive_power_l2_negative", "1-0:44.7.0", "kvar", K_NUM, "reactive power exported on L2", 0, 0 },
	{ "instantaneous_reactive_power_l3_positive", "1-0:63.7.0", "kvar", K_NUM, "reactive power imported on L3", 0, 0 },
	{ "instantaneous_reactive_power_l3_negative", "1-0:64.7.0", "kvar", K_NUM, "reactive power exported on L3", 0, 0 },
	{ "instantaneous_power_factor", "1-0:13.7.0", "", K_NUM, "power factor", 0, 0 },
	{ "instantaneous_power_factor_l1", "1-0:33.7.0", "", K_NUM, "power factor L1", 0, 0 },
	{ "instantaneous_power_factor_l2", "1-0:53.7.0", "", K_NUM, "power factor L2", 0, 0 },
	{ "instantaneous_power_factor_l3", "1-0:73.7.0", "", K_NUM, "power factor L3", 0, 0 },
	{ "frequency", "1-0:14.7.0", "Hz", K_NUM, "grid frequency", 0, 0 },
	{ "max_current_l1", "1-0:31.4.0", "A", K_NUM, "current limit L1 (Belgium, Hungary)", 0, 0 },
	{ "max_current_l2", "1-0:51.4.0", "A", K_NUM, "current limit L2 (Hungary)", 0, 0 },
	{ "max_current_l3", "1-0:71.4.0", "A", K_NUM, "current limit L3 (Hungary)", 0, 0 },
};
#define NPARAMS (sizeof params / sizeof *params)

/* M-Bus devices on channels 1-4 are named by the device type they report
 * in 0-n:24.1.0 (EN 13757-3), never by their channel. */
struct mbus_kind {
	int type;
	const char *base, *unit, *meaning;
};
static const struct mbus_kind mbus_kinds[] = {
	{ 3, "gas", "m3", "gas" },
	{ 7, "water", "m3", "water" },
	{ 4, "heat", "GJ", "heat (outlet)" },
	{ 12, "heat_cold", "GJ", "heat/cold (inlet)" },
	{ 13, "heat_cold", "GJ", "heat/cooling" },
	{ 6, "warm_water", "m3", "warm water" },
	{ 22, "cold_water", "m3", "cold water" },
	{ 10, "cold", "GJ", "cooling (outlet)" },
	{ 11, "cold", "GJ", "cooling (inlet)" },
	{ 2, "electricity_mbus", "kWh", "electricity sub-meter" },
};
#define NMBUS (sizeof mbus_kinds / sizeof *mbus_kinds)

static const struct {
	const char *suffix, *obis, *meaning;
} mbus_fields[] = {
	{ "_provided", "0-n:24.2.1", "reading, with the time the device took it (24.2.1, 24.2.3, or 24.3.0 in DSMR 2.2/3)" },
	{ "_equipment_identifier", "0-n:96.1.0", "equipment identifier (96.1.0 or 96.1.1)" },
	{ "_valve_position", "0-n:24.4.0", "valve position" },
	{ "_device_type", "0-n:24.1.0", "M-Bus device type" },
};
#define NFIELDS (sizeof mbus_fields / sizeof *mbus_fields)

enum { MF_PROVIDED, MF_ID, MF_VALVE, MF_TYPE };

/* A key of the reading line written as is: it needs no escaping. */
#define JKEY(w, lit) jw_keyn_plain(w, lit, sizeof lit - 1)

#define KEY(a, b, c, d, e) ((uint64_t)(a) << 40 | (uint64_t)(b) << 32 | (uint64_t)(c) << 24 | (uint64_t)(d) << 16 | (uint64_t)(e) << 8 | 255)
#define CDE(key) ((uint32_t)((key) >> 8 & 0xffffff))
#define CDE3(c, d, e) ((uint32_t)(c) << 16 | (uint32_t)(d) << 8 | (uint32_t)(e))

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static const struct param *sorted[NPARAMS];

static int by_key(const void *a, const void *b)
{
	uint64_t x = (*(const struct param *const *)a)->key, y = (*(const struct param *const *)b)->key;
	return x < y ? -1 : x > y;
}

static void table_init(void)
{
	static bool ready;
	if (ready)
		return;
	for (size_t i = 0; i < NPARAMS; i++) {
		dsmr_obis_parse(params[i].obis, strlen(params[i].obis), &params[i].key);
		params[i].hash = name_hash(params[i].name);
		sorted[i] = &params[i];
	}
	qsort(sorted, NPARAMS, sizeof *sorted, by_key);
	ready = true;
}

static const struct param *lookup(uint64_t key)
{
	size_t lo = 0, hi = NPARAMS;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (sorted[mid]->key == key)
			return sorted[mid];
		if (sorted[mid]->key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- small text helpers ---- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* "000671.578*kWh", "01.234kW", "0001", "2147483647*s": the number as JSON
 * text in num (n + 2 bytes) and the unit (maybe empty).  False when the
 * group is not a number. */
static bool split_number(const char *s, size_t n, char *num, int *numlen, const char **unit, size_t *unitlen)
{
	size_t i = 0;
	while (i < n && (is_digit(s[i]) || s[i] == '.' || ((s[i] == '-' || s[i] == '+') && i == 0)))
		i++;
	if (i == 0)
		return false;
	int len = num_to_json(s, i, num);
	if (len < 0)
		return false;
	size_t u = i;
	if (u < n && s[u] == '*')
		u++;
	else if (u < n && !((s[u] >= 'A' && s[u] <= 'Z') || (s[u] >= 'a' && s[u] <= 'z')))
		return false;
	for (size_t k = u; k < n; k++) {
		char c = s[k];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '%' || c == '/'))
			return false;
	}
	*numlen = len;
	*unit = s + u;
	*unitlen = n - u;
	return true;
}

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
static bool utf8_text(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
				return false;
			i++;
			continue;
		}
		size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
		if (len == 0 || i + len > n)
			return false;
		unsigned char lo = 0x80, hi = 0xBF;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
		else if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k < len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				return false;
		i += len;
	}
	return true;
}

static bool is_timestamp(const char *s, size_t n)
{
	if (n != 12 && n != 13)
		return false;
	for (size_t i = 0; i < 12; i++)
		if (!is_digit(s[i]))
			return false;
	return n == 12 || s[12] == 'S' || s[12] == 'W' || s[12] == 's' || s[12] == 'w';
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

static const char *gtext(const struct dsmr_telegram *t, int g) { return t->text + t->grp[g].off; }
static size_t glen(const struct dsmr_telegram *t, int g) { return t->grp[g].len; }

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
		dsmr_obis_format(r->key, obis);
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

/* Closes the entry: "obis", then "time" when the meter stamped the value
 * itself (tg >= 0: the group with its timestamp). */
static void entry_end_obis(struct ctx *c, const struct dsmr_record *r, int tg, const struct param *p)
{
	JKEY(c->w, "obis");
	if (p && p->obis[0]) {
		jw_stringn_plain(c->w, p->obis, strlen(p->obis));
	} else {
		char obis[32];
		size_t n = dsmr_obis_format(r->key, obis);
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

static void entry_end(struct ctx *c, const struct dsmr_record *r, int tg)
{
	entry_end_obis(c, r, tg, NULL);
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

/* "value" (and "unit") of a group that should be a number; null if not. */
static void put_number(struct jw *w, const struct dsmr_telegram *t, int g, bool with_unit)
{
	char num[64];
	const char *unit;
	size_t unitlen;
	int numlen;
	const char *s = gtext(t, g);
	size_t n = glen(t, g);
	JKEY(w, "value");
	if (n + 2 <= sizeof num && split_number(s, n, num, &numlen, &unit, &unitlen)) {
		put_num(w, num, numlen);
		if (with_unit)
			put_unit(w, unit, unitlen);
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

static bool group_is_number(const struct dsmr_telegram *t, int g)
{
	char num[64];
	const char *unit;
	size_t unitlen;
	int numlen;
	return glen(t, g) + 2 <= sizeof num && split_number(gtext(t, g), glen(t, g), num, &numlen, &unit, &unitlen);
}

static void unit_of(const struct dsmr_telegram *t, int g, const char **unit, size_t *n)
{
	char num[64];
	int numlen;
	*n = 0;
	if (glen(t, g) + 2 > sizeof num || !split_number(gtext(t, g), glen(t, g), num, &numlen, unit, n))
		*n = 0;
}

/* An unknown code, or a known one whose value has an unexpected shape:
 * keyed by its OBIS code.  One group: a number (with its unit) or the
 * text; several: the array of their texts. */
static void write_raw(struct ctx *c, const struct dsmr_record *r)
{
	char obis[32];
	dsmr_obis_format(r->key, obis);
	if (!entry_begin(c, obis, 0, r))
		return;
	struct jw *w = c->w;
	if (r->ngroups == 1 && group_is_number(c->t, r->first_group)) {
		put_number(w, c->t, r->first_group, true);
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
	entry_end(c, r, -1);
}

static bool shape_ok(const struct dsmr_telegram *t, const struct dsmr_record *r, enum kind kind)
{
	int g = r->first_group, n = r->ngroups;
	switch (kind) {
	case K_NUM:
		return n == 1 && group_is_number(t, g);
	case K_STR:
	case K_ID:
	case K_TEXT:
		return n == 1;
	case K_TIME:
		return n == 1 && is_timestamp(gtext(t, g), glen(t, g));
	case K_STAMP:
		return n == 2 && ((is_timestamp(gtext(t, g), glen(t, g)) && group_is_number(t, g + 1)) ||
		                  (group_is_number(t, g) && is_timestamp(gtext(t, g + 1), glen(t, g + 1))));
	case K_PFLOG: {
		if (n == 1 && glen(t, g) == 0)
			return true;
		char num[16];
		if (n < 2 || n % 2 || glen(t, g) > 8 || num_to_json(gtext(t, g), glen(t, g), num) < 0)
			return false;
		if (strchr(num, '.') || num[0] == '-' || atol(num) != (n - 2) / 2)
			return false;
		for (int k = g + 2; k < g + n; k += 2)
			if (!is_timestamp(gtext(t, k), glen(t, k)) || !group_is_number(t, k + 1))
				return false;
		return true;
	}
	case K_PEAKS: {
		char num[16];
		uint64_t ref;
		if (n < 3 || glen(t, g) > 8 || num_to_json(gtext(t, g), glen(t, g), num) < 0)
			return false;
		if (strchr(num, '.') || num[0] == '-' || !dsmr_obis_parse(gtext(t, g + 1), glen(t, g + 1), &ref))
			return false;
		/* No peak yet: (0)(1-0:1.6.0)(1-0:1.6.0)() */
		if (atol(num) == 0 && n == 4 && glen(t, g + 3) == 0)
			return true;
		if (atol(num) * 3 + 3 != n)
			return false;
		for (int k = g + 3; k < g + n; k += 3)
			if (!is_timestamp(gtext(t, k), glen(t, k)) || !is_timestamp(gtext(t, k + 1), glen(t, k + 1)) ||
			    !group_is_number(t, k + 2))
				return false;
		return true;
	}
	}
	return false;
}

static bool time_ok(const char *s, size_t n)
{
	char iso[26];
	return dsmr_time_to_rfc3339(s, n, iso) == 0;
}

static void write_known(struct ctx *c, const struct dsmr_record *r, const struct param *p)
{
	struct dsmr_telegram *t = c->t;
	struct jw *w = c->w;
	int g = r->first_group;
	if (p->kind == K_NUM) {
		/* The common case, checked and written in one pass. */
		char num[64];
		const char *unit;
		size_t unitlen;
		int numlen;
		if (r->ngroups != 1 || glen(t, g) + 2 > sizeof num ||
		    !split_number(gtext(t, g), glen(t, g), num, &numlen, &unit, &unitlen)) {
			write_raw(c, r);
			return;
		}
		if (!entry_begin(c, p->name, p->hash, r))
			return;
		JKEY(w, "value");
		put_num(w, num, numlen);
		if (unitlen) {
			JKEY(w, "unit");
			jw_stringn_plain(w, unit, unitlen); /* [A-Za-z0-9%/] only */
		}
		entry_end_obis(c, r, -1, p);
		return;
	}
	if (!shape_ok(t, r, p->kind)) {
		write_raw(c, r);
		return;
	}
	if (!entry_begin(c, p->name, p->hash, r))
		return;
	int stamp = -1;
	switch (p->kind) {
	case K_NUM:
		put_number(w, t, g, true);
		break;
	case K_STR: {
		size_t n;
		const char *s = flat(c, g, &n);
		JKEY(w, "value");
		jw_stringn(w, s, n);
		break;
	}
	case K_ID:
	case K_TEXT: {
		size_t n;
		const char *s = flat(c, g, &n);
		char *dec = c->decoded;
		int d = n / 2 < sizeof c->decoded ? hex_decode(s, n, dec) : -1;
		JKEY(w, "value");
		if (d >= 0 && p->kind == K_ID && printable_ascii(dec, (size_t)d)) {
			while (d > 0 && dec[d - 1] == ' ')
				d--;
			jw_stringn(w, dec, (size_t)d);
		} else if (d >= 0 && p->kind == K_TEXT && utf8_text(dec, (size_t)d)) {
			jw_stringn(w, dec, (size_t)d);
		} else {
			jw_stringn(w, s, n);
		}
		break;
	}
	case K_TIME: {
		char iso[26];
		JKEY(w, "value");
		if (dsmr_time_to_rfc3339(gtext(t, g), glen(t, g), iso) == 0)
			jw_stringn_plain(w, iso, 25);
		else
			jw_null(w);
		break;
	}
	case K_STAMP: {
		int tg = is_timestamp(gtext(t, g), glen(t, g)) ? g : g + 1;
		int vg = tg == g ? g + 1 : g;
		if (time_ok(gtext(t, tg), glen(t, tg))) {
			put_number(w, t, vg, true);
		} else {
			/* No trustworthy time, no value: never a wrong one. */
			const char *unit;
			size_t un;
			unit_of(t, vg, &unit, &un);
			JKEY(w, "value");
			jw_null(w);
			put_unit(w, unit, un);
		}
		stamp = tg;
		break;
	}
	case K_PFLOG: {
		const char *unit = NULL;
		size_t un = 0;
		JKEY(w, "value");
		jw_array_begin(w);
		for (int k = g + 2; k + 1 < g + r->ngroups; k += 2) {
			jw_object_begin(w);
			bool ok = time_ok(gtext(t, k), glen(t, k));
			put_time(w, "end", gtext(t, k), glen(t, k));
			JKEY(w, "duration");
			char num[64];
			int nl;
			const char *u;
			size_t ul;
			split_number(gtext(t, k + 1), glen(t, k + 1), num, &nl, &u, &ul);
			if (ok)
				put_num(w, num, nl);
			else
				jw_null(w);
			if (!un && ul) {
				unit = u;
				un = ul;
			}
			jw_object_end(w);
		}
		jw_array_end(w);
		put_unit(w, unit, un);
		break;
	}
	case K_PEAKS: {
		const char *unit = NULL;
		size_t un = 0;
		JKEY(w, "value");
		jw_array_begin(w);
		for (int k = g + 3; k + 2 < g + r->ngroups; k += 3) {
			jw_object_begin(w);
			put_time(w, "month", gtext(t, k), glen(t, k));
			put_time(w, "time", gtext(t, k + 1), glen(t, k + 1));
			if (time_ok(gtext(t, k + 1), glen(t, k + 1))) {
				char num[64];
				int nl;
				const char *u;
				size_t ul;
				split_number(gtext(t, k + 2), glen(t, k + 2), num, &nl, &u, &ul);
				JKEY(w, "value");
				put_num(w, num, nl);
				if (!un && ul) {
					unit = u;
					un = ul;
				}
			} else {
				JKEY(w, "value");
				jw_null(w);
			}
			jw_object_end(w);
		}
		jw_array_end(w);
		put_unit(w, unit, un);
		break;
	}
	}
	entry_end_obis(c, r, stamp, p);
}

/* ---- M-Bus channels ---- */

struct channel {
	int type;                 /* from 24.1.0, -1 when none */
	int reading;              /* record index of the reading, -1 */
	bool live;                /* the reading has a real time */
	bool used;                /* any record on this channel */
	char base[24];            /* "gas", "water", "mbus_type_9", ... */
	int index;                /* 1 for the first of its base, 2, ... */
};

static bool is_mbus_record(uint64_t key)
{
	unsigned a = (unsigned)(key >> 40 & 255), b = (unsigned)(key >> 32 & 255);
	if (a != 0 || b < 1 || b > 4 || (key & 255) != 255)
		return false;
	switch (CDE(key)) {
	case CDE3(24, 1, 0):
	case CDE3(96, 1, 0):
	case CDE3(96, 1, 1):
	case CDE3(24, 2, 1):
	case CDE3(24, 2, 3):
	case CDE3(24, 3, 0):
	case CDE3(24, 4, 0):
		return true;
	}
	return false;
}

static bool is_reading_code(uint32_t cde)
{
	return cde == CDE3(24, 2, 1) || cde == CDE3(24, 2, 3) || cde == CDE3(24, 3, 0);
}

/* Time, value and unit groups of a reading record (ug -1: the unit is in
 * the value group); false when its shape is not one we know:
 * (time)(value*unit), or 2.2/3's (time)(00)(60)(1)(0-n:24.2.1)(unit) on
 * one line and (value) on the next. */
static bool reading_groups(const struct dsmr_telegram *t, const struct dsmr_record *r, int *tg, int *vg, int *ug)
{
	int g = r->first_group;
	if (CDE(r->key) == CDE3(24, 3, 0)) {
		if (r->ngroups != 7 || !is_timestamp(gtext(t, g), glen(t, g)) || !group_is_number(t, g + 6))
			return false;
		*tg = g, *vg = g + 6, *ug = g + 5;
		return true;
	}
	if (r->ngroups != 2 || !is_timestamp(gtext(t, g), glen(t, g)) || !group_is_number(t, g + 1))
		return false;
	*tg = g, *vg = g + 1, *ug = -1;
	return true;
}

static void reading_unit(const struct dsmr_telegram *t, int vg, int ug, const char **unit, size_t *un)
{
	if (ug >= 0) {
		*unit = gtext(t, ug);
		*un = glen(t, ug);
	} else {
		unit_of(t, vg, unit, un);
	}
}

static void base_of(const struct dsmr_telegram *t, const struct channel *ch, char *out, size_t n)
{
	for (size_t i = 0; i < NMBUS; i++)
		if (mbus_kinds[i].type == ch->type) {
			snprintf(out, n, "%s", mbus_kinds[i].base);
			return;
		}
	if (ch->type >= 0) {
		snprintf(out, n, "mbus_type_%d", ch->type);
		return;
	}
	/* No type record: the unit decides (m3 is most likely gas). */
	const char *unit = "";
	size_t un = 0;
	int tg, vg, ug;
	if (ch->reading >= 0 && reading_groups(t, &t->rec[ch->reading], &tg, &vg, &ug))
		reading_unit(t, vg, ug, &unit, &un);
	if (un == 2 && strncasecmp(unit, "m3", 2) == 0)
		snprintf(out, n, "gas");
	else if ((un == 2 && strncmp(unit, "GJ", 2) == 0) || (un == 3 && (strncmp(unit, "kWh", 3) == 0 || strncmp(unit, "MWh", 3) == 0)))
		snprintf(out, n, "heat");
	else
		snprintf(out, n, "mbus");
}

static void channels_scan(const struct dsmr_telegram *t, struct channel ch[5])
{
	for (int b = 1; b <= 4; b++) {
		ch[b].type = -1;
		ch[b].reading = -1;
		ch[b].live = false;
		ch[b].used = false;
		ch[b].index = 0;
		ch[b].base[0] = '\0';
	}
	for (int i = 0; i < t->nrec; i++) {
		const struct dsmr_record *r = &t->rec[i];
		if (!is_mbus_record(r->key))
			continue;
		struct channel *c = &ch[r->key >> 32 & 255];
		c->used = true;
		uint32_t cde = CDE(r->key);
		if (cde == CDE3(24, 1, 0) && r->ngroups == 1 && c->type < 0) {
			char num[16];
			const char *s = gtext(t, r->first_group);
			size_t n = glen(t, r->first_group);
			if (n > 0 && n < 8 && strspn(s, "0123456789") >= n && num_to_json(s, n, num) > 0)
				c->type = atoi(num);
		} else if (is_reading_code(cde) && c->reading < 0) {
			int tg, vg, ug;
			c->reading = i;
			c->live = reading_groups(t, r, &tg, &vg, &ug) && time_ok(gtext(t, tg), glen(t, tg));
		}
	}
	/* Devices with a live reading are numbered first, in channel order,
	 * then the others: a dead channel 1 must not push the real gas meter
	 * on channel 2 to gas_provided_2. */
	for (int pass = 0; pass < 2; pass++) {
		for (int b = 1; b <= 4; b++) {
			struct channel *c = &ch[b];
			if (!c->used || c->live != (pass == 0))
				continue;
			base_of(t, c, c->base, sizeof c->base);
			c->index = 1;
			for (int o = 1; o <= 4; o++)
				if (o != b && ch[o].index && strcmp(ch[o].base, c->base) == 0)
					c->index++;
		}
	}
}

static void mbus_name(const struct channel *c, int field, char *out, size_t n)
{
	if (c->index > 1)
		snprintf(out, n, "%s%s_%d", c->base, mbus_fields[field].suffix, c->index);
	else
		snprintf(out, n, "%s%s", c->base, mbus_fields[field].suffix);
}

static void write_mbus(struct ctx *c, const struct dsmr_record *r, const struct channel *ch)
{
	struct dsmr_telegram *t = c->t;
	struct jw *w = c->w;
	uint32_t cde = CDE(r->key);
	char name[80];
	if (is_reading_code(cde)) {
		int tg, vg, ug;
		if (!reading_groups(t, r, &tg, &vg, &ug)) {
			write_raw(c, r);
			return;
		}
		mbus_name(ch, MF_PROVIDED, name, sizeof name);
		if (!entry_begin(c, name, 0, r))
			return;
		JKEY(w, "value");
		if (time_ok(gtext(t, tg), glen(t, tg))) {
			char num[64];
			int nl;
			const char *u;
			size_t ul;
			split_number(gtext(t, vg), glen(t, vg), num, &nl, &u, &ul);
			put_num(w, num, nl);
		} else {
			/* No real time: the device has no reading to give. */
			jw_null(w);
		}
		const char *unit;
		size_t un;
		reading_unit(t, vg, ug, &unit, &un);
		put_unit(w, unit, un);
		entry_end(c, r, tg);
		return;
	}
	if (r->ngroups != 1) {
		write_raw(c, r);
		return;
	}
	int field = cde == CDE3(24, 1, 0) ? MF_TYPE : cde == CDE3(24, 4, 0) ? MF_VALVE : MF_ID;
	mbus_name(ch, field, name, sizeof name);
	struct param p = { name, "", "", field == MF_ID ? K_ID : K_NUM, "", 0, 0 };
	write_known(c, r, &p);
}

int dsmr_write_values(struct jw *w, struct dsmr_telegram *t, const struct dsmr_filter *filter)
{
	static struct ctx c;
	struct channel ch[5];
	table_init();
	c.w = w;
	c.t = t;
	c.filter = filter;
	c.written = 0;
	names_reset(t);
	channels_scan(t, ch);
	for (int i = 0; i < t->nrec; i++) {
		const struct dsmr_record *r = &t->rec[i];
		if (is_mbus_record(r->key)) {
			write_mbus(&c, r, &ch[r->key >> 32 & 255]);
			continue;
		}
		const struct param *p = lookup(r->key);
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
	static const uint64_t id_keys[] = { KEY(0, 0, 96, 1, 1), KEY(0, 0, 96, 1, 0), KEY(0, 0, 42, 0, 0),
		                            KEY(0, 0, 96, 1, 255), KEY(1, 0, 0, 0, 0) };
	static const uint64_t version_keys[] = { KEY(1, 3, 0, 2, 8), KEY(0, 0, 96, 1, 4) };
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

static bool mbus_name_known(const char *name)
{
	for (size_t f = 0; f < NFIELDS; f++) {
		const char *suf = strstr(name, mbus_fields[f].suffix);
		if (!suf || suf == name)
			continue;
		const char *rest = suf + strlen(mbus_fields[f].suffix);
		if (*rest == '_') {
			rest++;
			if (!*rest || strspn(rest, "0123456789") != strlen(rest))
				continue;
		} else if (*rest) {
			continue;
		}
		size_t blen = (size_t)(suf - name);
		for (size_t k = 0; k < NMBUS; k++)
			if (strlen(mbus_kinds[k].base) == blen && strncmp(mbus_kinds[k].base, name, blen) == 0)
				return true;
		if ((blen == 4 && strncmp(name, "mbus", 4) == 0) || (blen > 10 && strncmp(name, "mbus_type_", 10) == 0 &&
		                                                     strspn(name + 10, "0123456789") == blen - 10))
			return true;
	}
	return false;
}

int dsmr_filter_add(struct dsmr_filter *f, const char *item, char *why, size_t whylen)
{
	table_init();
	if (f->n >= DSMR_FILTER_MAX) {
		snprintf(why, whylen, "more than %d parameters", DSMR_FILTER_MAX);
		return -1;
	}
	uint64_t key;
	size_t n = strlen(item);
	if (n > 0 && dsmr_obis_parse(item, n, &key) == n) {
		f->item[f->n].is_obis = true;
		f->item[f->n].key = key;
		f->item[f->n].name[0] = '\0';
		f->n++;
		return 0;
	}
	bool known = mbus_name_known(item);
	for (size_t i = 0; !known && i < NPARAMS; i++)
		known = strcmp(params[i].name, item) == 0;
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

void dsmr_list_params(FILE *out)
{
	for (size_t i = 0; i < NPARAMS; i++)
		fprintf(out, "%s\t%s\t%s\t%s\n", params[i].name, params[i].obis, params[i].unit[0] ? params[i].unit : "-",
		        params[i].meaning);
	for (size_t k = 0; k < NMBUS; k++) {
		if (k > 0 && strcmp(mbus_kinds[k].base, mbus_kinds[k - 1].base) == 0)
			continue;
		for (size_t f = 0; f < NFIELDS; f++)
			fprintf(out, "%s%s\t%s\t%s\t%s %s (M-Bus device type %d, any channel n 1-4)\n", mbus_kinds[k].base,
			        mbus_fields[f].suffix, mbus_fields[f].obis, f == MF_PROVIDED ? mbus_kinds[k].unit : "-",
			        mbus_kinds[k].meaning, mbus_fields[f].meaning, mbus_kinds[k].type);
	}
}
