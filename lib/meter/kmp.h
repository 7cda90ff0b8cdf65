/* kmp.h: the Kamstrup Meter Protocol (KMP) as MULTICAL heat meters speak it
 * over the optical eye.  Pure protocol code: no I/O, no allocation.
 *
 *   request  80 | DST CID DATA.. CRC_H CRC_L | 0D   (to the meter)
 *   reply    40 | DST CID DATA.. CRC_H CRC_L | 0D   (from the meter)
 *   ack      06                                      (a lone byte)
 *
 * Between start and stop, each of 06 0D 1B 40 80 is sent as 1B (b ^ FF), so
 * a raw 40 or 80 is always a start and a raw 0D always a stop.  The CRC is
 * CRC-16/XMODEM over DST..DATA, high byte first; over DST..CRC it is 0.
 *
 * A GetRegister reply holds, per register: id (2 bytes), unit code, mantissa
 * length LEN, a sign/exponent byte SIEX, LEN mantissa bytes (big-endian):
 * value = (SIEX bit 7 ? -1 : 1) x mantissa x 10^((bit 6 ? -1 : 1) x (SIEX & 0x3F)).
 * See ../shared/research/kmp.md for the sources. */
#ifndef M2M_KMP_H
#define M2M_KMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	KMP_START_REQUEST = 0x80,
	KMP_START_REPLY = 0x40,
	KMP_STOP = 0x0D,
	KMP_ACK = 0x06,
	KMP_ESCAPE = 0x1B,
	KMP_DST_HEAT_METER = 0x3F,
	KMP_CID_GET_TYPE = 0x01,
	KMP_CID_GET_SERIAL = 0x02,
	KMP_CID_GET_REGISTER = 0x10,
	KMP_MAX_REGISTERS = 8,  /* per GetRegister request */
	KMP_FRAME_MAX = 1024,   /* unstuffed bytes between start and stop */
	KMP_VALUE_TEXT = 96,    /* room for any value's exact decimal text */
};

/* ---- framing ---- */

bool kmp_needs_stuffing(uint8_t b);
/* Stuffs n bytes into out.  Returns the length, or 0 if cap is too small. */
size_t kmp_stuff(const uint8_t *in, size_t n, uint8_t *out, size_t cap);
/* Removes stuffing.  Returns the length, or -1 (why set) on a dangling or
 * impossible escape or a byte that may not appear raw. */
int kmp_unstuff(const uint8_t *in, size_t n, uint8_t *out, size_t cap, const char **why);
/* A whole frame: start byte, payload + its CRC stuffed, stop byte.
 * Returns the length, or 0 if cap is too small. */
size_t kmp_frame_build(uint8_t start, const uint8_t *payload, size_t n, uint8_t *out, size_t cap);

/* Requests to the heat meter (DST 0x3F).  Return the frame length, or 0
 * if cap is too small or (GetRegister) n is not 1..8. */
size_t kmp_request_get_type(uint8_t *out, size_t cap);
size_t kmp_request_get_serial(uint8_t *out, size_t cap);
size_t kmp_request_get_register(const uint16_t *ids, int n, uint8_t *out, size_t cap);

/* ---- receiving ----
 * Feed every byte from the line to kmp_rx_byte.  Before a frame it discards
 * everything except the start byte it waits for (an IR head's echo of our
 * own request starts with a raw 80 and holds no raw 40); inside a frame it
 * removes stuffing and, at the stop byte, checks the CRC. */
enum kmp_rx_state { KMP_RX_HUNT, KMP_RX_BODY, KMP_RX_ESCAPED };
enum kmp_rx_event {
	KMP_RX_MORE,   /* nothing complete yet */
	KMP_RX_FRAME,  /* rx->frame[0..len) is a checked frame, DST..CRC */
	KMP_RX_ACK,    /* a lone 06 between frames */
	KMP_RX_ERROR,  /* a frame was broken (rx->why); hunting again, or, if
	                  a new start byte broke it, already inside the new one */
};
struct kmp_rx {
	uint8_t want;            /* start byte awaited: 0x40, 0x80, or 0 for either */
	enum kmp_rx_state state;
	uint8_t start;           /* start byte of the frame being read */
	uint8_t frame[KMP_FRAME_MAX];
	size_t len;              /* unstuffed bytes so far */
	size_t raw;              /* bytes on the wire of this frame, start and stop included */
	size_t discarded;        /* bytes dropped while hunting, since the last frame */
	const char *why;         /* after KMP_RX_ERROR */
	const char *word;        /*   and its reason word for health lines:
	                            crc, too_long, cut_short, bad_frame */
	uint8_t bad;             /* the byte that broke it, for messages */
};
void kmp_rx_init(struct kmp_rx *rx, uint8_t want);
enum kmp_rx_event kmp_rx_byte(struct kmp_rx *rx, uint8_t b);

/* ---- decoding (frames that passed kmp_rx: DST CID DATA.. CRC_H CRC_L) ---- */

struct kmp_record {
	uint16_t id;
	uint8_t unit;            /* unit code, see kmp_unit_name */
	uint8_t len;             /* mantissa bytes */
	uint8_t siex;            /* sign of mantissa, sign of exponent, exponent */
	const uint8_t *mantissa; /* points into the frame */
};

/* Splits a GetRegister reply into its records, by each record's own length,
 * never by request order or a fixed width.  Returns the count (0 is a valid
 * reply: the meter knew none of the ids), or -1 with why (a record cut
 * short, more than max records, an id twice). */
int kmp_parse_registers(const uint8_t *frame, size_t n, struct kmp_record *out, int max, char *why, size_t whylen);
/* The exact decimal text of a value (mantissa 6344, SIEX 0x42 -> "63.44").
 * Returns its length, or -1 with why when it cannot be written exactly (an
 * empty mantissa, one wider than 64 bits). out needs KMP_VALUE_TEXT bytes. */
int kmp_value_text(uint8_t siex, const uint8_t *mantissa, size_t len, char *out, size_t outlen, char *why, size_t whylen);
/* The other way (kmpsim): SIEX and a big-endian mantissa of len bytes for
 * +-mantissa x 10^exp10.  len 0 picks 4 bytes, or more when the mantissa
 * needs them.  Returns the mantissa length used, or -1 if exp10 is outside
 * -63..63 or the mantissa does not fit len bytes (max 8). */
int kmp_value_encode(uint64_t mantissa, bool negative, int exp10, int len, uint8_t *siex, uint8_t out[8]);

/* GetSerialNo: a 4-byte big-endian number.  GetType: 2-byte meter type and
 * 2-byte software revision (letter 1 = 'A', then a number).  Return 0, or
 * -1 with why. */
int kmp_decode_serial(const uint8_t *frame, size_t n, uint32_t *serial, const char **why);
int kmp_decode_type(const uint8_t *frame, size_t n, uint16_t *type, uint16_t *revision, const char **why);
/* "F1" from revision 0x0601; empty when the meter gave none (letter 0). */
void kmp_revision_text(uint16_t revision, char out[8]);

/* ---- tables ---- */

/* The unit as the meter states it ("kWh", "MWh", "GJ", "m3", "m3/h", "l/h",
 * "C", "K", "h", ...), or NULL for a plain number or an unknown code. */
const char *kmp_unit_name(uint8_t code);
/* The code for a unit name (kmpsim); where two codes share a name (kW,
 * kvar), the one real meters send.  -1 when unknown. */
int kmp_unit_code(const char *name);
/* Kamstrup's scaled units (m3x10, tx10, GJx10) as their base unit: the
 * unit code of m3, t or GJ, with the exponent in siex one higher, so that
 * the value's text is exact (never through a double).  Other units, and an
 * exponent that cannot grow, stay as they are. */
uint8_t kmp_unit_unscale(uint8_t code, uint8_t *siex);

struct kmp_register_info {
	uint16_t id;
	const char *name;        /* the parameter name in the reading line */
	const char *meaning;
	bool in_default_set;
};
extern const struct kmp_register_info kmp_registers[];
extern const size_t kmp_register_count;
const struct kmp_register_info *kmp_register_by_id(uint16_t id);
const struct kmp_register_info *kmp_register_by_name(const char *name);
/* A register given by name, decimal id or 0x hex id.  Returns 0, or -1. */
int kmp_register_parse(const char *s, uint16_t *id);
/* The parameter name of an id: the table's, else "register_<id>". */
void kmp_register_name(uint16_t id, char *out, size_t outlen);

#endif
