/* p1gen.c: the simulated P1 meter behind p1sim.  See p1gen.h.
 *
 * The layouts follow real telegrams (the corpus in ../shared/corpus/dsmr):
 * DSMR 2.2 like an Iskra MT382 (no CRC, the two-line 0-1:24.3.0 gas
 * record), 4.2 like a Kaifa, 5.0 like an Iskra MT382/AM550, and Fluvius
 * like a Sagemcom S211 (1-0:1.4.0, 1-0:1.6.0 and the 0-0:98.1.0 list of
 * monthly peaks).  Number widths are the spec's: F9(3) for energy, F5(3)
 * for power, and so on. */
#include "meter/p1gen.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "base/util.h"

void p1rng_seed(struct p1rng *r, uint64_t seed)
{
	r->s = seed;
}

uint64_t p1rng_next(struct p1rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

double p1rng_unit(struct p1rng *r)
{
	return (double)(p1rng_next(r) >> 11) * 0x1.0p-53;
}

long p1rng_range(struct p1rng *r, long lo, long hi)
{
	return lo + (long)(p1rng_next(r) % (uint64_t)(hi - lo + 1));
}

static const struct p1profile profiles[] = {
	{ "22", P1_DSMR22, { MBUS_GAS, MBUS_NONE }, 0.1, "9600:7E1",
	  "DSMR 2.2 (Iskra MT382): no CRC, hourly gas in the two-line 0-1:24.3.0 record" },
	{ "42", P1_DSMR42, { MBUS_GAS, MBUS_NONE }, 0.1, "115200:8N1",
	  "DSMR 4.2 (Kaifa): CRC, gas on channel 1 stamped on the hour" },
	{ "50", P1_DSMR50, { MBUS_GAS, MBUS_NONE }, 1, "115200:8N1",
	  "DSMR 5.0 (Iskra MT382): CRC, voltages, gas on channel 1 every 5 minutes" },
	{ "50-nogas", P1_DSMR50, { MBUS_NONE, MBUS_NONE }, 1, "115200:8N1",
	  "DSMR 5.0 without M-Bus devices" },
	{ "50-2mbus", P1_DSMR50, { MBUS_GAS, MBUS_WATER }, 1, "115200:8N1",
	  "DSMR 5.0, gas on channel 1 and water on channel 2" },
	{ "50-gas2", P1_DSMR50, { MBUS_DEAD, MBUS_GAS }, 1, "115200:8N1",
	  "DSMR 5.0, a dead device on channel 1 and gas on channel 2" },
	{ "be", P1_FLUVIUS, { MBUS_GAS, MBUS_NONE }, 1, "115200:8N1",
	  "Belgian e-MUCS (Fluvius): capacity tariff 1-0:1.4.0, 1-0:1.6.0, 0-0:98.1.0 peaks, gas 0-1:24.2.3" },
	{ "be-2mbus", P1_FLUVIUS, { MBUS_GAS, MBUS_WATER }, 1, "115200:8N1",
	  "Belgian e-MUCS (Fluvius) with gas on channel 1 and water on channel 2" },
	{ "lux", P1_SMARTY, { MBUS_NONE, MBUS_NONE }, 0.1, "115200:8N1",
	  "Luxembourg Smarty (Sagemcom T210-D): DLMS/GCM-encrypted, key from --key-file or $P1_KEY" },
	{ "at-t210", P1_T210, { MBUS_NONE, MBUS_NONE }, 1, "115200:8N1",
	  "Austrian Sagemcom T210-D-r: Wh and var, DLMS/GCM-encrypted, set the operator's authentication key" },
};

bool p1profile_sealed(const struct p1profile *prof)
{
	return prof->dialect == P1_SMARTY || prof->dialect == P1_T210;
}

const struct p1profile *p1profile_find(const char *name)
{
	for (size_t i = 0; i < sizeof profiles / sizeof *profiles; i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

void p1profile_list(FILE *out)
{
	for (size_t i = 0; i < sizeof profiles / sizeof *profiles; i++)
		fprintf(out, "%-9s %-10s %5g/s  %s\n", profiles[i].name, profiles[i].line, profiles[i].rate,
		        profiles[i].about);
}

/* ---- the meter's clock: CET/CEST by the EU rule, no tz database ---- */

/* Summer time runs from 01:00 UTC on the last Sunday of March to 01:00 UTC
 * on the last Sunday of October. */
static int64_t last_sunday_1am(int year, int mon)
{
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon, .tm_mday = 31, .tm_hour = 1 };
	time_t t = timegm(&tm);
	struct tm g;
	gmtime_r(&t, &g);
	return (int64_t)t - (int64_t)g.tm_wday * 86400;
}

bool eu_summer_time(int64_t utc_s)
{
	time_t t = (time_t)utc_s;
	struct tm g;
	gmtime_r(&t, &g);
	int year = g.tm_year + 1900;
	/* Every telegram asks many times: remember the last year's bounds. */
	static int cached_year;
	static int64_t begins, ends;
	if (year != cached_year) {
		begins = last_sunday_1am(year, 2);
		ends = last_sunday_1am(year, 9);
		cached_year = year;
	}
	return utc_s >= begins && utc_s < ends;
}

static int64_t local_of(int64_t utc_s)
{
	return utc_s + 3600 + (eu_summer_time(utc_s) ? 3600 : 0);
}

static int64_t utc_of_local(int64_t local_s)
{
	int64_t summer = local_s - 7200;
	return eu_summer_time(summer) ? summer : local_s - 3600;
}

static struct tm local_tm(int64_t utc_s)
{
	time_t t = (time_t)local_of(utc_s);
	struct tm tm;
	gmtime_r(&t, &tm);
	return tm;
}

void p1_stamp(int64_t utc_s, bool flag, char out[14])
{
	struct tm tm = local_tm(utc_s);
	char text[80];
	snprintf(text, sizeof text, "%02d%02d%02d%02d%02d%02d", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec);
	memcpy(out, text, 12);
	out[12] = '\0';
	if (flag) {
		out[12] = eu_summer_time(utc_s) ? 'S' : 'W';
		out[13] = '\0';
	}
}

static int month_key_of(int64_t utc_s)
{
	struct tm tm = local_tm(utc_s);
	return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

/* UTC second of local midnight starting the month with that key. */
static int64_t month_start(int key)
{
	struct tm tm = { .tm_year = key / 12 - 1900, .tm_mon = key % 12, .tm_mday = 1 };
	return utc_of_local((int64_t)timegm(&tm));
}

/* Tariff 1 is the low tariff in the Netherlands (nights and weekends) but
 * the day tariff in Belgium. */
static int tariff_at(const struct p1meter *m, int64_t utc_s)
{
	struct tm tm = local_tm(utc_s);
	bool workday = tm.tm_wday >= 1 && tm.tm_wday <= 5;
	if (m->prof->dialect == P1_FLUVIUS)
		return workday && tm.tm_hour >= 7 && tm.tm_hour < 22 ? 1 : 2;
	return workday && tm.tm_hour >= 7 && tm.tm_hour < 23 ? 2 : 1;
}

/* ---- the household ---- */

static long solar_at(const struct p1meter *m, int64_t utc_s)
{
	if (m->set.solar_w <= 0)
		return 0;
	struct tm tm = local_tm(utc_s);
	double hour = tm.tm_hour + tm.tm_min / 60.0 + tm.tm_sec / 3600.0;
	if (hour <= 7 || hour >= 19)
		return 0;
	return lround((double)m->set.solar_w * sin(M_PI * (hour - 7) / 12));
}

static long clamp(long v, long lo, long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The power of the interval ending at t_ms: base load with a slow drift,
 * now and then an appliance (a kettle, a washing machine), minus the sun. */
static void choose_power(struct p1meter *m, int64_t t_ms, int64_t dt_ms)
{
	long base = m->set.power_w;
	m->walk_w = clamp(m->walk_w + p1rng_range(&m->rng, -base / 40 - 1, base / 40 + 1), -base / 4, base / 4);
	if (t_ms >= m->appliance_until_ms && p1rng_unit(&m->rng) < (double)dt_ms / 600000.0) {
		static const long appliances[] = { 800, 1200, 2000, 2200 };
		m->appliance_w = appliances[p1rng_range(&m->rng, 0, 3)];
		m->appliance_until_ms = t_ms + p1rng_range(&m->rng, 30, 600) * 1000;
	}
	long load = base + m->walk_w + (t_ms < m->appliance_until_ms ? m->appliance_w : 0);
	long net = clamp(load, 0, 99999) - solar_at(m, t_ms / 1000);
	long imp = clamp(net, 0, 99999), exp = clamp(-net, 0, 99999);
	if (m->prof->dialect == P1_DSMR22) {
		/* 2.2 shows kW with two decimals: keep the power what it shows. */
		imp -= imp % 10;
		exp -= exp % 10;
	}
	m->import_w = imp;
	m->export_w = exp;
	/* Split over three phases, 50/30/20, so the phases add up exactly. */
	m->phase_import_w[0] = imp / 2;
	m->phase_import_w[1] = imp * 3 / 10;
	m->phase_import_w[2] = imp - m->phase_import_w[0] - m->phase_import_w[1];
	m->phase_export_w[0] = exp / 2;
	m->phase_export_w[1] = exp * 3 / 10;
	m->phase_export_w[2] = exp - m->phase_export_w[0] - m->phase_export_w[1];
	for (int i = 0; i < 3; i++)
		m->decivolts[i] = clamp(m->decivolts[i] + p1rng_range(&m->rng, -3, 3), 2250, 2350);
}

static int64_t mbus_period_ms(const struct p1meter *m)
{
	/* DSMR 2.2 to 4.x meters report gas hourly, 5.0 every 5 minutes. */
	return m->prof->dialect == P1_DSMR22 || m->prof->dialect == P1_DSMR42 ? 3600000 : 300000;
}

static long mbus_rate(const struct p1meter *m, int ch)
{
	return m->prof->mbus[ch] == MBUS_GAS ? m->set.gas_lph : m->prof->mbus[ch] == MBUS_WATER ? m->set.water_lph : 0;
}

/* Volumes run in ml x 3600, so that litres per hour times milliseconds add
 * up exactly; the meter reports the volume it had on the last boundary. */
static void mbus_advance(struct p1meter *m, int ch, int64_t t0_ms, int64_t t1_ms)
{
	if (m->prof->mbus[ch] != MBUS_GAS && m->prof->mbus[ch] != MBUS_WATER)
		return;
	int64_t period = mbus_period_ms(m), rate = mbus_rate(m, ch);
	int64_t boundary = t1_ms / period * period;
	if (boundary > t0_ms) {
		m->mbus_stamped_ml[ch] = (m->mbus_volume[ch] + rate * (boundary - t0_ms)) / 3600;
		m->mbus_stamp[ch] = boundary / 1000;
	}
	m->mbus_volume[ch] += rate * (t1_ms - t0_ms);
}

static void push_month(struct p1meter *m, int64_t month_end)
{
	memmove(&m->peaks[1], &m->peaks[0], sizeof m->peaks[0] * (P1_PEAK_MONTHS - 1));
	m->peaks[0] = (struct p1peak){ month_end, m->month_peak_when, m->month_peak_w };
	if (m->npeaks < P1_PEAK_MONTHS)
		m->npeaks++;
}

/* The capacity tariff counts the average power of each quarter hour; the
 * month's highest quarter is 1-0:1.6.0, and at the month's end it joins
 * the list in 0-0:98.1.0. */
static void close_quarter(struct p1meter *m, int64_t end_ms)
{
	long avg = (long)(m->quarter_energy / 900000);
	if (avg > m->month_peak_w) {
		m->month_peak_w = avg;
		m->month_peak_when = m->quarter_start_ms / 1000;
	}
	int key = month_key_of(end_ms / 1000);
	if (key != m->month_key) {
		push_month(m, end_ms / 1000);
		m->month_key = key;
		m->month_peak_w = 0;
		m->month_peak_when = end_ms / 1000;
	}
	m->quarter_start_ms = end_ms;
	m->quarter_energy = 0;
}

static void quarter_advance(struct p1meter *m, int64_t t0_ms, int64_t t1_ms)
{
	while (t0_ms < t1_ms) {
		int64_t quarter_end = (t0_ms / 900000 + 1) * 900000;
		int64_t seg_end = quarter_end < t1_ms ? quarter_end : t1_ms;
		m->quarter_energy += m->import_w * (seg_end - t0_ms);
		if (seg_end == quarter_end)
			close_quarter(m, quarter_end);
		t0_ms = seg_end;
	}
}

void p1meter_advance(struct p1meter *m, int64_t dt_ms)
{
	int64_t t0 = m->now_ms, t1 = t0 + dt_ms;
	choose_power(m, t1, dt_ms);
	m->tariff = tariff_at(m, t1 / 1000);
	m->imported[m->tariff - 1] += m->import_w * dt_ms;
	m->exported[m->tariff - 1] += m->export_w * dt_ms;
	for (int ch = 0; ch < 2; ch++)
		mbus_advance(m, ch, t0, t1);
	if (m->prof->dialect == P1_FLUVIUS)
		quarter_advance(m, t0, t1);
	m->now_ms = t1;
}

static void init_mbus(struct p1meter *m, int ch)
{
	static const char prefix[] = { 'G', 'W' };
	bool water = m->prof->mbus[ch] == MBUS_WATER;
	/* One draw per statement: C leaves the order of a call's arguments
	 * unspecified, and ARM compilers take them in another order than x86. */
	unsigned long long serial = p1rng_next(&m->rng) % 10000000000000ULL;
	long year = p1rng_range(&m->rng, 10, 99);
	snprintf(m->mbus_id[ch], sizeof m->mbus_id[ch], "%c00%02ld%013llu", prefix[water], year, serial);
	int64_t period = mbus_period_ms(m);
	int64_t boundary = m->now_ms / period * period;
	int64_t litres = water ? p1rng_range(&m->rng, 20000, 400000) : p1rng_range(&m->rng, 300000, 9000000);
	m->mbus_stamped_ml[ch] = litres * 1000;
	m->mbus_stamp[ch] = boundary / 1000;
	m->mbus_volume[ch] = m->mbus_stamped_ml[ch] * 3600 + mbus_rate(m, ch) * (m->now_ms - boundary);
}

static void init_peaks(struct p1meter *m)
{
	int64_t now_s = m->now_ms / 1000;
	m->month_key = month_key_of(now_s);
	m->quarter_start_ms = m->now_ms / 900000 * 900000;
	m->quarter_energy = m->import_w * (m->now_ms - m->quarter_start_ms);
	int64_t this_month = month_start(m->month_key);
	if (now_s - this_month > 3600) {
		m->month_peak_when = this_month + (now_s - this_month) / 2 / 900 * 900;
		m->month_peak_w = p1rng_range(&m->rng, 1500, 4500);
	} else {
		m->month_peak_when = this_month;
		m->month_peak_w = 0;
	}
	for (int k = 1; k <= P1_PEAK_MONTHS; k++) {
		int64_t start = month_start(m->month_key - k), end = month_start(m->month_key - k + 1);
		int64_t days = (end - start) / 86400;
		struct p1peak *p = &m->peaks[k - 1];
		p->month_end = end;
		int64_t day = p1rng_range(&m->rng, 0, days - 1);
		int64_t quarter = p1rng_range(&m->rng, 16 * 4, 21 * 4);
		p->when = start + day * 86400 + quarter * 900;
		p->watts = p1rng_range(&m->rng, 1800, 6500);
	}
	m->npeaks = P1_PEAK_MONTHS;
}

void p1meter_init(struct p1meter *m, const struct p1profile *prof, const struct p1settings *set, uint64_t seed,
                  int64_t start_ms)
{
	memset(m, 0, sizeof *m);
	m->prof = prof;
	m->set = *set;
	p1rng_seed(&m->rng, seed);
	m->now_ms = start_ms;
	unsigned long long serial = p1rng_next(&m->rng) % 1000000000000ULL; /* drawn first, as in init_mbus */
	long year = p1rng_range(&m->rng, 10, 99);
	if (prof->dialect == P1_SMARTY) /* Sagemcom's "SAG" and ten digits, as the real one */
		snprintf(m->equipment_id, sizeof m->equipment_id, "SAG%02ld%011llu", year, serial % 100000000000ULL);
	else
		snprintf(m->equipment_id, sizeof m->equipment_id, "E00%02ld%012llu", year, serial);
	for (int t = 0; t < 2; t++) {
		m->imported[t] = (int64_t)p1rng_range(&m->rng, 200000, 9000000) * 3600000;
		m->exported[t] = set->solar_w > 0 ? (int64_t)p1rng_range(&m->rng, 10000, 3000000) * 3600000 : 0;
	}
	for (int i = 0; i < 3; i++) {
		m->decivolts[i] = p1rng_range(&m->rng, 2280, 2320);
		m->sags[i] = (int)p1rng_range(&m->rng, 0, 3);
		m->swells[i] = (int)p1rng_range(&m->rng, 0, 1);
	}
	m->short_failures = (int)p1rng_range(&m->rng, 2, 30);
	m->long_failures = 2;
	for (int i = 0; i < 2; i++) {
		m->failure_end[i] = start_ms / 1000 - p1rng_range(&m->rng, 86400 * (30 + 200 * i), 86400 * (200 + 200 * i));
		m->failure_s[i] = p1rng_range(&m->rng, 180, 20000);
	}
	choose_power(m, start_ms, 0);
	m->tariff = tariff_at(m, start_ms / 1000);
	for (int ch = 0; ch < 2; ch++)
		if (prof->mbus[ch] == MBUS_GAS || prof->mbus[ch] == MBUS_WATER)
			init_mbus(m, ch);
	if (prof->dialect == P1_FLUVIUS)
		init_peaks(m);
}

/* ---- the telegram ---- */

struct tbuf {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct tbuf *b, const char *fmt, ...)
{
	if (b->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len)
		b->full = true;
	else
		b->len += (size_t)n;
}

static void put_hex(struct tbuf *b, const char *s)
{
	static const char digits[] = "0123456789ABCDEF";
	for (; *s && !b->full; s++) {
		if (b->cap - b->len < 3) {
			b->full = true;
			return;
		}
		b->p[b->len++] = digits[(unsigned char)*s >> 4];
		b->p[b->len++] = digits[*s & 15];
		b->p[b->len] = '\0';
	}
}

/* Energy as kWh with three decimals, zero-padded to the dialect's width. */
static void put_kwh(struct tbuf *b, const struct p1meter *m, const char *obis, int64_t wms)
{
	long long wh = wms / 3600000;
	put(b, m->prof->dialect == P1_DSMR22 ? "%s(%05lld.%03lld*kWh)\r\n" : "%s(%06lld.%03lld*kWh)\r\n", obis, wh / 1000,
	    wh % 1000);
}

static void put_kw(struct tbuf *b, const struct p1meter *m, const char *obis, long w)
{
	if (m->prof->dialect == P1_DSMR22)
		put(b, "%s(%04ld.%02ld*kW)\r\n", obis, w / 1000, w % 1000 / 10);
	else
		put(b, "%s(%02ld.%03ld*kW)\r\n", obis, w / 1000, w % 1000);
}

static void put_volume(struct tbuf *b, int64_t ml)
{
	long long litres = ml / 1000;
	put(b, "(%05lld.%03lld*m3)", litres / 1000, litres % 1000);
}

static void put_stamped_obis(struct tbuf *b, const char *obis, int64_t when)
{
	char st[14];
	p1_stamp(when, true, st);
	put(b, "%s(%s)", obis, st);
}

static void put_mbus(struct tbuf *b, const struct p1meter *m, int ch)
{
	enum p1mbus kind = m->prof->mbus[ch];
	int n = ch + 1;
	if (kind == MBUS_NONE)
		return;
	if (kind == MBUS_DEAD) {
		/* A channel that once held a device: what real meters send. */
		put(b, "0-%d:24.1.0(003)\r\n0-%d:96.1.0()\r\n0-%d:24.2.1(700101010000W)(00000000)\r\n", n, n, n);
		return;
	}
	bool fluvius = m->prof->dialect == P1_FLUVIUS;
	put(b, "0-%d:24.1.0(%s)\r\n", n, kind == MBUS_GAS ? "003" : "007");
	put(b, fluvius ? "0-%d:96.1.1(" : "0-%d:96.1.0(", n);
	put_hex(b, m->mbus_id[ch]);
	put(b, ")\r\n");
	if (fluvius)
		put(b, "0-%d:24.4.0(1)\r\n", n);
	char obis[32];
	snprintf(obis, sizeof obis, "0-%d:24.2.%d", n, fluvius && kind == MBUS_GAS ? 3 : 1);
	put_stamped_obis(b, obis, m->mbus_stamp[ch]);
	put_volume(b, m->mbus_stamped_ml[ch]);
	put(b, "\r\n");
}

static void put_dsmr22(struct tbuf *b, const struct p1meter *m)
{
	put(b, "/ISk5\\2MT382-1004\r\n\r\n0-0:96.1.1(");
	put_hex(b, m->equipment_id);
	put(b, ")\r\n");
	put_kwh(b, m, "1-0:1.8.1", m->imported[0]);
	put_kwh(b, m, "1-0:1.8.2", m->imported[1]);
	put_kwh(b, m, "1-0:2.8.1", m->exported[0]);
	put_kwh(b, m, "1-0:2.8.2", m->exported[1]);
	put(b, "0-0:96.14.0(%04d)\r\n", m->tariff);
	put_kw(b, m, "1-0:1.7.0", m->import_w);
	put_kw(b, m, "1-0:2.7.0", m->export_w);
	put(b, "0-0:17.0.0(0999.00*kW)\r\n0-0:96.3.10(1)\r\n0-0:96.13.1()\r\n0-0:96.13.0(");
	if (m->set.message)
		put_hex(b, m->set.message);
	put(b, ")\r\n");
	if (m->prof->mbus[0] == MBUS_GAS) {
		char st[14];
		p1_stamp(m->mbus_stamp[0], false, st);
		put(b, "0-1:24.1.0(3)\r\n0-1:96.1.0(");
		put_hex(b, m->mbus_id[0]);
		put(b, ")\r\n0-1:24.3.0(%s)(00)(60)(1)(0-1:24.2.1)(m3)\r\n", st);
		long long litres = m->mbus_stamped_ml[0] / 1000;
		put(b, "(%05lld.%03lld)\r\n0-1:24.4.0(1)\r\n", litres / 1000, litres % 1000);
	}
	put(b, "!\r\n");
}

static void put_failures(struct tbuf *b, const struct p1meter *m)
{
	put(b, "0-0:96.7.21(%05d)\r\n0-0:96.7.9(%05d)\r\n", m->short_failures, m->long_failures);
	put(b, "1-0:99.97.0(%d)(0-0:96.7.19)", m->long_failures);
	for (int i = 0; i < m->long_failures; i++) {
		char st[14];
		p1_stamp(m->failure_end[i], true, st);
		put(b, "(%s)(%010ld*s)", st, m->failure_s[i]);
	}
	put(b, "\r\n");
	static const char *const sag[] = { "32.32.0", "52.32.0", "72.32.0" };
	static const char *const swell[] = { "32.36.0", "52.36.0", "72.36.0" };
	for (int i = 0; i < 3; i++)
		put(b, "1-0:%s(%05d)\r\n", sag[i], m->sags[i]);
	for (int i = 0; i < 3; i++)
		put(b, "1-0:%s(%05d)\r\n", swell[i], m->swells[i]);
}

static void put_phases(struct tbuf *b, const struct p1meter *m)
{
	static const char *const volt[] = { "32.7.0", "52.7.0", "72.7.0" };
	static const char *const amp[] = { "31.7.0", "51.7.0", "71.7.0" };
	static const char *const imp[] = { "1-0:21.7.0", "1-0:41.7.0", "1-0:61.7.0" };
	static const char *const exp[] = { "1-0:22.7.0", "1-0:42.7.0", "1-0:62.7.0" };
	bool fluvius = m->prof->dialect == P1_FLUVIUS;
	if (m->prof->dialect != P1_DSMR42)
		for (int i = 0; i < 3; i++)
			put(b, "1-0:%s(%03ld.%ld*V)\r\n", volt[i], m->decivolts[i] / 10, m->decivolts[i] % 10);
	for (int i = 0; i < 3; i++) {
		long w = m->phase_import_w[i] + m->phase_export_w[i];
		long dv = m->decivolts[i];
		if (fluvius) {
			long centiamps = (w * 2000 + dv) / (2 * dv);
			put(b, "1-0:%s(%03ld.%02ld*A)\r\n", amp[i], centiamps / 100, centiamps % 100);
		} else {
			put(b, "1-0:%s(%03ld*A)\r\n", amp[i], (w * 20 + dv) / (2 * dv));
		}
	}
	for (int i = 0; i < 3; i++)
		put_kw(b, m, imp[i], m->phase_import_w[i]);
	for (int i = 0; i < 3; i++)
		put_kw(b, m, exp[i], m->phase_export_w[i]);
}

static void put_peaks(struct tbuf *b, const struct p1meter *m)
{
	int64_t now_s = m->now_ms / 1000;
	int64_t elapsed = m->now_ms - m->quarter_start_ms;
	long demand = elapsed > 0 ? (long)(m->quarter_energy / elapsed) : m->import_w;
	put_kw(b, m, "1-0:1.4.0", demand);
	put_stamped_obis(b, "1-0:1.6.0", m->month_peak_when <= now_s ? m->month_peak_when : now_s);
	put(b, "(%02ld.%03ld*kW)\r\n", m->month_peak_w / 1000, m->month_peak_w % 1000);
	put(b, "0-0:98.1.0(%d)(1-0:1.6.0)(1-0:1.6.0)", m->npeaks);
	for (int i = 0; i < m->npeaks; i++) {
		char end[14], when[14];
		p1_stamp(m->peaks[i].month_end, true, end);
		p1_stamp(m->peaks[i].when, true, when);
		put(b, "(%s)(%s)(%02ld.%03ld*kW)", end, when, m->peaks[i].watts / 1000, m->peaks[i].watts % 1000);
	}
	put(b, "\r\n");
}

static void put_modern(struct tbuf *b, const struct p1meter *m)
{
	enum p1dialect d = m->prof->dialect;
	char st[14];
	p1_stamp(m->now_ms / 1000, true, st);
	if (d == P1_FLUVIUS) {
		put(b, "/FLU5\\253769484_A\r\n\r\n0-0:96.1.4(50217)\r\n0-0:96.1.1(");
		put_hex(b, m->equipment_id);
		put(b, ")\r\n0-0:1.0.0(%s)\r\n", st);
	} else {
		put(b, d == P1_DSMR42 ? "/KFM5KAIFA-METER\r\n\r\n1-3:0.2.8(42)\r\n" : "/ISk5\\2MT382-1000\r\n\r\n1-3:0.2.8(50)\r\n");
		put(b, "0-0:1.0.0(%s)\r\n0-0:96.1.1(", st);
		put_hex(b, m->equipment_id);
		put(b, ")\r\n");
	}
	put_kwh(b, m, "1-0:1.8.1", m->imported[0]);
	put_kwh(b, m, "1-0:1.8.2", m->imported[1]);
	put_kwh(b, m, "1-0:2.8.1", m->exported[0]);
	put_kwh(b, m, "1-0:2.8.2", m->exported[1]);
	if (d == P1_FLUVIUS)
		put_peaks(b, m);
	put(b, "0-0:96.14.0(%04d)\r\n", m->tariff);
	put_kw(b, m, "1-0:1.7.0", m->import_w);
	put_kw(b, m, "1-0:2.7.0", m->export_w);
	if (d != P1_FLUVIUS)
		put_failures(b, m);
	if (d == P1_DSMR42)
		put(b, "0-0:96.13.1()\r\n");
	if (d != P1_FLUVIUS) {
		put(b, "0-0:96.13.0(");
		if (m->set.message)
			put_hex(b, m->set.message);
		put(b, ")\r\n");
	}
	put_phases(b, m);
	if (d == P1_FLUVIUS) {
		put(b, "0-0:96.3.10(1)\r\n0-0:17.0.0(999.9*kW)\r\n1-0:31.4.0(999*A)\r\n0-0:96.13.0(");
		if (m->set.message)
			put_hex(b, m->set.message);
		put(b, ")\r\n");
	}
	for (int ch = 0; ch < 2; ch++)
		put_mbus(b, m, ch);
	put(b, "!");
	if (!b->full) {
		uint16_t crc = crc16_arc(0, b->p, b->len);
		put(b, "%04X\r\n", crc);
	}
}

/* The layout of a real Smarty telegram (go-smarty-reader's capture in
 * ../shared/corpus/dsmr_encrypted): totals without tariffs, reactive
 * energy and power (here a fixed share of the active ones), the limiter,
 * failures, sags and swells, five message slots, currents. */
static void put_smarty(struct tbuf *b, const struct p1meter *m)
{
	char st[14];
	p1_stamp(m->now_ms / 1000, true, st);
	put(b, "/Lux5\\253663629_D\r\n\r\n1-3:0.2.8(42)\r\n0-0:1.0.0(%s)\r\n0-0:42.0.0(", st);
	put_hex(b, m->equipment_id);
	put(b, ")\r\n");
	int64_t imported = m->imported[0] + m->imported[1], exported = m->exported[0] + m->exported[1];
	put_kwh(b, m, "1-0:1.8.0", imported);
	put_kwh(b, m, "1-0:2.8.0", exported);
	long long q_in = imported / 8 / 3600000, q_out = imported / 3 / 3600000;
	put(b, "1-0:3.8.0(%06lld.%03lld*kvarh)\r\n", q_in / 1000, q_in % 1000);
	put(b, "1-0:4.8.0(%06lld.%03lld*kvarh)\r\n", q_out / 1000, q_out % 1000);
	put_kw(b, m, "1-0:1.7.0", m->import_w);
	put_kw(b, m, "1-0:2.7.0", m->export_w);
	put(b, "1-0:3.7.0(%02ld.%03ld)\r\n", m->import_w / 8 / 1000, m->import_w / 8 % 1000);
	put(b, "1-0:4.7.0(%02ld.%03ld)\r\n", m->import_w / 3 / 1000, m->import_w / 3 % 1000);
	put(b, "0-0:17.0.0(77.376)\r\n0-0:96.3.10(1)\r\n0-0:96.7.21(%05d)\r\n", m->short_failures);
	static const char *const sag_swell[] = { "32.32.0", "52.32.0", "72.32.0", "32.36.0", "52.36.0", "72.36.0" };
	for (int i = 0; i < 6; i++)
		put(b, "1-0:%s(%05d)\r\n", sag_swell[i], i < 3 ? m->sags[i] : m->swells[i - 3]);
	put(b, "0-0:96.13.0(");
	if (m->set.message)
		put_hex(b, m->set.message);
	put(b, ")\r\n0-0:96.13.2()\r\n0-0:96.13.3()\r\n0-0:96.13.4()\r\n0-0:96.13.5()\r\n");
	static const char *const amp[] = { "31.7.0", "51.7.0", "71.7.0" };
	for (int i = 0; i < 3; i++) {
		long w = m->phase_import_w[i] + m->phase_export_w[i];
		put(b, "1-0:%s(%03ld*A)\r\n", amp[i], (w * 20 + m->decivolts[i]) / (2 * m->decivolts[i]));
	}
	put(b, "!");
	if (!b->full)
		put(b, "%04X\r\n", crc16_arc(0, b->p, b->len));
}

/* The layout of dsmr_parser's Sagemcom T210-D-r test telegram (Austria):
 * integer Wh, W, varh and var, totals then tariffs 1 and 2. */
static void put_t210(struct tbuf *b, const struct p1meter *m)
{
	char st[14];
	p1_stamp(m->now_ms / 1000, true, st);
	put(b, "/EST5\\253710000_A\r\n\r\n1-3:0.2.8(50)\r\n0-0:1.0.0(%s)\r\n", st);
	/* Per quantity: total, tariff 1, tariff 2 (W x ms), then the power. */
	const int64_t wms[4][3] = {
		{ m->imported[0] + m->imported[1], m->imported[0], m->imported[1] },
		{ m->exported[0] + m->exported[1], m->exported[0], m->exported[1] },
		{ (m->imported[0] + m->imported[1]) / 8, m->imported[0] / 8, m->imported[1] / 8 },
		{ (m->imported[0] + m->imported[1]) / 3, m->imported[0] / 3, m->imported[1] / 3 },
	};
	const long power[4] = { m->import_w, m->export_w, m->import_w / 8, m->import_w / 3 };
	static const char *const unit[4][2] = { { "Wh", "W" }, { "Wh", "W" }, { "varh", "var" }, { "varh", "var" } };
	for (int q = 0; q < 4; q++) {
		for (int t = 0; t < 3; t++)
			put(b, "1-0:%d.8.%d(%09lld*%s)\r\n", q + 1, t, (long long)(wms[q][t] / 3600000), unit[q][0]);
		put(b, "1-0:%d.7.0(%09ld*%s)\r\n", q + 1, power[q], unit[q][1]);
	}
	put(b, "!");
	if (!b->full)
		put(b, "%04X\r\n", crc16_arc(0, b->p, b->len));
}

size_t p1meter_telegram(const struct p1meter *m, char *buf, size_t cap)
{
	struct tbuf b = { buf, 0, cap, false };
	if (m->prof->dialect == P1_DSMR22)
		put_dsmr22(&b, m);
	else if (m->prof->dialect == P1_SMARTY)
		put_smarty(&b, m);
	else if (m->prof->dialect == P1_T210)
		put_t210(&b, m);
	else
		put_modern(&b, m);
	return b.full ? 0 : b.len;
}
