/* p1gen.h: a simulated DSMR P1 meter (p1sim, tests, the demo).
 *
 * The meter is a small state machine: p1meter_advance moves its clock on by
 * dt and lets the counters grow with the power drawn in that time
 * (energy += power x dt, on the tariff of the moment; gas and water grow at
 * their own rate and are stamped on the hour or the 5-minute boundary, as
 * real M-Bus meters report them), and p1meter_telegram writes the telegram
 * of that moment, with its CRC where the profile has one.  Everything random
 * comes from one seed, so a seed and a start time give the same bytes. */
#ifndef M2M_P1GEN_H
#define M2M_P1GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* splitmix64: small, fast, and the same on every machine. */
struct p1rng {
	uint64_t s;
};
void p1rng_seed(struct p1rng *r, uint64_t seed);
uint64_t p1rng_next(struct p1rng *r);
/* Uniform in [0, 1). */
double p1rng_unit(struct p1rng *r);
/* Uniform in [lo, hi]. */
long p1rng_range(struct p1rng *r, long lo, long hi);

/* P1_SMARTY: Luxembourg's Smarty, a DSMR 5 style telegram (totals, reactive
 * energy, no tariffs); P1_T210: the Austrian Sagemcom T210-D-r (integer Wh,
 * W, varh, var with tariffs).  p1sim seals both as DLMS
 * general-global-ciphering frames. */
enum p1dialect { P1_DSMR22, P1_DSMR42, P1_DSMR50, P1_FLUVIUS, P1_SMARTY, P1_T210 };

/* What sits on an M-Bus channel. */
enum p1mbus { MBUS_NONE, MBUS_GAS, MBUS_WATER, MBUS_DEAD };

struct p1profile {
	const char *name;
	enum p1dialect dialect;
	enum p1mbus mbus[2];      /* channels 1 and 2 */
	double rate;              /* telegrams per second the real meter sends */
	const char *line;         /* the real meter's serial settings */
	const char *about;
};

/* NULL when there is no such profile. */
const struct p1profile *p1profile_find(const char *name);
void p1profile_list(FILE *out);
/* The dialects a real meter sends only encrypted. */
bool p1profile_sealed(const struct p1profile *prof);

struct p1settings {
	long power_w;             /* base load */
	long solar_w;             /* peak of a solar installation at noon, 0: none */
	long gas_lph;             /* gas drawn, litres per hour */
	long water_lph;           /* water drawn, litres per hour */
	const char *message;      /* text for 0-0:96.13.0, NULL: none */
};

#define P1_PEAK_MONTHS 13

struct p1peak {
	int64_t month_end;        /* UTC seconds: local midnight starting the next month */
	int64_t when;             /* UTC seconds of the peak */
	long watts;
};

struct p1meter {
	const struct p1profile *prof;
	struct p1settings set;
	struct p1rng rng;
	char equipment_id[40];
	char mbus_id[2][40];
	int64_t now_ms;           /* the meter's clock, UTC milliseconds */
	/* Energy in W x ms: a whole telegram's power times its interval
	 * adds exactly, so the counters never drift from power x time. */
	int64_t imported[2], exported[2];   /* tariff 1 and 2 */
	long import_w, export_w;            /* the power of the last interval */
	long phase_import_w[3], phase_export_w[3];
	long decivolts[3];
	long walk_w;                        /* slow drift of the base load */
	int64_t appliance_until_ms;
	long appliance_w;
	int tariff;                         /* 1 or 2, as 0-0:96.14.0 says */
	/* M-Bus: the running volume (ml x 3600) and the last stamped value. */
	int64_t mbus_volume[2];
	int64_t mbus_stamp[2];              /* UTC seconds */
	int64_t mbus_stamped_ml[2];
	/* Fluvius capacity tariff: the running quarter-hour, the month's peak
	 * and the peaks of the months before. */
	int64_t quarter_start_ms;
	int64_t quarter_energy;             /* W x ms in this quarter so far */
	long month_peak_w;
	int64_t month_peak_when;
	int month_key;                      /* local year * 12 + month */
	struct p1peak peaks[P1_PEAK_MONTHS];
	int npeaks;
	/* Static details a real meter has: failures and sags. */
	int short_failures, long_failures;
	int64_t failure_end[2];
	long failure_s[2];
	int sags[3], swells[3];
};

void p1meter_init(struct p1meter *m, const struct p1profile *prof, const struct p1settings *set, uint64_t seed,
                  int64_t start_ms);
/* Moves the clock on by dt_ms, the counters with it. */
void p1meter_advance(struct p1meter *m, int64_t dt_ms);
/* Writes the telegram of this moment.  Returns its length, or 0 if it does
 * not fit (buf should hold P1_TELEGRAM_MAX). */
#define P1_TELEGRAM_MAX 8192
size_t p1meter_telegram(const struct p1meter *m, char *buf, size_t cap);

/* The meter's local time (CET/CEST by the EU rule) as YYMMDDhhmmss, with
 * the S (summer) or W (winter) flag when flag is true. */
void p1_stamp(int64_t utc_s, bool flag, char out[14]);
/* True when the EU summer time is in force at that UTC second. */
bool eu_summer_time(int64_t utc_s);

#endif
