/* obis.c: OBIS codes and the parameter table.  See obis.h. */
#include "meter/obis.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"

/* ---- codes ---- */

static size_t parse_field(const char *s, size_t n, unsigned *v)
{
	size_t i = 0;
	unsigned x = 0;
	while (i < n && i < 3 && s[i] >= '0' && s[i] <= '9')
		x = x * 10 + (unsigned)(s[i++] - '0');
	if (i == 0 || x > 255 || (i < n && s[i] >= '0' && s[i] <= '9'))
		return 0;
	*v = x;
	return i;
}

size_t obis_parse(const char *s, size_t n, uint64_t *key)
{
	unsigned v[6] = { 0, 0, 0, 0, 0, 255 };
	static const char seps[5] = { '-', ':', '.', '.', 0 };
	size_t i = 0;
	for (int k = 0; k < 5; k++) {
		size_t got = 0;
		if (k == 2 && i < n && (s[i] == 'C' || s[i] == 'F' || s[i] == 'L' || s[i] == 'P')) {
			/* Letters in group C: C=96, F=97, L=98, P=99 (IEC 62056-61). */
			v[2] = s[i] == 'C' ? 96 : s[i] == 'F' ? 97 : s[i] == 'L' ? 98 : 99;
			got = 1;
		} else {
			got = parse_field(s + i, n - i, &v[k]);
		}
		if (!got)
			return 0;
		i += got;
		if (k < 4) {
			if (i >= n || s[i] != seps[k])
				return 0;
			i++;
		}
	}
	if (i + 1 < n && (s[i] == '.' || s[i] == '*')) {
		size_t got = parse_field(s + i + 1, n - i - 1, &v[5]);
		if (!got)
			return 0;
		i += 1 + got;
	}
	*key = (uint64_t)v[0] << 40 | (uint64_t)v[1] << 32 | (uint64_t)v[2] << 24 | (uint64_t)v[3] << 16 |
	       (uint64_t)v[4] << 8 | v[5];
	return i;
}

static char *put_uint(char *p, unsigned v)
{
	if (v >= 100)
		*p++ = (char)('0' + v / 100);
	if (v >= 10)
		*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

size_t obis_format(uint64_t key, char out[32])
{
	char *p = out;
	p = put_uint(p, (unsigned)(key >> 40 & 255));
	*p++ = '-';
	p = put_uint(p, (unsigned)(key >> 32 & 255));
	*p++ = ':';
	p = put_uint(p, (unsigned)(key >> 24 & 255));
	*p++ = '.';
	p = put_uint(p, (unsigned)(key >> 16 & 255));
	*p++ = '.';
	p = put_uint(p, (unsigned)(key >> 8 & 255));
	if ((key & 255) != 255) {
		*p++ = '*';
		p = put_uint(p, (unsigned)(key & 255));
	}
	*p = '\0';
	return (size_t)(p - out);
}

/* ---- the parameters ---- */

/* Names follow dsmr_parser and Home Assistant where they have one.  The
 * kind says how DSMR sends the value; other protocols read the same codes
 * as numbers, text or times and publish them under the same names. */
static struct obis_param params[] = {
	{ "p1_message_header", "1-3:0.2.8", "", OBIS_STR, "DSMR version of the P1 output", 0, 0 },
	{ "version_information", "0-0:96.1.4", "", OBIS_STR, "Belgian e-MUCS version", 0, 0 },
	{ "p1_message_timestamp", "0-0:1.0.0", "", OBIS_TIME, "time the meter made the telegram", 0, 0 },
	{ "equipment_identifier", "0-0:96.1.1", "", OBIS_ID, "equipment identifier", 0, 0 },
	{ "meter_serial_number", "0-0:96.1.0", "", OBIS_ID, "meter serial number (Iskra IE, E.ON HU)", 0, 0 },
	{ "logical_device_name", "0-0:42.0.0", "", OBIS_ID, "logical device name (Luxembourg, Hungary)", 0, 0 },
	{ "device_identifier", "1-0:0.0.0", "", OBIS_STR, "complete device id (EasyMeter Q3D, Iskra IE)", 0, 0 },
	{ "serial_number", "0-0:96.1.255", "", OBIS_STR, "device serial number (EasyMeter Q3D)", 0, 0 },
	{ "equipment_state", "1-0:96.5.5", "", OBIS_STR, "device state, hex (EasyMeter Q3D)", 0, 0 },
	{ "electricity_imported_total", "1-0:1.8.0", "kWh", OBIS_NUM, "energy used, all tariffs", 0, 0 },
	{ "electricity_used_tariff_1", "1-0:1.8.1", "kWh", OBIS_NUM, "energy used in tariff 1", 0, 0 },
	{ "electricity_used_tariff_2", "1-0:1.8.2", "kWh", OBIS_NUM, "energy used in tariff 2", 0, 0 },
	{ "electricity_used_tariff_3", "1-0:1.8.3", "kWh", OBIS_NUM, "energy used in tariff 3", 0, 0 },
	{ "electricity_used_tariff_4", "1-0:1.8.4", "kWh", OBIS_NUM, "energy used in tariff 4", 0, 0 },
	{ "electricity_exported_total", "1-0:2.8.0", "kWh", OBIS_NUM, "energy delivered, all tariffs", 0, 0 },
	{ "electricity_delivered_tariff_1", "1-0:2.8.1", "kWh", OBIS_NUM, "energy delivered in tariff 1", 0, 0 },
	{ "electricity_delivered_tariff_2", "1-0:2.8.2", "kWh", OBIS_NUM, "energy delivered in tariff 2", 0, 0 },
	{ "electricity_delivered_tariff_3", "1-0:2.8.3", "kWh", OBIS_NUM, "energy delivered in tariff 3", 0, 0 },
	{ "electricity_delivered_tariff_4", "1-0:2.8.4", "kWh", OBIS_NUM, "energy delivered in tariff 4", 0, 0 },
	{ "electricity_reactive_imported_total", "1-0:3.8.0", "kvarh", OBIS_NUM, "reactive energy imported", 0, 0 },
	{ "electricity_reactive_imported_tariff_1", "1-0:3.8.1", "kvarh", OBIS_NUM, "reactive energy imported, tariff 1", 0, 0 },
	{ "electricity_reactive_imported_tariff_2", "1-0:3.8.2", "kvarh", OBIS_NUM, "reactive energy imported, tariff 2", 0, 0 },
	{ "electricity_reactive_exported_total", "1-0:4.8.0", "kvarh", OBIS_NUM, "reactive energy exported", 0, 0 },
	{ "electricity_reactive_exported_tariff_1", "1-0:4.8.1", "kvarh", OBIS_NUM, "reactive energy exported, tariff 1", 0, 0 },
	{ "electricity_reactive_exported_tariff_2", "1-0:4.8.2", "kvarh", OBIS_NUM, "reactive energy exported, tariff 2", 0, 0 },
	{ "electricity_reactive_total_q1", "1-0:5.8.0", "kvarh", OBIS_NUM, "reactive energy, quadrant 1", 0, 0 },
	{ "electricity_reactive_total_q2", "1-0:6.8.0", "kvarh", OBIS_NUM, "reactive energy, quadrant 2", 0, 0 },
	{ "electricity_reactive_total_q3", "1-0:7.8.0", "kvarh", OBIS_NUM, "reactive energy, quadrant 3", 0, 0 },
	{ "electricity_reactive_total_q4", "1-0:8.8.0", "kvarh", OBIS_NUM, "reactive energy, quadrant 4", 0, 0 },
	{ "electricity_combined", "1-0:15.8.0", "kWh", OBIS_NUM, "absolute active energy (A+ plus A-)", 0, 0 },
	{ "electricity_active_tariff", "0-0:96.14.0", "", OBIS_NUM, "tariff in use (1 or 2)", 0, 0 },
	{ "current_electricity_usage", "1-0:1.7.0", "kW", OBIS_NUM, "power drawn now", 0, 0 },
	{ "current_electricity_delivery", "1-0:2.7.0", "kW", OBIS_NUM, "power delivered now", 0, 0 },
	{ "current_reactive_imported", "1-0:3.7.0", "kvar", OBIS_NUM, "reactive power imported now", 0, 0 },
	{ "current_reactive_exported", "1-0:4.7.0", "kvar", OBIS_NUM, "reactive power exported now", 0, 0 },
	{ "instantaneous_reactive_power_q1", "1-0:5.7.0", "kvar", OBIS_NUM, "reactive power now, quadrant 1", 0, 0 },
	{ "instantaneous_reactive_power_q2", "1-0:6.7.0", "kvar", OBIS_NUM, "reactive power now, quadrant 2", 0, 0 },
	{ "instantaneous_reactive_power_q3", "1-0:7.7.0", "kvar", OBIS_NUM, "reactive power now, quadrant 3", 0, 0 },
	{ "instantaneous_reactive_power_q4", "1-0:8.7.0", "kvar", OBIS_NUM, "reactive power now, quadrant 4", 0, 0 },
	{ "current_average_demand", "1-0:1.4.0", "kW", OBIS_NUM, "average demand of this quarter hour (Belgium)", 0, 0 },
	{ "maximum_demand_month", "1-0:1.6.0", "kW", OBIS_STAMP, "highest quarter-hour demand this month, with its time (Belgium)", 0, 0 },
	{ "maximum_demand_13_months", "0-0:98.1.0", "kW", OBIS_PEAKS, "highest demand of each of the last 13 months (Belgium)", 0, 0 },
	{ "actual_threshold_electricity", "0-0:17.0.0", "kW", OBIS_NUM, "power limit", 0, 0 },
	{ "actual_switch_position", "0-0:96.3.10", "", OBIS_NUM, "breaker state", 0, 0 },
	{ "short_power_failure_count", "0-0:96.7.21", "", OBIS_NUM, "power failures in any phase", 0, 0 },
	{ "long_power_failure_count", "0-0:96.7.9", "", OBIS_NUM, "long power failures in any phase", 0, 0 },
	{ "power_failure_log", "1-0:99.97.0", "s", OBIS_PFLOG, "long power failures: [{end, duration}]", 0, 0 },
	{ "voltage_sag_l1_count", "1-0:32.32.0", "", OBIS_NUM, "voltage sags in phase L1", 0, 0 },
	{ "voltage_sag_l2_count", "1-0:52.32.0", "", OBIS_NUM, "voltage sags in phase L2", 0, 0 },
	{ "voltage_sag_l3_count", "1-0:72.32.0", "", OBIS_NUM, "voltage sags in phase L3", 0, 0 },
	{ "voltage_swell_l1_count", "1-0:32.36.0", "", OBIS_NUM, "voltage swells in phase L1", 0, 0 },
	{ "voltage_swell_l2_count", "1-0:52.36.0", "", OBIS_NUM, "voltage swells in phase L2", 0, 0 },
	{ "voltage_swell_l3_count", "1-0:72.36.0", "", OBIS_NUM, "voltage swells in phase L3", 0, 0 },
	{ "text_message_code", "0-0:96.13.1", "", OBIS_TEXT, "text message code (hex decoded when text)", 0, 0 },
	{ "text_message", "0-0:96.13.0", "", OBIS_TEXT, "text message (hex decoded when text)", 0, 0 },
	{ "text_message_2", "0-0:96.13.2", "", OBIS_TEXT, "text message 2 (Luxembourg)", 0, 0 },
	{ "text_message_3", "0-0:96.13.3", "", OBIS_TEXT, "text message 3 (Luxembourg)", 0, 0 },
	{ "text_message_4", "0-0:96.13.4", "", OBIS_TEXT, "text message 4 (Luxembourg)", 0, 0 },
	{ "text_message_5", "0-0:96.13.5", "", OBIS_TEXT, "text message 5 (Luxembourg)", 0, 0 },
	{ "instantaneous_voltage_l1", "1-0:32.7.0", "V", OBIS_NUM, "voltage L1", 0, 0 },
	{ "instantaneous_voltage_l2", "1-0:52.7.0", "V", OBIS_NUM, "voltage L2", 0, 0 },
	{ "instantaneous_voltage_l3", "1-0:72.7.0", "V", OBIS_NUM, "voltage L3", 0, 0 },
	{ "instantaneous_current_l1", "1-0:31.7.0", "A", OBIS_NUM, "current L1", 0, 0 },
	{ "instantaneous_current_l2", "1-0:51.7.0", "A", OBIS_NUM, "current L2", 0, 0 },
	{ "instantaneous_current_l3", "1-0:71.7.0", "A", OBIS_NUM, "current L3", 0, 0 },
	{ "instantaneous_active_power_l1_positive", "1-0:21.7.0", "kW", OBIS_NUM, "power drawn on L1", 0, 0 },
	{ "instantaneous_active_power_l2_positive", "1-0:41.7.0", "kW", OBIS_NUM, "power drawn on L2", 0, 0 },
	{ "instantaneous_active_power_l3_positive", "1-0:61.7.0", "kW", OBIS_NUM, "power drawn on L3", 0, 0 },
	{ "instantaneous_active_power_l1_negative", "1-0:22.7.0", "kW", OBIS_NUM, "power delivered on L1", 0, 0 },
	{ "instantaneous_active_power_l2_negative", "1-0:42.7.0", "kW", OBIS_NUM, "power delivered on L2", 0, 0 },
	{ "instantaneous_active_power_l3_negative", "1-0:62.7.0", "kW", OBIS_NUM, "power delivered on L3", 0, 0 },
	{ "instantaneous_reactive_power_l1_positive", "1-0:23.7.0", "kvar", OBIS_NUM, "reactive power imported on L1", 0, 0 },
	{ "instantaneous_reactive_power_l1_negative", "1-0:24.7.0", "kvar", OBIS_NUM, "reactive power exported on L1", 0, 0 },
	{ "instantaneous_reactive_power_l2_positive", "1-0:43.7.0", "kvar", OBIS_NUM, "reactive power imported on L2", 0, 0 },
	{ "instantaneous_reactive_power_l2_negative", "1-0:44.7.0", "kvar", OBIS_NUM, "reactive power exported on L2", 0, 0 },
	{ "instantaneous_reactive_power_l3_positive", "1-0:63.7.0", "kvar", OBIS_NUM, "reactive power imported on L3", 0, 0 },
	{ "instantaneous_reactive_power_l3_negative", "1-0:64.7.0", "kvar", OBIS_NUM, "reactive power exported on L3", 0, 0 },
	{ "instantaneous_power_factor", "1-0:13.7.0", "", OBIS_NUM, "power factor", 0, 0 },
	{ "instantaneous_power_factor_l1", "1-0:33.7.0", "", OBIS_NUM, "power factor L1", 0, 0 },
	{ "instantaneous_power_factor_l2", "1-0:53.7.0", "", OBIS_NUM, "power factor L2", 0, 0 },
	{ "instantaneous_power_factor_l3", "1-0:73.7.0", "", OBIS_NUM, "power factor L3", 0, 0 },
	{ "frequency", "1-0:14.7.0", "Hz", OBIS_NUM, "grid frequency", 0, 0 },
	{ "instantaneous_active_power", "1-0:16.7.0", "kW", OBIS_NUM, "power now: drawn positive, delivered negative (SML)", 0, 0 },
	{ "instantaneous_active_power_l1", "1-0:36.7.0", "kW", OBIS_NUM, "power now on L1, signed (SML)", 0, 0 },
	{ "instantaneous_active_power_l2", "1-0:56.7.0", "kW", OBIS_NUM, "power now on L2, signed (SML)", 0, 0 },
	{ "instantaneous_active_power_l3", "1-0:76.7.0", "kW", OBIS_NUM, "power now on L3, signed (SML)", 0, 0 },
	{ "max_current_l1", "1-0:31.4.0", "A", OBIS_NUM, "current limit L1 (Belgium, Hungary)", 0, 0 },
	{ "max_current_l2", "1-0:51.4.0", "A", OBIS_NUM, "current limit L2 (Hungary)", 0, 0 },
	{ "max_current_l3", "1-0:71.4.0", "A", OBIS_NUM, "current limit L3 (Hungary)", 0, 0 },
};
#define NPARAMS (sizeof params / sizeof *params)

static const struct obis_param *by_key[NPARAMS];

static int key_order(const void *a, const void *b)
{
	uint64_t x = (*(const struct obis_param *const *)a)->key, y = (*(const struct obis_param *const *)b)->key;
	return x < y ? -1 : x > y;
}

/* The keys and hashes are derived from the text once, at first use. */
static void table_init(void)
{
	static bool ready;
	if (ready)
		return;
	for (size_t i = 0; i < NPARAMS; i++) {
		obis_parse(params[i].obis, strlen(params[i].obis), &params[i].key);
		params[i].name_hash = fnv1a64(FNV1A64_INIT, params[i].name, strlen(params[i].name));
		by_key[i] = &params[i];
	}
	qsort(by_key, NPARAMS, sizeof *by_key, key_order);
	ready = true;
}

const struct obis_param *obis_lookup(uint64_t key)
{
	table_init();
	size_t lo = 0, hi = NPARAMS;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (by_key[mid]->key == key)
			return by_key[mid];
		if (by_key[mid]->key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct obis_param *obis_by_name(const char *name)
{
	table_init();
	for (size_t i = 0; i < NPARAMS; i++)
		if (strcmp(params[i].name, name) == 0)
			return &params[i];
	return NULL;
}

int obis_list(FILE *out)
{
	for (size_t i = 0; i < NPARAMS; i++)
		if (fprintf(out, "%s\t%s\t%s\t%s\n", params[i].name, params[i].obis, params[i].unit[0] ? params[i].unit : "-",
		            params[i].meaning) < 0)
			return -1;
	return 0;
}
