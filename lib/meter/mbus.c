/* mbus.c: M-Bus devices on DSMR channels.  See mbus.h. */
#include "meter/mbus.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "line/decimal.h"

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
	[MBUS_PROVIDED] = { "_provided", "0-n:24.2.1",
	                    "reading, with the time the device took it (24.2.1, 24.2.3, or 24.3.0 in DSMR 2.2/3)" },
	[MBUS_ID] = { "_equipment_identifier", "0-n:96.1.0", "equipment identifier (96.1.0 or 96.1.1)" },
	[MBUS_VALVE] = { "_valve_position", "0-n:24.4.0", "valve position" },
	[MBUS_TYPE] = { "_device_type", "0-n:24.1.0", "M-Bus device type" },
};
#define NFIELDS (sizeof mbus_fields / sizeof *mbus_fields)

/* C.D.E of a key, to compare codes on any channel. */
#define CDE(key) ((uint32_t)((key) >> 8 & 0xffffff))
#define CDE3(c, d, e) ((uint32_t)(c) << 16 | (uint32_t)(d) << 8 | (uint32_t)(e))

bool mbus_is_record(uint64_t key)
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

enum mbus_field mbus_field_of(uint64_t key)
{
	switch (CDE(key)) {
	case CDE3(24, 1, 0): return MBUS_TYPE;
	case CDE3(24, 4, 0): return MBUS_VALVE;
	case CDE3(24, 2, 1):
	case CDE3(24, 2, 3):
	case CDE3(24, 3, 0): return MBUS_PROVIDED;
	}
	return MBUS_ID;
}

bool mbus_reading_groups(const struct dsmr_telegram *t, const struct dsmr_record *r, int *tg, int *vg, int *ug)
{
	struct dsmr_number num;
	int g = r->first_group;
	if (CDE(r->key) == CDE3(24, 3, 0)) {
		if (r->ngroups != 7 || !dsmr_group_is_timestamp(t, g) || !dsmr_group_number(t, g + 6, &num))
			return false;
		*tg = g, *vg = g + 6, *ug = g + 5;
		return true;
	}
	if (r->ngroups != 2 || !dsmr_group_is_timestamp(t, g) || !dsmr_group_number(t, g + 1, &num))
		return false;
	*tg = g, *vg = g + 1, *ug = -1;
	return true;
}

void mbus_reading_unit(const struct dsmr_telegram *t, int vg, int ug, const char **unit, size_t *n)
{
	struct dsmr_number num;
	if (ug >= 0) {
		*unit = dsmr_gtext(t, ug);
		*n = dsmr_glen(t, ug);
	} else if (dsmr_group_number(t, vg, &num)) {
		*unit = num.unit;
		*n = num.unitlen;
	} else {
		*n = 0;
	}
}

static void base_of(const struct dsmr_telegram *t, const struct mbus_channel *ch, char *out, size_t n)
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
	if (ch->reading >= 0 && mbus_reading_groups(t, &t->rec[ch->reading], &tg, &vg, &ug))
		mbus_reading_unit(t, vg, ug, &unit, &un);
	if (un == 2 && strncasecmp(unit, "m3", 2) == 0)
		snprintf(out, n, "gas");
	else if ((un == 2 && strncmp(unit, "GJ", 2) == 0) || (un == 3 && (strncmp(unit, "kWh", 3) == 0 || strncmp(unit, "MWh", 3) == 0)))
		snprintf(out, n, "heat");
	else
		snprintf(out, n, "mbus");
}

void mbus_scan(const struct dsmr_telegram *t, struct mbus_channel ch[5])
{
	for (int b = 1; b <= 4; b++)
		ch[b] = (struct mbus_channel){ .type = -1, .reading = -1 };
	for (int i = 0; i < t->nrec; i++) {
		const struct dsmr_record *r = &t->rec[i];
		if (!mbus_is_record(r->key))
			continue;
		struct mbus_channel *c = &ch[r->key >> 32 & 255];
		c->used = true;
		enum mbus_field f = mbus_field_of(r->key);
		if (f == MBUS_TYPE && r->ngroups == 1 && c->type < 0) {
			char num[16];
			const char *s = dsmr_gtext(t, r->first_group);
			size_t n = dsmr_glen(t, r->first_group);
			if (n > 0 && n < 8 && strspn(s, "0123456789") >= n && num_to_json(s, n, num) > 0)
				c->type = atoi(num);
		} else if (f == MBUS_PROVIDED && c->reading < 0) {
			int tg, vg, ug;
			c->reading = i;
			c->live = mbus_reading_groups(t, r, &tg, &vg, &ug) && dsmr_group_time_ok(t, tg);
		}
	}
	/* Devices with a live reading are numbered first, in channel order,
	 * then the others: a dead channel 1 must not push the real gas meter
	 * on channel 2 to gas_provided_2. */
	for (int pass = 0; pass < 2; pass++) {
		for (int b = 1; b <= 4; b++) {
			struct mbus_channel *c = &ch[b];
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

void mbus_name(const struct mbus_channel *c, enum mbus_field f, char *out, size_t n)
{
	if (c->index > 1)
		snprintf(out, n, "%s%s_%d", c->base, mbus_fields[f].suffix, c->index);
	else
		snprintf(out, n, "%s%s", c->base, mbus_fields[f].suffix);
}

bool mbus_name_known(const char *name)
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

int mbus_list(FILE *out)
{
	for (size_t k = 0; k < NMBUS; k++) {
		if (k > 0 && strcmp(mbus_kinds[k].base, mbus_kinds[k - 1].base) == 0)
			continue;
		for (size_t f = 0; f < NFIELDS; f++)
			if (fprintf(out, "%s%s\t%s\t%s\t%s %s (M-Bus device type %d, any channel n 1-4)\n", mbus_kinds[k].base,
			            mbus_fields[f].suffix, mbus_fields[f].obis, f == MBUS_PROVIDED ? mbus_kinds[k].unit : "-",
			            mbus_kinds[k].meaning, mbus_fields[f].meaning, mbus_kinds[k].type) < 0)
				return -1;
	}
	return 0;
}
