/* dsmr.h: DSMR P1 telegrams: framing, parsing, and the
 * values of a reading line (dsmr_values.c, with the OBIS table of obis.h and
 * the M-Bus devices of mbus.h).  Pure functions over bytes: no I/O, no malloc
 * per telegram, so that p1read and the fuzz harness share every line.
 *
 *   bytes -> dsmr_framer_push -> one telegram '/'..'!' with its CRC checked
 *         -> dsmr_parse       -> records (OBIS code + value groups)
 *         -> dsmr_write_meter, dsmr_write_values -> the reading line */
#ifndef M2M_DSMR_H
#define M2M_DSMR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "line/jsonw.h"
#include "meter/obis.h"

/* The longest telegram kept.  DSMR 5 says about 1 KiB; Belgian and
 * Lithuanian meters send 3 KiB and more.  A longer one is dropped whole. */
#define DSMR_MAX_TELEGRAM 16384
#define DSMR_MAX_RECORDS 1536
#define DSMR_MAX_GROUPS 8192

/* When a telegram without CRC digits after '!' is good:
 * ABSENT   (DSMR 2.2/3): always; a CRC that is present must still verify.
 * REQUIRED (DSMR 4/5):   never.
 * AUTO:    until a telegram with a good CRC has been seen on this input;
 *          from then on the meter is known to send CRCs and one missing is
 *          an error. */
enum dsmr_crc_policy { DSMR_CRC_AUTO, DSMR_CRC_ABSENT, DSMR_CRC_REQUIRED };

/* What the framer made of bytes above 0x7F in a telegram.  A DSMR 4/5
 * meter on an 8N1 line sends 8-bit bytes (0xAB in a Fluvius header) and
 * its CRC covers them as sent; a 7E1 meter read on an 8N1 port sets bit 7
 * as the parity bit, which is stripped.  Bit 7 is stripped only where the
 * line is 7-bit: */
enum dsmr_bits {
	DSMR_BITS_ASCII,      /* no byte above 0x7F: nothing to decide */
	DSMR_BITS_8,          /* kept as received (the CRC holds over them) */
	DSMR_BITS_7_SETTINGS, /* stripped: the port is set to 7 data bits */
	DSMR_BITS_7_CRC,      /* stripped: every byte has even parity and the
	                         CRC holds only after stripping */
	DSMR_BITS_7_PARITY,   /* stripped: no CRC, and every byte has even parity */
};
/* "kept 8-bit bytes as received (the CRC holds over them)", ... */
const char *dsmr_bits_name(enum dsmr_bits bits);

enum dsmr_drop {
	DSMR_DROP_CRC,       /* the CRC does not match */
	DSMR_DROP_NO_CRC,    /* no CRC where one is required */
	DSMR_DROP_CRC_LINE,  /* something other than 1-4 hex digits after '!' */
	DSMR_DROP_CUT,       /* a new '/' came before the '!' */
	DSMR_DROP_EOF,       /* the input ended inside the telegram */
	DSMR_DROP_LOST,      /* the link was lost inside the telegram */
	DSMR_DROP_TOO_LONG,  /* longer than DSMR_MAX_TELEGRAM */
	DSMR_DROP_GARBAGE,   /* a line that is not an OBIS record, control bytes */
	DSMR_DROP_FRAME,     /* a binary frame: checksum, FCS, layout, APDU */
	DSMR_DROP_TAG,       /* a GCM tag that does not verify */
	DSMR_DROP_REPLAY,    /* a frame counter that did not increase */
	DSMR_DROP_KINDS
};
/* "CRC mismatch", "cut short by a new '/'", ... */
const char *dsmr_drop_name(enum dsmr_drop why);
/* "crc", "cut_short", ...: the reason word of a health line. */
const char *dsmr_drop_word(enum dsmr_drop why);

/* Binary frames, found only when the framer is told to look for them
 * (dsmr_framer_binary): see meter/dlms.h. */
enum dsmr_frame_kind {
	DSMR_FRAME_GCM,  /* 0xDB 0x08 ...: a general-global-ciphering APDU */
	DSMR_FRAME_MBUS, /* 68 L L 68 ... 16: an M-Bus long frame */
	DSMR_FRAME_HDLC, /* 7E Ax len ... 7E: an HDLC frame */
};

struct dsmr_event {
	enum { DSMR_EV_TELEGRAM, DSMR_EV_DROP, DSMR_EV_FRAME } kind;
	enum dsmr_frame_kind frame; /* DSMR_EV_FRAME: text, len are its raw bytes */
	enum dsmr_drop why;       /* DSMR_EV_DROP */
	unsigned long seq;        /* ordinal of the telegram in the input, from 1 */
	uint64_t offset;          /* byte offset of its '/' in the input */
	const char *text;         /* DSMR_EV_TELEGRAM: '/' .. '!' inclusive, */
	size_t len;               /*   valid until the next push */
	bool has_crc;
	enum dsmr_bits bits;      /* DSMR_EV_TELEGRAM: what became of bit 7 */
	char detail[64];          /* "sent 1E1C, computed 1E1D" */
};

struct dsmr_framer {
	enum dsmr_crc_policy policy;
	bool crc_seen;            /* AUTO: a good CRC was seen */
	bool seven_bit;           /* the port has 7 data bits: always strip bit 7 */
	bool binary;              /* look for binary DLMS frames too */
	enum dsmr_frame_kind frame;
	size_t frame_len;         /* its length, once the header said */
	unsigned char high;       /* bit 7 of any byte of this telegram */
	int state;
	size_t len;
	int ndigits;
	unsigned crc_sent;
	unsigned long seq;
	uint64_t pos, start;
	char buf[DSMR_MAX_TELEGRAM];
	/* the bytes of a bad binary frame after its first, looked through
	 * again for the start of the next (see dsmr_framer_rescan) */
	size_t rescan_pos, rescan_len;
	bool rescanning, rescan_binary_only, header_broke;
	uint64_t rescan_resume;
	char rescan[DSMR_MAX_TELEGRAM];
};

void dsmr_framer_init(struct dsmr_framer *f, enum dsmr_crc_policy policy);
/* The port is set to 7 data bits (7E1): bit 7 is noise, strip it always. */
void dsmr_framer_seven_bit(struct dsmr_framer *f, bool seven_bit);
/* Also find binary DLMS frames (0xDB, M-Bus 0x68, HDLC 0x7E) between
 * telegrams; their bytes are kept as received (bit 7 never stripped) and
 * framed by the length their header states. */
void dsmr_framer_binary(struct dsmr_framer *f, bool binary);
/* The binary frame just returned was bad (its checksum or tag failed): it
 * may have been cut short by the next one, so look through its bytes
 * after the first again before the next input. */
void dsmr_framer_rescan(struct dsmr_framer *f);
/* Consumes bytes until one telegram ends or is dropped.  Returns how many
 * bytes of data it consumed; *ev is filled (and true returned through
 * *got) when something happened.  Call again with the rest.  '/', '!' and
 * the CRC digits are found with bit 7 ignored; the telegram keeps its
 * bytes as received unless the line is 7-bit (see enum dsmr_bits). */
size_t dsmr_framer_push(struct dsmr_framer *f, const void *data, size_t n, struct dsmr_event *ev, bool *got);
/* True between a telegram's '/' and the end of its CRC line (or within a
 * binary frame). */
bool dsmr_framer_within(const struct dsmr_framer *f);
/* The input ended (why DSMR_DROP_EOF) or the link went (DSMR_DROP_LOST):
 * returns true with a drop in *ev when a telegram was begun and not ended. */
bool dsmr_framer_abort(struct dsmr_framer *f, enum dsmr_drop why, struct dsmr_event *ev);

/* CRC-16/ARC of data (the same as crc16_arc(0, data, n), faster). */
uint16_t dsmr_crc(const void *data, size_t n);

/* ---- the parsed telegram ---- */

struct dsmr_span {
	uint16_t off, len;
};

struct dsmr_record {
	uint64_t key;             /* the OBIS code, see obis.h */
	uint16_t first_group, ngroups;
	uint16_t line;
};

struct dsmr_telegram {
	const char *text;
	size_t len;
	struct dsmr_span header;  /* after '/', up to the line end */
	int nrec, ngrp;
	struct dsmr_record rec[DSMR_MAX_RECORDS];
	struct dsmr_span grp[DSMR_MAX_GROUPS];
	char why[96];             /* why dsmr_parse refused */
	/* Scratch for the writer: a hash set of the names emitted in this
	 * reading (slots of an older generation are empty). */
	uint64_t name_slot[4096];
	uint32_t name_gen[4096];
	uint32_t gen;
};

/* Splits a framed telegram ('/' .. '!') into records.  Returns 0, or -1
 * with t->why naming the line and the fault: a line that is not an OBIS
 * record, a control byte, an unclosed '('. */
int dsmr_parse(struct dsmr_telegram *t, const char *text, size_t len);

/* "YYMMDDhhmmss" with an optional S (summer, +02:00) or W (winter, +01:00)
 * to RFC 3339 ("2010-12-09T11:25:00+01:00", 25 bytes + NUL).  Without the
 * flag the offset follows the EU rule for CET/CEST.  Returns 0, or -1 when
 * the time is impossible (month 13, 31 April, the hour skipped or repeated
 * at a DST change when there is no flag) or a known "no time" marker
 * (000101000000, 700101...). */
int dsmr_time_to_rfc3339(const char *s, size_t n, char out[26]);

/* ---- the groups of a record: (...) each ---- */

static inline const char *dsmr_gtext(const struct dsmr_telegram *t, int g) { return t->text + t->grp[g].off; }
static inline size_t dsmr_glen(const struct dsmr_telegram *t, int g) { return t->grp[g].len; }

/* "YYMMDDhhmmss" with an optional S or W: the shape of a time (whether
 * the time exists is dsmr_time_to_rfc3339's to say). */
bool dsmr_group_is_timestamp(const struct dsmr_telegram *t, int g);
/* The group holds a time that exists. */
bool dsmr_group_time_ok(const struct dsmr_telegram *t, int g);

/* "000671.578*kWh", "01.234kW", "0001": the number as JSON text (see
 * num_to_json) and its unit, which points into the telegram. */
struct dsmr_number {
	char text[64];
	int len;
	const char *unit;
	size_t unitlen;
};
/* True, with num filled, when group g is a number with an optional unit. */
bool dsmr_group_number(const struct dsmr_telegram *t, int g, struct dsmr_number *num);

/* ---- parameter selection (-p) ---- */

#define DSMR_FILTER_MAX 128
struct dsmr_filter {
	int n;
	struct {
		bool is_obis;
		uint64_t key;
		char name[64];
	} item[DSMR_FILTER_MAX];
};
/* Adds a name (from the table, an M-Bus name such as gas_provided_2) or an
 * OBIS code.  Returns 0, or -1 with why filled in (unknown name). */
int dsmr_filter_add(struct dsmr_filter *f, const char *item, char *why, size_t whylen);

/* ---- the reading line ---- */

/* "meter":{"id":..,"version":..,"model":..}: what the meter says about
 * itself (the id hex-decoded when it is printable ASCII). */
void dsmr_write_meter(struct jw *w, const struct dsmr_telegram *t);
/* The members of "values" (the caller opens and closes the object).
 * filter may be NULL (every value).  Returns the number written. */
int dsmr_write_values(struct jw *w, struct dsmr_telegram *t, const struct dsmr_filter *filter);

/* --list: name, OBIS, unit, meaning; tab-separated, one per line.
 * Returns -1 when a write failed. */
int dsmr_list_params(FILE *out);

#endif
