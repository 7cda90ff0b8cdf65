/* dsmr.h: DSMR P1 telegrams: framing, parsing, the OBIS table and the
 * values of a reading line.  Pure functions over bytes: no I/O, no malloc
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

enum dsmr_drop {
	DSMR_DROP_CRC,       /* the CRC does not match */
	DSMR_DROP_NO_CRC,    /* no CRC where one is required */
	DSMR_DROP_CRC_LINE,  /* something other than 1-4 hex digits after '!' */
	DSMR_DROP_CUT,       /* a new '/' came before the '!' */
	DSMR_DROP_EOF,       /* the input ended inside the telegram */
	DSMR_DROP_LOST,      /* the link was lost inside the telegram */
	DSMR_DROP_TOO_LONG,  /* longer than DSMR_MAX_TELEGRAM */
	DSMR_DROP_GARBAGE,   /* a line that is not an OBIS record, control bytes */
	DSMR_DROP_KINDS
};
/* "CRC mismatch", "cut short by a new '/'", ... */
const char *dsmr_drop_name(enum dsmr_drop why);

struct dsmr_event {
	enum { DSMR_EV_TELEGRAM, DSMR_EV_DROP } kind;
	enum dsmr_drop why;       /* DSMR_EV_DROP */
	unsigned long seq;        /* ordinal of the telegram in the input, from 1 */
	uint64_t offset;          /* byte offset of its '/' in the input */
	const char *text;         /* DSMR_EV_TELEGRAM: '/' .. '!' inclusive, */
	size_t len;               /*   valid until the next push */
	bool has_crc;
	char detail[64];          /* "sent 1E1C, computed 1E1D" */
};

struct dsmr_framer {
	enum dsmr_crc_policy policy;
	bool crc_seen;            /* AUTO: a good CRC was seen */
	int state;
	size_t len;
	int ndigits;
	unsigned crc_sent;
	unsigned long seq;
	uint64_t pos, start;
	char buf[DSMR_MAX_TELEGRAM];
};

void dsmr_framer_init(struct dsmr_framer *f, enum dsmr_crc_policy policy);
/* Consumes bytes until one telegram ends or is dropped.  Returns how many
 * bytes of data it consumed; *ev is filled (and true returned through
 * *got) when something happened.  Call again with the rest.  Bit 7 of
 * every byte is ignored: DSMR is 7-bit ASCII, and a 7E1 meter read on an
 * 8N1 port sets it as the parity bit. */
size_t dsmr_framer_push(struct dsmr_framer *f, const void *data, size_t n, struct dsmr_event *ev, bool *got);
/* True between a telegram's '/' and the end of its CRC line. */
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
	uint64_t key;             /* the OBIS code, see dsmr_obis_parse */
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

/* OBIS code "A-B:C.D.E" with an optional ".F" or "*F" (F 255 is the same
 * as none): key = A<<40 | B<<32 | C<<24 | D<<16 | E<<8 | F.  C may be the
 * letter C, F, L or P (96..99).  Returns the length parsed, or 0. */
size_t dsmr_obis_parse(const char *s, size_t n, uint64_t *key);
/* "1-0:1.7.0" ("*F" added unless F is 255); out needs 32 bytes. */
size_t dsmr_obis_format(uint64_t key, char *out);

/* "YYMMDDhhmmss" with an optional S (summer, +02:00) or W (winter, +01:00)
 * to RFC 3339 ("2010-12-09T11:25:00+01:00", 25 bytes + NUL).  Without the
 * flag the offset follows the EU rule for CET/CEST.  Returns 0, or -1 when
 * the time is impossible (month 13, 31 April, the hour skipped or repeated
 * at a DST change when there is no flag) or a known "no time" marker
 * (000101000000, 700101...). */
int dsmr_time_to_rfc3339(const char *s, size_t n, char out[26]);

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

/* --list: name, OBIS, unit, meaning; tab-separated, one per line. */
void dsmr_list_params(FILE *out);

#endif
