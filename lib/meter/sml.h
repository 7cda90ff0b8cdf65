/* sml.h: SML (Smart Message Language, SML 1.04 / BSI TR-03109) as German
 * meters send it on their optical interface: framing, decoding and the
 * values of a reading line.  Pure functions over bytes: no I/O, no malloc,
 * so that smlread and the fuzz harness share every line.
 *
 *   bytes -> sml_framer_push -> one SML file, escapes undone, CRC checked
 *         -> sml_decode      -> GetList entries (OBIS, unit, scaler, value)
 *         -> sml_write_meter, sml_write_values -> the reading line
 *
 * Our own decoder and not libsml: libsml 0.1.1 (Debian 12) reads past its
 * buffer on 4 of the 22 real files in ../shared/corpus/sml and on single
 * bit flips, allocates per node and gives values as doubles. */
#ifndef M2M_SML_H
#define M2M_SML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "line/jsonw.h"

/* The longest file kept, as sent (escapes included).  Meters send 200 to
 * 700 bytes; a longer one is dropped whole. */
#define SML_MAX_FILE 8192
#define SML_MAX_ENTRIES 128

enum sml_drop {
	SML_DROP_CRC,        /* the file CRC matches neither X.25 nor KERMIT */
	SML_DROP_CUT,        /* a new start came before the end */
	SML_DROP_EOF,        /* the input ended inside the file */
	SML_DROP_LOST,       /* the link was lost inside the file */
	SML_DROP_TOO_LONG,   /* longer than SML_MAX_FILE */
	SML_DROP_ESCAPE,     /* an escape sequence SML does not define */
	SML_DROP_GARBAGE,    /* the messages are not well-formed SML */
	SML_DROP_KINDS
};
/* "CRC mismatch", "cut short by a new start", ... */
const char *sml_drop_name(enum sml_drop why);
/* "crc", "cut_short", ...: the reason word of a health line. */
const char *sml_drop_word(enum sml_drop why);

/* Which CRC-16 the file's trailer carries: X.25 as SML 1.04 says (sent low
 * byte first), or KERMIT (sent high byte first) as some Holley DTZ541 do.
 * Either is accepted until the first good file; then only that one. */
enum sml_crc_kind { SML_CRC_X25, SML_CRC_KERMIT };

struct sml_event {
	enum { SML_EV_FILE, SML_EV_DROP } kind;
	enum sml_drop why;        /* SML_EV_DROP */
	unsigned long seq;        /* ordinal of the file in the input, from 1 */
	uint64_t offset;          /* byte offset of its start escape */
	const uint8_t *data;      /* SML_EV_FILE: the messages, escapes undone */
	size_t len;               /*   and padding removed; valid until the next push */
	enum sml_crc_kind crc;
	char detail[64];          /* "sent 1a2b, computed 3c4d" */
};

struct sml_framer {
	int state;
	uint64_t window;          /* the last 8 bytes, to find a start anywhere */
	size_t len;               /* raw bytes of the file so far */
	unsigned long seq;
	uint64_t pos, start;
	uint64_t skipped;         /* bytes outside any file (garbage, a file joined midway) */
	unsigned seek_count;      /* bytes looked at since the last file ended */
	int crc_kind;             /* 0 until a good file; then its sml_crc_kind + 1 */
	uint8_t raw[SML_MAX_FILE];
	uint8_t msgs[SML_MAX_FILE];
};

void sml_framer_init(struct sml_framer *f);
/* Consumes bytes until one file ends or is dropped.  Returns how many bytes
 * it consumed; *ev is filled (and *got set) when something happened.  Call
 * again with the rest.  Bytes before the first start escape (a stream
 * joined mid-file) are skipped. */
size_t sml_framer_push(struct sml_framer *f, const void *data, size_t n, struct sml_event *ev, bool *got);
/* True between a file's start escape and its end. */
bool sml_framer_within(const struct sml_framer *f);
/* The input ended (SML_DROP_EOF) or the link went (SML_DROP_LOST): true
 * with a drop in *ev when a file was begun and not ended. */
bool sml_framer_abort(struct sml_framer *f, enum sml_drop why, struct sml_event *ev);

/* CRC-16/X-25 (poly 0x1021 reflected, init and xorout 0xffff) and
 * CRC-16/KERMIT (the same without init and xorout). */
uint16_t sml_crc_x25(const void *data, size_t n);
uint16_t sml_crc_kermit(const void *data, size_t n);

/* ---- the decoded file ---- */

enum sml_value_kind { SML_V_NONE, SML_V_INT, SML_V_BYTES, SML_V_BOOL, SML_V_TIME };
enum sml_time_kind { SML_T_NONE, SML_T_SECINDEX, SML_T_TIMESTAMP, SML_T_LOCAL };

struct sml_time {
	enum sml_time_kind kind;
	uint32_t value;           /* seconds index, or Unix time (UTC) */
	int16_t offset_min;       /* SML_T_LOCAL: local offset + season offset */
};

struct sml_entry {
	uint64_t obis;            /* A<<40 | B<<32 | C<<24 | D<<16 | E<<8 | F */
	bool has_unit;
	uint8_t unit;             /* DLMS unit code: 30 Wh, 27 W, 35 V, ... */
	int8_t scaler;            /* value x 10^scaler */
	enum sml_value_kind kind;
	bool negative;            /* SML_V_INT: sign and magnitude */
	uint64_t magnitude;
	uint8_t int_bytes;        /*   bytes sent, and signed or not */
	bool int_signed;
	bool sign_fixed;          /*   the DZG DVS-7412 workaround was applied */
	uint16_t off, len;        /* SML_V_BYTES: within the file's data */
	struct sml_time time;     /* valTime, when sent */
	struct sml_time value_time; /* SML_V_TIME: a seconds index or a time */
};

struct sml_file {
	const uint8_t *data;
	size_t len;
	uint16_t server_off, server_len; /* server id (meter id), when sent */
	struct sml_time sensor_time;     /* GetList actSensorTime, or the Open's refTime */
	int nmsg;                 /* messages decoded */
	int bad_msg_crc;          /* messages whose own CRC was wrong */
	int nentry;
	struct sml_entry entry[SML_MAX_ENTRIES];
	char why[96];             /* why sml_decode refused */
};

/* Decodes the messages of one framed file.  Returns 0, or -1 with f->why
 * naming the byte and the fault.  A message whose own CRC is wrong is
 * kept (the file CRC protects its bytes) and counted in bad_msg_crc. */
int sml_decode(struct sml_file *f, const uint8_t *data, size_t len);

/* The DLMS unit code as text ("Wh", "W", "V"), or NULL when unknown. */
const char *sml_unit_name(uint8_t code);
/* A value as exact decimal text (never through a double): out needs 48
 * bytes.  Returns the length, or -1 (not a number). */
int sml_entry_decimal(const struct sml_entry *e, char *out, size_t outlen);
/* The reading line's name for an OBIS code, or NULL (kept by its code).
 * Historic values (F 96..100) have no name and keep their suffix. */
const char *sml_param_name(uint64_t obis);

/* ---- parameter selection (-p) ---- */

#define SML_FILTER_MAX 128
struct sml_filter {
	int n;
	struct {
		bool is_obis;
		uint64_t key;
		char name[64];
	} item[SML_FILTER_MAX];
};
int sml_filter_add(struct sml_filter *f, const char *item, char *why, size_t whylen);

/* ---- the reading line ---- */

/* "meter":{"id":..,"seconds_index":..|"time":..}. */
void sml_write_meter(struct jw *w, const struct sml_file *f);
/* The members of "values"; filter may be NULL.  Returns the number written. */
int sml_write_values(struct jw *w, const struct sml_file *f, const struct sml_filter *filter);
/* --list: name, OBIS, usual unit, meaning; tab-separated, one per line.
 * Returns -1 when a write failed. */
int sml_list_params(FILE *out);

#endif
