/* mbus.h: the M-Bus devices on a DSMR meter's channels 1-4 (gas, water,
 * heat...), named by the device type they report in 0-n:24.1.0 (EN 13757-3),
 * never by their channel: gas_provided, water_provided_2. */
#ifndef M2M_MBUS_H
#define M2M_MBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "meter/dsmr.h"

struct mbus_channel {
	int type;       /* from 24.1.0, -1 when none */
	int reading;    /* record index of the reading, -1 */
	bool live;      /* the reading has a real time */
	bool used;      /* any record on this channel */
	char base[24];  /* "gas", "water", "mbus_type_9", ... */
	int index;      /* 1 for the first of its base, 2, ... */
};

enum mbus_field { MBUS_PROVIDED, MBUS_ID, MBUS_VALVE, MBUS_TYPE };

/* A record of an M-Bus channel (0-n:24.x, 0-n:96.1.x with n 1..4); its
 * channel is key >> 32 & 255. */
bool mbus_is_record(uint64_t key);
/* Which field an M-Bus record is. */
enum mbus_field mbus_field_of(uint64_t key);

/* The groups of a reading record: time, value and unit (ug -1: the unit is
 * in the value group).  False when its shape is not one we know:
 * (time)(value*unit), or DSMR 2.2/3's (time)(00)(60)(1)(0-n:24.2.1)(unit)
 * with (value) on the next line. */
bool mbus_reading_groups(const struct dsmr_telegram *t, const struct dsmr_record *r, int *tg, int *vg, int *ug);
void mbus_reading_unit(const struct dsmr_telegram *t, int vg, int ug, const char **unit, size_t *n);

/* Finds and names the devices of a telegram: ch[1..4]. */
void mbus_scan(const struct dsmr_telegram *t, struct mbus_channel ch[5]);
/* "gas_provided", "water_equipment_identifier_2". */
void mbus_name(const struct mbus_channel *c, enum mbus_field f, char *out, size_t n);
/* A name mbus_name can make (for -p). */
bool mbus_name_known(const char *name);
/* The --list lines of the M-Bus names; -1 when a write failed. */
int mbus_list(FILE *out);

#endif
