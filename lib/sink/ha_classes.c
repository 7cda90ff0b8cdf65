/* ha_classes.c: the parameter and unit tables behind Home Assistant
 * discovery.  See ha_classes.h.
 *
 * Sources, cited in the rows as:
 *   [UNITS]  DEVICE_CLASS_UNITS in homeassistant/components/sensor/const.py
 *            (home-assistant/core @00eb668): the units each device class takes.
 *   [STATE]  DEVICE_CLASS_STATE_CLASSES, same file: the state classes each
 *            device class takes.
 *   [SC]     SensorStateClass, same file: measurement is "a measurement in
 *            present time", total_increasing "a monotonically increasing
 *            total", total "a total amount" that may go down.
 *   [ENUM]   components/mqtt/sensor.py: options only with device_class enum
 *            and without state_class or unit; a state not in options is
 *            dropped.
 *   [TEXT]   components/mqtt/sensor.py, check_state_too_long: a state over
 *            255 characters is refused.
 *   [ENERGY] components/energy/validate.py @002ef74: grid energy in any
 *            UnitOfEnergy, gas in energy or m³/ft³/CCF/MCF/L, water in
 *            m³/L/gal/ft³/CCF/MCF, always total or total_increasing.
 * Parameter names are those of the readers: lib/meter/obis.c and mbus.c
 * (DSMR P1, also used by smlread and the encrypted P1 reader) and
 * lib/meter/kmp.c (Kamstrup MULTICAL registers). */
#include "sink/ha_classes.h"

#include <stddef.h>
#include <string.h>

static const char TOTAL[] = "total_increasing", MEASUREMENT[] = "measurement";

/* ---- by parameter ---- */

enum kind {
	BY_UNIT,   /* the unit decides */
	COUNTER,   /* a count that only grows [SC]: total_increasing, no unit */
	CODE,      /* an id, a code, a bit field, a date as a number: a number
	              that is no quantity, so no state class (HA would average it) */
	ENUM,      /* one of a known set [ENUM] */
	TEXT,      /* free text, maybe long [TEXT] */
	TIMESTAMP, /* an ISO 8601 time: device_class timestamp [UNITS] */
	MEASURE,   /* a quantity now, a peak or an average: measurement [SC] */
	SETTING,   /* a limit the meter is configured with: unit and class, but
	              no statistics */
};

struct param_row {
	const char *name;  /* exact, or "*suffix" */
	enum kind kind;
	const char *device_class; /* when the name alone says it */
	const char *const *options;
	bool diagnostic;
};

/* DSMR 0-0:96.14.0: tariff 1..4 (4 in Luxembourg's Smarty). */
static const char *const tariffs[] = { "1", "2", "3", "4", NULL };
/* DSMR 0-0:96.3.10, 0-n:24.4.0: 0 disconnected, 1 connected, 2 ready for
 * reconnection (DSMR 5.0.2, 6.12 and 7.9). */
static const char *const switch_states[] = { "0", "1", "2", NULL };

/* A name ending in _<digits> (a second gas meter: gas_provided_2, a KMP
 * tariff_2) is looked up again without it. */
static const struct param_row params[] = {
	/* DSMR identification: text or codes, for the device page. */
	{ "p1_message_header", CODE, NULL, NULL, true },
	{ "version_information", CODE, NULL, NULL, true },
	{ "equipment_identifier", CODE, NULL, NULL, true },
	{ "*_equipment_identifier", CODE, NULL, NULL, true },
	{ "meter_serial_number", CODE, NULL, NULL, true },
	{ "logical_device_name", CODE, NULL, NULL, true },
	{ "device_identifier", CODE, NULL, NULL, true },
	{ "equipment_state", CODE, NULL, NULL, true },
	{ "*_device_type", CODE, NULL, NULL, true }, /* EN 13757-3 device type */
	/* 0-0:1.0.0 is written as 2026-12-03T19:58:18+01:00. */
	{ "p1_message_timestamp", TIMESTAMP, "timestamp", NULL, false },
	{ "electricity_active_tariff", ENUM, "enum", tariffs, false },
	{ "actual_switch_position", ENUM, "enum", switch_states, false },
	{ "*_valve_position", ENUM, "enum", switch_states, false },
	/* Power failures, voltage sags and swells: counted since installation. */
	{ "*_count", COUNTER, NULL, NULL, false },
	/* 0-0:96.13.0 holds up to 1024 characters [TEXT]. */
	{ "text_message", TEXT, NULL, NULL, false },
	{ "text_message_code", TEXT, NULL, NULL, false },
	/* Unitless ratio: power_factor takes no unit [UNITS]. */
	{ "instantaneous_power_factor", MEASURE, "power_factor", NULL, false },
	{ "instantaneous_power_factor_l1", MEASURE, "power_factor", NULL, false },
	{ "instantaneous_power_factor_l2", MEASURE, "power_factor", NULL, false },
	{ "instantaneous_power_factor_l3", MEASURE, "power_factor", NULL, false },
	{ "maximum_demand_month", MEASURE, NULL, NULL, false },
	{ "actual_threshold_electricity", SETTING, NULL, NULL, true },
	{ "max_current_l1", SETTING, NULL, NULL, true },
	{ "max_current_l2", SETTING, NULL, NULL, true },
	{ "max_current_l3", SETTING, NULL, NULL, true },

	/* Kamstrup MULTICAL. */
	{ "info_code", CODE, NULL, NULL, true }, /* a bit field */
	{ "info_event_counter", COUNTER, NULL, NULL, false },
	{ "target_date", CODE, NULL, NULL, true },
	{ "meter_date", CODE, NULL, NULL, true },
	{ "meter_time", CODE, NULL, NULL, true },
	{ "*_date_year", CODE, NULL, NULL, false },
	{ "*_date_month", CODE, NULL, NULL, false },
	{ "serial_number", CODE, NULL, NULL, true },
	{ "customer_number_high", CODE, NULL, NULL, true },
	{ "customer_number_low", CODE, NULL, NULL, true },
	{ "meter_number_a", CODE, NULL, NULL, true },
	{ "meter_number_b", CODE, NULL, NULL, true },
	{ "program_number", CODE, NULL, NULL, true },
	{ "config_number", CODE, NULL, NULL, true }, /* config_number_1, _2 */
	{ "software_checksum", CODE, NULL, NULL, true },
	{ "software_edition", CODE, NULL, NULL, true },
	{ "top_module_id", CODE, NULL, NULL, true },
	{ "base_module_id", CODE, NULL, NULL, true },
	{ "tariff_limit", SETTING, NULL, NULL, true }, /* tariff_limit_2, _3 */
	{ "litres_per_pulse_a", SETTING, NULL, NULL, true },
	{ "litres_per_pulse_b", SETTING, NULL, NULL, true },
	/* The year's and month's extremes and averages: each a value of
	 * its time, never a running total. */
	{ "*_flow_year", MEASURE, NULL, NULL, false },
	{ "*_flow_month", MEASURE, NULL, NULL, false },
	{ "*_power_year", MEASURE, NULL, NULL, false },
	{ "*_power_month", MEASURE, NULL, NULL, false },
	{ "*_temperature_year", MEASURE, NULL, NULL, false },
	{ "*_temperature_month", MEASURE, NULL, NULL, false },
	{ "*_temperature_autoint", MEASURE, NULL, NULL, false },
};

static bool name_matches(const char *pattern, const char *name, size_t len)
{
	if (pattern[0] != '*')
		return strlen(pattern) == len && memcmp(pattern, name, len) == 0;
	size_t n = strlen(pattern + 1);
	return len >= n && memcmp(name + len - n, pattern + 1, n) == 0;
}

static const struct param_row *find_param_n(const char *name, size_t len)
{
	/* Exact names first: "text_message_code" is no "*_code". */
	for (int exact = 1; exact >= 0; exact--)
		for (size_t i = 0; i < sizeof params / sizeof *params; i++)
			if ((params[i].name[0] != '*') == exact && name_matches(params[i].name, name, len))
				return &params[i];
	return NULL;
}

static const struct param_row *find_param(const char *name)
{
	size_t len = strlen(name);
	const struct param_row *p = find_param_n(name, len);
	if (p)
		return p;
	size_t end = len;
	while (end > 0 && name[end - 1] >= '0' && name[end - 1] <= '9')
		end--;
	if (end < len && end > 1 && name[end - 1] == '_')
		return find_param_n(name, end - 1);
	return NULL;
}

/* ---- by unit ---- */

enum quantity {
	Q_TOTAL,   /* what a meter adds up: total_increasing [SC] */
	Q_NOW,     /* a rate, a level: measurement [SC] */
	Q_CODE,    /* a date, a time of day, a bit field: no quantity at all */
	Q_VOLUME,  /* a total volume: gas, water or volume by the parameter */
};

struct unit_row {
	const char *reader;       /* as the reading line writes it */
	const char *ha;           /* as Home Assistant spells it (NULL: none) */
	const char *device_class; /* NULL where no class takes the unit */
	enum quantity q;
};

static const struct unit_row units[] = {
	/* energy takes every UnitOfEnergy [UNITS], total or total_increasing
	 * [STATE], and so does the Energy dashboard [ENERGY]; heat meters
	 * count in kWh, MWh, GJ or Gcal alike. */
	{ "Wh", "Wh", "energy", Q_TOTAL },
	{ "kWh", "kWh", "energy", Q_TOTAL },
	{ "MWh", "MWh", "energy", Q_TOTAL },
	{ "GWh", "GWh", "energy", Q_TOTAL },
	{ "J", "J", "energy", Q_TOTAL },
	{ "kJ", "kJ", "energy", Q_TOTAL },
	{ "MJ", "MJ", "energy", Q_TOTAL },
	{ "GJ", "GJ", "energy", Q_TOTAL },
	{ "cal", "cal", "energy", Q_TOTAL },
	{ "kcal", "kcal", "energy", Q_TOTAL },
	{ "Mcal", "Mcal", "energy", Q_TOTAL },
	{ "Gcal", "Gcal", "energy", Q_TOTAL },
	/* Reactive and apparent energy: no device class takes varh or VAh in
	 * [UNITS], so the unit alone, still a total. */
	{ "varh", "varh", NULL, Q_TOTAL },
	{ "kvarh", "kvarh", NULL, Q_TOTAL },
	{ "Mvarh", "Mvarh", NULL, Q_TOTAL },
	{ "Gvarh", "Gvarh", NULL, Q_TOTAL },
	{ "VAh", "VAh", NULL, Q_TOTAL },
	{ "kVAh", "kVAh", NULL, Q_TOTAL },
	{ "MVAh", "MVAh", NULL, Q_TOTAL },
	{ "GVAh", "GVAh", NULL, Q_TOTAL },
	/* power: W, kW, MW, GW, measurement only [UNITS][STATE]. */
	{ "W", "W", "power", Q_NOW },
	{ "kW", "kW", "power", Q_NOW },
	{ "MW", "MW", "power", Q_NOW },
	{ "GW", "GW", "power", Q_NOW },
	/* reactive_power takes only var, apparent_power only VA [UNITS] (newer
	 * versions add kvar and kVA; older ones refuse them). */
	{ "var", "var", "reactive_power", Q_NOW },
	{ "kvar", "kvar", NULL, Q_NOW },
	{ "Mvar", "Mvar", NULL, Q_NOW },
	{ "Gvar", "Gvar", NULL, Q_NOW },
	{ "VA", "VA", "apparent_power", Q_NOW },
	{ "kVA", "kVA", NULL, Q_NOW },
	{ "MVA", "MVA", NULL, Q_NOW },
	{ "GVA", "GVA", NULL, Q_NOW },
	/* voltage: V, kV; current: A (not kA) [UNITS]. */
	{ "V", "V", "voltage", Q_NOW },
	{ "kV", "kV", "voltage", Q_NOW },
	{ "A", "A", "current", Q_NOW },
	{ "kA", "kA", NULL, Q_NOW },
	{ "Hz", "Hz", "frequency", Q_NOW },
	/* temperature in °C; a difference in K is temperature_delta, which
	 * Home Assistant converts without an offset [UNITS]. */
	{ "C", "°C", "temperature", Q_NOW },
	{ "°C", "°C", "temperature", Q_NOW },
	{ "K", "K", "temperature_delta", Q_NOW },
	{ "bar", "bar", "pressure", Q_NOW },
	/* Volumes: gas takes m³ (not L), water m³ and L, volume both [UNITS];
	 * Home Assistant writes L and m³ [UNITS: UnitOfVolume]. */
	{ "m3", "m³", "volume", Q_VOLUME },
	{ "m³", "m³", "volume", Q_VOLUME },
	{ "l", "L", "volume", Q_VOLUME },
	{ "L", "L", "volume", Q_VOLUME },
	/* volume_flow_rate takes m³/h (and L/min), not L/h [UNITS]. */
	{ "m3/h", "m³/h", "volume_flow_rate", Q_NOW },
	{ "l/h", "L/h", NULL, Q_NOW },
	/* Mass: weight has no tonne [UNITS]. */
	{ "t", "t", NULL, Q_TOTAL },
	{ "t/h", "t/h", NULL, Q_NOW },
	{ "m3xC", "m³·°C", NULL, Q_TOTAL },
	/* duration: d, h, min, s, ms, any state class [UNITS][STATE]; the
	 * meters count operating and error hours. */
	{ "h", "h", "duration", Q_TOTAL },
	{ "days", "d", "duration", Q_TOTAL },
	{ "min", "min", "duration", Q_NOW },
	{ "s", "s", "duration", Q_NOW },
	{ "ms", "ms", "duration", Q_NOW },
	/* Kamstrup's formats of dates, times and bit fields: numbers that are
	 * no quantity. */
	{ "hh:mm:ss", NULL, NULL, Q_CODE },
	{ "yy:mm:dd", NULL, NULL, Q_CODE },
	{ "yyyy:mm:dd", NULL, NULL, Q_CODE },
	{ "mm:dd", NULL, NULL, Q_CODE },
	{ "RTC", NULL, NULL, Q_CODE },
	{ "RTC-Q", NULL, NULL, Q_CODE },
	{ "datetime", NULL, NULL, Q_CODE },
	{ "bitfield", NULL, NULL, Q_CODE },
	{ "ASCII", NULL, NULL, Q_CODE },
	/* Kamstrup's scaled units never reach here from kmpread, which writes
	 * them in the base unit (meter2mqtt(7)); from elsewhere they are no
	 * unit Home Assistant knows: the unit alone, still a total. */
	{ "m3x10", "m3x10", NULL, Q_TOTAL },
	{ "tx10", "tx10", NULL, Q_TOTAL },
	{ "GJx10", "GJx10", NULL, Q_TOTAL },
};

static const struct unit_row *find_unit(const char *unit)
{
	for (size_t i = 0; i < sizeof units / sizeof *units; i++)
		if (strcmp(units[i].reader, unit) == 0)
			return &units[i];
	return NULL;
}

/* The Energy dashboard offers gas and water by device class [ENERGY]:
 * name them so where the reader says what flows.  A heat meter's volume is
 * the heating water going round: a plain volume. */
static const char *volume_class(const char *param, const char *ha_unit)
{
	if (strncmp(param, "gas", 3) == 0)
		return strcmp(ha_unit, "m³") == 0 ? "gas" : "volume"; /* gas takes no L [UNITS] */
	if (strstr(param, "water_"))
		return "water";
	return "volume";
}

/* Device classes that take no measurement [STATE]: a peak or an average of
 * such a unit keeps the unit and loses the class. */
static bool class_takes_measurement(const char *dc)
{
	static const char *const totals_only[] = { "energy", "gas", "water", "volume", NULL };
	for (const char *const *t = totals_only; *t; t++)
		if (strcmp(dc, *t) == 0)
			return false;
	return true;
}

static void by_unit(const char *param, const char *unit, enum kind kind, struct ha_class *c)
{
	const struct unit_row *u = unit && *unit ? find_unit(unit) : NULL;
	if (!u) {
		/* A unit Home Assistant does not know, or none: shown as it is;
		 * a total or a code cannot be told from a level, so no
		 * statistics rather than wrong ones. */
		c->unit = unit && *unit ? unit : NULL;
		return;
	}
	if (u->q == Q_CODE) {
		c->diagnostic = true;
		return;
	}
	c->unit = u->ha;
	c->device_class = u->q == Q_VOLUME ? volume_class(param, u->ha) : u->device_class;
	/* A limit or a peak of a quantity that is otherwise a total (a tariff
	 * limit in kWh) is no total: the unit without the class, which would
	 * offer it to the Energy dashboard [ENERGY]. */
	if ((kind == SETTING || kind == MEASURE) && c->device_class && !class_takes_measurement(c->device_class))
		c->device_class = NULL;
	if (kind == SETTING)
		c->diagnostic = true;
	else if (kind == MEASURE)
		c->state_class = MEASUREMENT;
	if (kind != BY_UNIT)
		return;
	c->state_class = u->q == Q_NOW ? MEASUREMENT : TOTAL;
}

static void classify(const char *param, const char *unit, bool number, struct ha_class *c)
{
	const struct param_row *p = find_param(param);
	enum kind kind = p ? p->kind : BY_UNIT;
	if (p)
		c->diagnostic = p->diagnostic;
	switch (kind) {
	case ENUM:
		c->device_class = p->device_class;
		c->options = p->options;
		return;
	case TEXT:
		c->long_text = true;
		return;
	case TIMESTAMP:
		c->device_class = number ? NULL : p->device_class;
		return;
	case CODE:
		return;
	case COUNTER:
		c->state_class = number ? TOTAL : NULL;
		return;
	case BY_UNIT:
	case MEASURE:
	case SETTING:
		break;
	}
	if (!number) {
		/* Text where a number was expected: a unit would make Home
		 * Assistant refuse it. */
		c->long_text = kind == BY_UNIT && !p;
		return;
	}
	if (p && p->device_class) {
		c->device_class = p->device_class;
		c->state_class = kind == SETTING ? NULL : MEASUREMENT;
		c->unit = unit && *unit ? unit : NULL;
		return;
	}
	by_unit(param, unit, kind, c);
}

void ha_classify(const char *param, const char *unit, bool number, struct ha_class *c)
{
	memset(c, 0, sizeof *c);
	classify(param, unit, number, c);
	/* As SensorEntity decides it: a unit, a state class or a numeric
	 * device class make Home Assistant expect a number. */
	bool textual_class = c->device_class && (strcmp(c->device_class, "enum") == 0 ||
	                                         strcmp(c->device_class, "timestamp") == 0);
	c->numeric = c->unit || c->state_class || (c->device_class && !textual_class);
}
