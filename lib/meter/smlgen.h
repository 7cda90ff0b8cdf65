/* smlgen.h: a simulated SML meter (smlsim, tests, the demo).
 *
 * smlmeter_advance moves the meter's seconds index on by dt and lets its
 * counters grow with the power in that time (import while the load is
 * above the solar power, export while below); smlmeter_file writes the SML
 * file of that moment: Open, GetList and Close responses, message CRCs,
 * escapes, padding and the file CRC of the profile (X.25, or KERMIT as the
 * Holley DTZ541 sends it).  One seed gives the same bytes every time. */
#ifndef M2M_SMLGEN_H
#define M2M_SMLGEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "meter/p1gen.h" /* struct p1rng */

enum smlgen_kind { SMLGEN_EHZ, SMLGEN_Q3A, SMLGEN_DTZ541 };

struct smlprofile {
	const char *name;
	enum smlgen_kind kind;
	double rate;              /* files per second the real meter sends */
	const char *about;
};

/* NULL when there is no such profile. */
const struct smlprofile *smlprofile_find(const char *name);
void smlprofile_list(FILE *out);

struct smlmeter {
	const struct smlprofile *prof;
	struct p1rng rng;
	long load_w, solar_w;     /* settings */
	uint32_t seconds;         /* the seconds index */
	uint32_t transaction;
	int64_t power_w;          /* net power now: + drawn, - delivered */
	/* Energy in W x ms, so that nothing is lost between files. */
	uint64_t import_wms, export_wms;
	uint8_t server_id[10];
};

void smlmeter_init(struct smlmeter *m, const struct smlprofile *prof, uint64_t seed, long load_w, long solar_w);
/* The meter's clock moves on by dt_ms; the counters grow with the power. */
void smlmeter_advance(struct smlmeter *m, int64_t dt_ms);
/* The file of this moment into out (SMLGEN_MAX bytes); returns its length. */
#define SMLGEN_MAX 2048
size_t smlmeter_file(struct smlmeter *m, uint8_t *out);

#endif
