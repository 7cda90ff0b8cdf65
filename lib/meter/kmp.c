#include "meter/kmp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "line/decimal.h"

/* ---- framing ---- */

bool kmp_needs_stuffing(uint8_t b)
{
	return b == 0x06 || b == 0x0D || b == 0x1B || b == 0x40 || b == 0x80;
}

size_t kmp_stuff(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (kmp_needs_stuffing(in[i])) {
			if (o + 2 > cap)
				return 0;
			out[o++] = KMP_ESCAPE;
			out[o++] = (uint8_t)(in[i] ^ 0xFF);
		} else {
			if (o + 1 > cap)
				return 0;
			out[o++] = in[i];
		}
	}
	return o;
}

int kmp_unstuff(const uint8_t *in, size_t n, uint8_t *out, size_t cap, const char **why)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = in[i];
		if (b == KMP_ESCAPE) {
			if (i + 1 == n) {
				*why = "escape byte 1B at the end";
				return -1;
			}
			b = (uint8_t)(in[++i] ^ 0xFF);
			if (!kmp_needs_stuffing(b)) {
				*why = "escape byte 1B before a byte that needs none";
				return -1;
			}
		} else if (kmp_needs_stuffing(b)) {
			*why = "a byte that must be escaped appears raw";
			return -1;
		}
		if (o == cap) {
			*why = "too long";
			return -1;
		}
		out[o++] = b;
	}
	return (int)o;
}

size_t kmp_frame_build(uint8_t start, const uint8_t *payload, size_t n, uint8_t *out, size_t cap)
{
	if (cap < 2)
		return 0;
	uint16_t crc = crc16_xmodem(0, payload, n);
	uint8_t tail[2] = { (uint8_t)(crc >> 8), (uint8_t)crc };
	out[0] = start;
	size_t o = 1;
	size_t body = kmp_stuff(payload, n, out + o, cap - o - 1);
	if (n && !body)
		return 0;
	o += body;
	size_t crcb = kmp_stuff(tail, 2, out + o, cap - o - 1);
	if (!crcb)
		return 0;
	o += crcb;
	out[o++] = KMP_STOP;
	return o;
}

static size_t request(uint8_t cid, const uint8_t *data, size_t n, uint8_t *out, size_t cap)
{
	uint8_t payload[2 + 1 + 2 * KMP_MAX_REGISTERS];
	payload[0] = KMP_DST_HEAT_METER;
	payload[1] = cid;
	if (n)
		memcpy(payload + 2, data, n);
	return kmp_frame_build(KMP_START_REQUEST, payload, n + 2, out, cap);
}

size_t kmp_request_get_type(uint8_t *out, size_t cap)
{
	return request(KMP_CID_GET_TYPE, NULL, 0, out, cap);
}

size_t kmp_request_get_serial(uint8_t *out, size_t cap)
{
	return request(KMP_CID_GET_SERIAL, NULL, 0, out, cap);
}

size_t kmp_request_get_register(const uint16_t *ids, int n, uint8_t *out, size_t cap)
{
	if (n < 1 || n > KMP_MAX_REGISTERS)
		return 0;
	uint8_t data[1 + 2 * KMP_MAX_REGISTERS];
	data[0] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		data[1 + 2 * i] = (uint8_t)(ids[i] >> 8);
		data[2 + 2 * i] = (uint8_t)ids[i];
	}
	return request(KMP_CID_GET_REGISTER, data, 1 + 2 * (size_t)n, out, cap);
}

/* ---- receiving ---- */

void kmp_rx_init(struct kmp_rx *rx, uint8_t want)
{
	rx->want = want;
	rx->state = KMP_RX_HUNT;
	rx->len = rx->raw = rx->discarded = 0;
	rx->why = rx->word = NULL;
	rx->bad = 0;
}

static bool is_wanted_start(const struct kmp_rx *rx, uint8_t b)
{
	if (rx->want)
		return b == rx->want;
	return b == KMP_START_REPLY || b == KMP_START_REQUEST;
}

static void begin_frame(struct kmp_rx *rx, uint8_t start)
{
	rx->state = KMP_RX_BODY;
	rx->start = start;
	rx->len = 0;
	rx->raw = 1;
}

static enum kmp_rx_event broken(struct kmp_rx *rx, const char *word, const char *why, uint8_t b)
{
	rx->word = word;
	rx->why = why;
	rx->bad = b;
	rx->state = KMP_RX_HUNT;
	return KMP_RX_ERROR;
}

static enum kmp_rx_event hunt(struct kmp_rx *rx, uint8_t b)
{
	if (is_wanted_start(rx, b)) {
		begin_frame(rx, b);
		return KMP_RX_MORE;
	}
	rx->discarded++;
	return b == KMP_ACK ? KMP_RX_ACK : KMP_RX_MORE;
}

static enum kmp_rx_event finish(struct kmp_rx *rx)
{
	rx->state = KMP_RX_HUNT;
	if (rx->len < 4)
		return broken(rx, "bad_frame", "frame too short", KMP_STOP);
	if (crc16_xmodem(0, rx->frame, rx->len) != 0)
		return broken(rx, "crc", "bad CRC", KMP_STOP);
	return KMP_RX_FRAME;
}

static enum kmp_rx_event store(struct kmp_rx *rx, uint8_t b)
{
	if (rx->len == sizeof rx->frame)
		return broken(rx, "too_long", "frame too long", b);
	rx->frame[rx->len++] = b;
	return KMP_RX_MORE;
}

enum kmp_rx_event kmp_rx_byte(struct kmp_rx *rx, uint8_t b)
{
	if (rx->state == KMP_RX_HUNT)
		return hunt(rx, b);
	rx->raw++;
	if (b == KMP_START_REPLY || b == KMP_START_REQUEST) {
		/* Stuffing keeps these out of a frame: a new frame has begun. */
		broken(rx, "cut_short", "cut short by a new start byte", b);
		if (is_wanted_start(rx, b))
			begin_frame(rx, b);
		return KMP_RX_ERROR;
	}
	if (rx->state == KMP_RX_ESCAPED) {
		rx->state = KMP_RX_BODY;
		uint8_t plain = (uint8_t)(b ^ 0xFF);
		if (!kmp_needs_stuffing(plain))
			return broken(rx, "bad_frame", "escape byte 1B before a byte that needs none", b);
		return store(rx, plain);
	}
	if (b == KMP_STOP) {
		rx->discarded = 0;
		return finish(rx);
	}
	if (b == KMP_ESCAPE) {
		rx->state = KMP_RX_ESCAPED;
		return KMP_RX_MORE;
	}
	if (b == KMP_ACK)
		return broken(rx, "bad_frame", "raw 06 inside a frame", b);
	return store(rx, b);
}

/* ---- decoding ---- */

int kmp_parse_registers(const uint8_t *frame, size_t n, struct kmp_record *out, int max, char *why, size_t whylen)
{
	if (n < 4 || frame[1] != KMP_CID_GET_REGISTER) {
		snprintf(why, whylen, "not a GetRegister reply");
		return -1;
	}
	const uint8_t *p = frame + 2, *end = frame + n - 2; /* without the CRC */
	int count = 0;
	while (p < end) {
		size_t left = (size_t)(end - p);
		if (left < 5 || left < 5u + p[3]) {
			snprintf(why, whylen, "record %d cut short: %zu bytes left", count + 1, left);
			return -1;
		}
		if (count == max) {
			snprintf(why, whylen, "more than %d records", max);
			return -1;
		}
		struct kmp_record r = { (uint16_t)(p[0] << 8 | p[1]), p[2], p[3], p[4], p + 5 };
		for (int i = 0; i < count; i++) {
			if (out[i].id == r.id) {
				/* Two values for one register: neither can be trusted. */
				snprintf(why, whylen, "register %u answered twice", r.id);
				return -1;
			}
		}
		out[count++] = r;
		p += 5 + r.len;
	}
	return count;
}

int kmp_value_text(uint8_t siex, const uint8_t *mantissa, size_t len, char *out, size_t outlen, char *why, size_t whylen)
{
	if (len == 0) {
		snprintf(why, whylen, "empty mantissa");
		return -1;
	}
	size_t skip = 0;
	while (skip < len && mantissa[skip] == 0)
		skip++;
	if (len - skip > 8) {
		snprintf(why, whylen, "mantissa of %zu significant bytes does not fit 64 bits", len - skip);
		return -1;
	}
	uint64_t m = 0;
	for (size_t i = skip; i < len; i++)
		m = m << 8 | mantissa[i];
	int exp10 = siex & 0x3F;
	if (siex & 0x40)
		exp10 = -exp10;
	int n = decimal_from_scaled(m, (siex & 0x80) != 0, exp10, out, outlen);
	if (n < 0)
		snprintf(why, whylen, "value too long to write");
	return n;
}

int kmp_value_encode(uint64_t mantissa, bool negative, int exp10, int len, uint8_t *siex, uint8_t out[8])
{
	if (exp10 < -63 || exp10 > 63 || len < 0 || len > 8)
		return -1;
	int need = 1;
	while (need < 8 && (mantissa >> (8 * need)) != 0)
		need++;
	if (len == 0)
		len = need > 4 ? need : 4;
	if (need > len)
		return -1;
	for (int i = 0; i < len; i++)
		out[i] = (uint8_t)(mantissa >> (8 * (len - 1 - i)));
	*siex = (uint8_t)((negative ? 0x80 : 0) | (exp10 < 0 ? 0x40 : 0) | abs(exp10));
	return len;
}

static int payload_of(const uint8_t *frame, size_t n, uint8_t cid, size_t want, const char **why)
{
	if (n < 4 || frame[1] != cid) {
		*why = "reply to another command";
		return -1;
	}
	if (n - 4 != want) {
		*why = "reply of unexpected length";
		return -1;
	}
	return 0;
}

int kmp_decode_serial(const uint8_t *frame, size_t n, uint32_t *serial, const char **why)
{
	if (payload_of(frame, n, KMP_CID_GET_SERIAL, 4, why) < 0)
		return -1;
	*serial = (uint32_t)frame[2] << 24 | (uint32_t)frame[3] << 16 | (uint32_t)frame[4] << 8 | frame[5];
	return 0;
}

int kmp_decode_type(const uint8_t *frame, size_t n, uint16_t *type, uint16_t *revision, const char **why)
{
	if (payload_of(frame, n, KMP_CID_GET_TYPE, 4, why) < 0)
		return -1;
	*type = (uint16_t)(frame[2] << 8 | frame[3]);
	*revision = (uint16_t)(frame[4] << 8 | frame[5]);
	return 0;
}

void kmp_revision_text(uint16_t revision, char out[8])
{
	unsigned letter = revision >> 8;
	if (letter == 0 || letter > 26)
		out[0] = '\0';
	else
		snprintf(out, 8, "%c%u", 'A' + letter - 1, revision & 0xFFu);
}

/* ---- tables ---- */

/* Kamstrup's unit codes 0x00..0x40, written in ASCII as the reading line
 * wants them ("C" for degrees Celsius, "m3" for cubic metres). */
static const char *const unit_names[] = {
	NULL, "Wh", "kWh", "MWh", "GWh", "J", "kJ", "MJ",                     /* 00 */
	"GJ", "cal", "kcal", "Mcal", "Gcal", "varh", "kvarh", "Mvarh",         /* 08 */
	"Gvarh", "VAh", "kVAh", "MVAh", "GVAh", "kW", "kW", "MW",              /* 10 */
	"GW", "kvar", "kvar", "Mvar", "Gvar", "VA", "kVA", "MVA",              /* 18 */
	"GVA", "V", "A", "kV", "kA", "C", "K", "l",                            /* 20 */
	"m3", "l/h", "m3/h", "m3xC", "t", "t/h", "h", "hh:mm:ss",              /* 28 */
	"yy:mm:dd", "yyyy:mm:dd", "mm:dd", NULL, "bar", "RTC", "ASCII", "m3x10", /* 30 */
	"tx10", "GJx10", "min", "bitfield", "s", "ms", "days", "RTC-Q",        /* 38 */
	"datetime",                                                            /* 40 */
};

const char *kmp_unit_name(uint8_t code)
{
	return code < sizeof unit_names / sizeof *unit_names ? unit_names[code] : NULL;
}

int kmp_unit_code(const char *name)
{
	/* From the top: kW and kvar then mean 0x16 and 0x1A, the codes meters
	 * use for power. */
	for (int i = (int)(sizeof unit_names / sizeof *unit_names) - 1; i >= 0; i--)
		if (unit_names[i] && strcmp(unit_names[i], name) == 0)
			return i;
	return -1;
}

uint8_t kmp_unit_unscale(uint8_t code, uint8_t *siex)
{
	static const struct { uint8_t scaled, base; } tens[] = { { 0x37, 0x28 }, { 0x38, 0x2C }, { 0x39, 0x08 } };
	for (size_t i = 0; i < sizeof tens / sizeof *tens; i++) {
		if (code != tens[i].scaled)
			continue;
		int exp10 = *siex & 0x3F;
		if (*siex & 0x40)
			exp10 = -exp10;
		exp10++;
		if (exp10 > 0x3F)
			return code;
		*siex = (uint8_t)((*siex & 0x80) | (exp10 < 0 ? 0x40 | -exp10 : exp10));
		return tens[i].base;
	}
	return code;
}

const struct kmp_register_info kmp_registers[] = {
	{ 60, "energy", "E1 heat energy", true },
	{ 80, "power", "actual power", true },
	{ 68, "volume", "V1 volume", true },
	{ 74, "flow", "V1 actual flow", true },
	{ 86, "flow_temperature", "T1 flow temperature", true },
	{ 87, "return_temperature", "T2 return temperature", true },
	{ 89, "temperature_difference", "T1-T2 temperature difference", true },
	{ 1004, "operating_hours", "operating-hour counter", true },
	{ 99, "info_code", "current info code", true },
	{ 61, "flow_energy", "E4 flow energy", false },
	{ 62, "return_energy", "E5 return-flow energy", false },
	{ 63, "cooling_energy", "E3 cooling energy", false },
	{ 94, "control_energy", "E2 control energy", false },
	{ 95, "tap_water_energy", "E6 tap water energy", false },
	{ 96, "energy_e7", "E7 energy", false },
	{ 97, "volume_temperature_flow", "E8 m3 x T1", false },
	{ 110, "volume_temperature_return", "E9 m3 x T2", false },
	{ 64, "tariff_2", "tariff register 2", false },
	{ 65, "tariff_3", "tariff register 3", false },
	{ 66, "tariff_limit_2", "tariff limit 2", false },
	{ 67, "tariff_limit_3", "tariff limit 3", false },
	{ 69, "volume_2", "V2 volume", false },
	{ 72, "mass", "V1 mass", false },
	{ 73, "mass_2", "V2 mass", false },
	{ 75, "flow_2", "V2 actual flow", false },
	{ 84, "input_a", "input register VA", false },
	{ 85, "input_b", "input register VB", false },
	{ 88, "temperature_3", "T3 temperature", false },
	{ 122, "temperature_4", "T4 temperature", false },
	{ 91, "pressure_flow", "pressure in flow", false },
	{ 92, "pressure_return", "pressure in return flow", false },
	{ 98, "target_date", "target (reading) date", false },
	{ 113, "info_event_counter", "info-event counter", false },
	{ 112, "customer_number_high", "customer number, high 8 digits", false },
	{ 1010, "customer_number_low", "customer number, low 8 digits", false },
	{ 114, "meter_number_a", "meter number VA", false },
	{ 104, "meter_number_b", "meter number VB", false },
	{ 123, "max_flow_date_year", "date of the year's maximum flow", false },
	{ 124, "max_flow_year", "maximum flow this year", false },
	{ 125, "min_flow_date_year", "date of the year's minimum flow", false },
	{ 126, "min_flow_year", "minimum flow this year", false },
	{ 127, "max_power_date_year", "date of the year's maximum power", false },
	{ 128, "max_power_year", "maximum power this year", false },
	{ 129, "min_power_date_year", "date of the year's minimum power", false },
	{ 130, "min_power_year", "minimum power this year", false },
	{ 138, "max_flow_date_month", "date of the month's maximum flow", false },
	{ 139, "max_flow_month", "maximum flow this month", false },
	{ 140, "min_flow_date_month", "date of the month's minimum flow", false },
	{ 141, "min_flow_month", "minimum flow this month", false },
	{ 142, "max_power_date_month", "date of the month's maximum power", false },
	{ 143, "max_power_month", "maximum power this month", false },
	{ 144, "min_power_date_month", "date of the month's minimum power", false },
	{ 145, "min_power_month", "minimum power this month", false },
	{ 146, "avg_flow_temperature_year", "year-to-date average T1", false },
	{ 147, "avg_return_temperature_year", "year-to-date average T2", false },
	{ 149, "avg_flow_temperature_month", "month-to-date average T1", false },
	{ 150, "avg_return_temperature_month", "month-to-date average T2", false },
	{ 152, "program_number", "program number ABCCCCCC", false },
	{ 153, "config_number_1", "configuration number DDDEE", false },
	{ 168, "config_number_2", "configuration number FFGGMN", false },
	{ 154, "software_checksum", "software checksum", false },
	{ 157, "top_module_id", "top module id", false },
	{ 158, "base_module_id", "base module id", false },
	{ 175, "error_hours", "error-hour counter", false },
	{ 229, "avg_flow_temperature_autoint", "T1 average over the last autointegration", false },
	{ 230, "avg_return_temperature_autoint", "T2 average over the last autointegration", false },
	{ 234, "litres_per_pulse_a", "litres per pulse, input A", false },
	{ 235, "litres_per_pulse_b", "litres per pulse, input B", false },
	{ 239, "volume_high_resolution", "V1 high resolution", false },
	{ 266, "energy_high_resolution", "E1 high resolution", false },
	{ 267, "cooling_energy_high_resolution", "E3 high resolution", false },
	{ 1001, "serial_number", "serial number", false },
	{ 1002, "meter_time", "meter clock, hhmmss", false },
	{ 1003, "meter_date", "meter date, YYMMDD", false },
	{ 1005, "software_edition", "software edition", false },
};
const size_t kmp_register_count = sizeof kmp_registers / sizeof *kmp_registers;

const struct kmp_register_info *kmp_register_by_id(uint16_t id)
{
	for (size_t i = 0; i < kmp_register_count; i++)
		if (kmp_registers[i].id == id)
			return &kmp_registers[i];
	return NULL;
}

const struct kmp_register_info *kmp_register_by_name(const char *name)
{
	for (size_t i = 0; i < kmp_register_count; i++)
		if (strcmp(kmp_registers[i].name, name) == 0)
			return &kmp_registers[i];
	return NULL;
}

int kmp_register_parse(const char *s, uint16_t *id)
{
	const struct kmp_register_info *r = kmp_register_by_name(s);
	if (r) {
		*id = r->id;
		return 0;
	}
	if (strncmp(s, "register_", 9) == 0)
		s += 9;
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	const char *digits = hex ? s + 2 : s;
	if (!*digits || *digits == '-' || *digits == '+' || *digits == ' ')
		return -1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(digits, &end, hex ? 16 : 10);
	if (errno || *end || v > 0xFFFF)
		return -1;
	*id = (uint16_t)v;
	return 0;
}

void kmp_register_name(uint16_t id, char *out, size_t outlen)
{
	const struct kmp_register_info *r = kmp_register_by_id(id);
	if (r)
		snprintf(out, outlen, "%s", r->name);
	else
		snprintf(out, outlen, "register_%u", id);
}
