/* smlgen.c: the simulated SML meter.  See smlgen.h.  The encoding is the
 * one sml.c decodes (type-length bytes, lists, optional 01), written as
 * the real meters of each profile write it. */
#include "meter/smlgen.h"

#include <string.h>

#include "meter/sml.h"

static const struct smlprofile profiles[] = {
	{ "ehz", SMLGEN_EHZ, 0.5, "EMH eHZ: 1.8.0, 1.8.1, 1.8.2, 2.8.0 in 0.1 Wh, 16.7.0 in W; file CRC X.25" },
	{ "q3a", SMLGEN_Q3A, 0.5, "EasyMeter Q3A: energy in 0.0001 Wh, power per phase, voltages; file CRC X.25" },
	{ "dtz541", SMLGEN_DTZ541, 1, "Holley DTZ541: voltages, currents, frequency; file CRC KERMIT" },
};

const struct smlprofile *smlprofile_find(const char *name)
{
	for (size_t k = 0; k < sizeof profiles / sizeof *profiles; k++)
		if (strcmp(profiles[k].name, name) == 0)
			return &profiles[k];
	return NULL;
}

void smlprofile_list(FILE *out)
{
	for (size_t k = 0; k < sizeof profiles / sizeof *profiles; k++)
		fprintf(out, "%s\t9600:8N1\t%g/s\t%s\n", profiles[k].name, profiles[k].rate, profiles[k].about);
}

void smlmeter_init(struct smlmeter *m, const struct smlprofile *prof, uint64_t seed, long load_w, long solar_w)
{
	static const char *const flags[] = { [SMLGEN_EHZ] = "EMH", [SMLGEN_Q3A] = "ESY", [SMLGEN_DTZ541] = "HLY" };
	memset(m, 0, sizeof *m);
	m->prof = prof;
	p1rng_seed(&m->rng, seed);
	m->load_w = load_w;
	m->solar_w = solar_w;
	m->seconds = (uint32_t)p1rng_range(&m->rng, 1000000, 90000000);
	m->transaction = (uint32_t)p1rng_next(&m->rng);
	/* Counters that start where a meter a few years old would be. */
	m->import_wms = (uint64_t)p1rng_range(&m->rng, 1000000, 20000000) * 3600000;
	m->export_wms = solar_w ? (uint64_t)p1rng_range(&m->rng, 100000, 5000000) * 3600000 : 0;
	/* Server id as DIN 43863-5 and these meters send it. */
	m->server_id[0] = 0x0a;
	m->server_id[1] = 0x01;
	memcpy(m->server_id + 2, flags[prof->kind], 3);
	m->server_id[5] = 0x00;
	uint32_t serial = (uint32_t)p1rng_range(&m->rng, 1000000, 9999999);
	for (int k = 0; k < 4; k++)
		m->server_id[6 + k] = (uint8_t)(serial >> (24 - 8 * k));
	m->power_w = load_w - solar_w;
}

void smlmeter_advance(struct smlmeter *m, int64_t dt_ms)
{
	if (dt_ms <= 0)
		return;
	/* The load wanders by up to 5 % around the setting. */
	long spread = m->load_w / 20 + 1;
	m->power_w = m->load_w + p1rng_range(&m->rng, -spread, spread) - m->solar_w;
	if (m->power_w >= 0)
		m->import_wms += (uint64_t)m->power_w * (uint64_t)dt_ms;
	else
		m->export_wms += (uint64_t)-m->power_w * (uint64_t)dt_ms;
	m->seconds += (uint32_t)((dt_ms + 500) / 1000);
}

/* ---- the encoder ---- */

struct buf {
	uint8_t *p;
	size_t n;
};

static void byte(struct buf *b, uint8_t v) { b->p[b->n++] = v; }

static void list(struct buf *b, unsigned count) { byte(b, (uint8_t)(0x70 | count)); }
static void none(struct buf *b) { byte(b, 0x01); }

static void octets(struct buf *b, const void *data, size_t n)
{
	byte(b, (uint8_t)(n + 1));
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

/* An integer of width bytes; type 0x50 signed, 0x60 unsigned. */
static void integer(struct buf *b, uint8_t type, int width, uint64_t v)
{
	byte(b, (uint8_t)(type | (width + 1)));
	for (int k = width - 1; k >= 0; k--)
		byte(b, (uint8_t)(v >> (8 * k)));
}

static void obis(struct buf *b, uint8_t a, uint8_t bb, uint8_t c, uint8_t d, uint8_t e, uint8_t f)
{
	const uint8_t code[6] = { a, bb, c, d, e, f };
	octets(b, code, 6);
}

/* One SML_ListEntry with a number: unit code, scaler, value. */
static void entry(struct buf *b, uint8_t c, uint8_t d, uint8_t e, uint8_t unit, int8_t scaler, uint8_t type,
                  int width, uint64_t v)
{
	list(b, 7);
	obis(b, 1, 0, c, d, e, 255);
	none(b); /* status */
	none(b); /* valTime */
	integer(b, 0x60, 1, unit);
	integer(b, 0x50, 1, (uint8_t)scaler);
	integer(b, type, width, v);
	none(b); /* signature */
}

static void message_begin(struct buf *b, struct smlmeter *m, unsigned tag, size_t *start)
{
	uint8_t tid[4] = { (uint8_t)(m->transaction >> 24), (uint8_t)(m->transaction >> 16),
	                   (uint8_t)(m->transaction >> 8), (uint8_t)m->transaction };
	m->transaction++;
	*start = b->n;
	list(b, 6);
	octets(b, tid, 4);
	integer(b, 0x60, 1, 0); /* groupNo */
	integer(b, 0x60, 1, 0); /* abortOnError */
	list(b, 2);
	integer(b, 0x60, 2, tag);
}

/* The message CRC: the profile's CRC of the message so far, low byte first
 * as the meters send it. */
static void message_end(struct buf *b, const struct smlmeter *m, size_t start)
{
	uint16_t crc = m->prof->kind == SMLGEN_DTZ541 ? sml_crc_kermit(b->p + start, b->n - start)
	                                                : sml_crc_x25(b->p + start, b->n - start);
	integer(b, 0x60, 2, (uint16_t)(crc >> 8 | crc << 8));
	byte(b, 0x00);
}

static uint64_t tenths_wh(uint64_t wms) { return wms / 360000; }

static void values(struct buf *b, const struct smlmeter *m)
{
	int64_t p = m->power_w;
	uint64_t imp = tenths_wh(m->import_wms), exp = tenths_wh(m->export_wms);
	switch (m->prof->kind) {
	case SMLGEN_EHZ:
		list(b, 5);
		entry(b, 1, 8, 0, 30, -1, 0x60, 8, imp);
		entry(b, 1, 8, 1, 30, -1, 0x60, 8, imp);
		entry(b, 1, 8, 2, 30, -1, 0x60, 8, 0);
		entry(b, 2, 8, 0, 30, -1, 0x60, 8, exp);
		entry(b, 16, 7, 0, 27, 0, 0x50, 4, (uint64_t)p);
		break;
	case SMLGEN_Q3A:
		list(b, 9);
		entry(b, 1, 8, 0, 30, -4, 0x60, 8, m->import_wms / 360);
		entry(b, 2, 8, 0, 30, -4, 0x60, 8, m->export_wms / 360);
		entry(b, 16, 7, 0, 27, -2, 0x50, 4, (uint64_t)(p * 100));
		entry(b, 36, 7, 0, 27, -2, 0x50, 4, (uint64_t)(p * 50));
		entry(b, 56, 7, 0, 27, -2, 0x50, 4, (uint64_t)(p * 30));
		entry(b, 76, 7, 0, 27, -2, 0x50, 4, (uint64_t)(p * 100 - p * 80));
		for (uint8_t c = 32; c <= 72; c += 20)
			entry(b, c, 7, 0, 35, -1, 0x60, 2, 2300 + (uint64_t)(m->seconds % 7) + c / 20);
		break;
	case SMLGEN_DTZ541:
		list(b, 10);
		entry(b, 1, 8, 0, 30, -1, 0x60, 8, imp);
		entry(b, 2, 8, 0, 30, -1, 0x60, 8, exp);
		entry(b, 16, 7, 0, 27, 0, 0x50, 4, (uint64_t)p);
		for (uint8_t c = 32; c <= 72; c += 20)
			entry(b, c, 7, 0, 35, -1, 0x60, 2, 2340 + (uint64_t)(m->seconds % 5));
		for (uint8_t c = 31; c <= 71; c += 20)
			entry(b, c, 7, 0, 33, -2, 0x60, 2, (uint64_t)((p < 0 ? -p : p) * 100 / 3 / 230));
		entry(b, 14, 7, 0, 44, -1, 0x60, 2, 500);
		break;
	}
}

/* Open, GetList and Close responses. */
static void messages(struct buf *b, struct smlmeter *m)
{
	static const uint8_t list_name[6] = { 1, 0, 98, 10, 255, 255 };
	uint8_t file_id[4] = { (uint8_t)(m->seconds >> 24), (uint8_t)(m->seconds >> 16), (uint8_t)(m->seconds >> 8),
	                       (uint8_t)m->seconds };
	size_t start;
	message_begin(b, m, 0x0101, &start);
	list(b, 6);
	none(b); /* codepage */
	none(b); /* clientId */
	octets(b, file_id, 4);
	octets(b, m->server_id, sizeof m->server_id);
	none(b); /* refTime */
	none(b); /* smlVersion */
	message_end(b, m, start);

	message_begin(b, m, 0x0701, &start);
	list(b, 7);
	none(b);
	octets(b, m->server_id, sizeof m->server_id);
	octets(b, list_name, sizeof list_name);
	list(b, 2);
	integer(b, 0x60, 1, 1);
	integer(b, 0x60, 4, m->seconds);
	values(b, m);
	none(b); /* listSignature */
	none(b); /* actGatewayTime */
	message_end(b, m, start);

	message_begin(b, m, 0x0201, &start);
	list(b, 1);
	none(b);
	message_end(b, m, start);
}

size_t smlmeter_file(struct smlmeter *m, uint8_t *out)
{
	uint8_t msgs[SMLGEN_MAX / 2];
	struct buf b = { msgs, 0 };
	messages(&b, m);
	size_t pad = (4 - b.n % 4) % 4;
	memset(msgs + b.n, 0, pad);
	b.n += pad;
	/* Start, the words (1b1b1b1b doubled), end, padding count, CRC. */
	size_t n = 0;
	memcpy(out, "\x1b\x1b\x1b\x1b\x01\x01\x01\x01", 8);
	n = 8;
	for (size_t k = 0; k < b.n; k += 4) {
		if (memcmp(msgs + k, "\x1b\x1b\x1b\x1b", 4) == 0) {
			memcpy(out + n, msgs + k, 4);
			n += 4;
		}
		memcpy(out + n, msgs + k, 4);
		n += 4;
	}
	memcpy(out + n, "\x1b\x1b\x1b\x1b\x1a", 5);
	n += 5;
	out[n++] = (uint8_t)pad;
	if (m->prof->kind == SMLGEN_DTZ541) {
		uint16_t crc = sml_crc_kermit(out, n);
		out[n++] = (uint8_t)(crc >> 8);
		out[n++] = (uint8_t)crc;
	} else {
		uint16_t crc = sml_crc_x25(out, n);
		out[n++] = (uint8_t)crc;
		out[n++] = (uint8_t)(crc >> 8);
	}
	return n;
}
