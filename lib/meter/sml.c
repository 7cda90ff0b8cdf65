/* sml.c: SML framing (escapes, padding, file CRC), the decoder of the SML
 * type-length-value encoding, and the values of a reading line.  See sml.h.
 *
 * The transport (SML 1.04 part "transport protocol version 1") is 4-byte
 * aligned: a file is 1b1b1b1b 01010101, the messages in 4-byte words where
 * a word 1b1b1b1b is escaped by repeating it, zero padding to a multiple of
 * 4, and 1b1b1b1b 1a NN CRC CRC, NN being the padding count.  The CRC
 * covers every byte sent before it. */
#include "meter/sml.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "line/decimal.h"
#include "meter/obis.h"

/* Why an SML file was dropped: for people (on standard error), and as the
 * reason word of a health line (meter2mqtt(7), HEALTH). */
static const struct {
	const char *name, *word;
} drops[SML_DROP_KINDS] = {
	[SML_DROP_CRC] = { "CRC mismatch", "crc" },
	[SML_DROP_CUT] = { "cut short by a new start", "cut_short" },
	[SML_DROP_EOF] = { "input ended inside the file", "end_of_input" },
	[SML_DROP_LOST] = { "link lost inside the file", "link_lost" },
	[SML_DROP_TOO_LONG] = { "longer than 8192 bytes", "too_long" },
	[SML_DROP_ESCAPE] = { "bad escape sequence", "bad_escape" },
	[SML_DROP_GARBAGE] = { "not well-formed SML", "bad_sml" },
};

const char *sml_drop_name(enum sml_drop why)
{
	return (unsigned)why < SML_DROP_KINDS ? drops[why].name : "?";
}

const char *sml_drop_word(enum sml_drop why)
{
	return (unsigned)why < SML_DROP_KINDS ? drops[why].word : "other";
}

/* ---- CRCs ---- */

static uint16_t crc_reflected_1021(uint16_t crc, const uint8_t *p, size_t n)
{
	static uint16_t table[256];
	if (!table[1]) {
		for (unsigned i = 0; i < 256; i++) {
			uint16_t c = (uint16_t)i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? (uint16_t)(c >> 1 ^ 0x8408) : (uint16_t)(c >> 1);
			table[i] = c;
		}
	}
	while (n--)
		crc = (uint16_t)(crc >> 8 ^ table[(crc ^ *p++) & 0xff]);
	return crc;
}

uint16_t sml_crc_x25(const void *data, size_t n) { return (uint16_t)~crc_reflected_1021(0xffff, data, n); }
uint16_t sml_crc_kermit(const void *data, size_t n) { return crc_reflected_1021(0, data, n); }

/* ---- framing ---- */

#define START_SEQ 0x1b1b1b1b01010101ULL
enum { SEEK, IN_FILE, IN_ESCAPE };

void sml_framer_init(struct sml_framer *f)
{
	memset(f, 0, sizeof *f);
	f->state = SEEK;
}

static void begin_file(struct sml_framer *f)
{
	memset(f->raw, 0x1b, 4);
	memset(f->raw + 4, 0x01, 4);
	f->len = 8;
	f->state = IN_FILE;
	f->start = f->pos - 8;
	f->seek_count = 0;
	f->seq++;
}

static void drop(struct sml_framer *f, enum sml_drop why, struct sml_event *ev)
{
	memset(ev, 0, sizeof *ev);
	ev->kind = SML_EV_DROP;
	ev->why = why;
	ev->seq = f->seq;
	ev->offset = f->start;
	f->state = SEEK;
}

/* The words of the file so far without escapes, into msgs. */
static size_t unescape(const uint8_t *raw, size_t len, uint8_t *out)
{
	size_t o = 0;
	for (size_t i = 8; i + 4 <= len; i += 4) {
		if (memcmp(raw + i, "\x1b\x1b\x1b\x1b", 4) == 0 && i + 8 <= len)
			i += 4; /* the escaped word follows; it is 1b1b1b1b itself */
		memcpy(out + o, raw + i, 4);
		o += 4;
	}
	return o;
}

/* The end word 1a NN C1 C2 has arrived: checks the CRC and the padding. */
static void end_file(struct sml_framer *f, struct sml_event *ev)
{
	const uint8_t *w = f->raw + f->len - 4;
	uint16_t x25 = sml_crc_x25(f->raw, f->len - 2), kermit = sml_crc_kermit(f->raw, f->len - 2);
	uint16_t sent_le = (uint16_t)(w[2] | w[3] << 8), sent_be = (uint16_t)(w[2] << 8 | w[3]);
	/* The first good file tells which CRC this meter uses; from then on
	 * only that one counts, so that KERMIT, needed by a few meters, does
	 * not halve the protection of every other meter's files. */
	bool x25_good = sent_le == x25 && f->crc_kind != SML_CRC_KERMIT + 1;
	bool kermit_good = sent_be == kermit && f->crc_kind != SML_CRC_X25 + 1;
	if (!x25_good && !kermit_good) {
		drop(f, SML_DROP_CRC, ev);
		if (f->crc_kind == SML_CRC_KERMIT + 1)
			snprintf(ev->detail, sizeof ev->detail, "sent %04x, computed %04x (KERMIT)", sent_be, kermit);
		else
			snprintf(ev->detail, sizeof ev->detail, "sent %04x, computed %04x (X.25)", sent_le, x25);
		return;
	}
	enum sml_crc_kind kind = x25_good ? SML_CRC_X25 : SML_CRC_KERMIT;
	/* The messages: between the start and the end escape. */
	size_t n = unescape(f->raw, f->len - 8, f->msgs);
	/* Padding: 0 to 3 zero bytes by the standard; a DZG sends 4.  Any
	 * count is taken as long as the bytes it removes are zeros. */
	unsigned pad = w[1];
	bool zeros = pad <= n;
	for (size_t k = n - (zeros ? pad : 0); zeros && k < n; k++)
		zeros = f->msgs[k] == 0;
	if (!zeros) {
		drop(f, SML_DROP_ESCAPE, ev);
		snprintf(ev->detail, sizeof ev->detail, "padding %u over more than the zeros at the end", pad);
		return;
	}
	memset(ev, 0, sizeof *ev);
	ev->kind = SML_EV_FILE;
	ev->seq = f->seq;
	ev->offset = f->start;
	ev->data = f->msgs;
	ev->len = n - pad;
	ev->crc = kind;
	f->crc_kind = (int)kind + 1;
	f->state = SEEK;
}

/* One byte inside a file.  True when an event is in *ev. */
static bool in_file_byte(struct sml_framer *f, uint8_t c, struct sml_event *ev)
{
	if (f->len == SML_MAX_FILE) {
		drop(f, SML_DROP_TOO_LONG, ev);
		return true;
	}
	f->raw[f->len++] = c;
	/* A start sequence: the file was cut short.  Off the word grid (a byte
	 * was lost), or on it after an escape (or after 1b1b1b1b sent as data:
	 * the bytes cannot tell that from a cut, and a new start is the likely
	 * one, as SML's encoding never puts 01010101 after such data). */
	if (f->window == START_SEQ) {
		drop(f, SML_DROP_CUT, ev);
		begin_file(f);
		return true;
	}
	if (f->len % 4)
		return false;
	const uint8_t *w = f->raw + f->len - 4;
	bool escape_word = memcmp(w, "\x1b\x1b\x1b\x1b", 4) == 0;
	if (f->state == IN_FILE) {
		if (escape_word)
			f->state = IN_ESCAPE;
		return false;
	}
	/* The word after an escape. */
	f->state = IN_FILE;
	if (escape_word)
		return false; /* 1b1b1b1b sent as data */
	if (w[0] == 0x1a) {
		end_file(f, ev);
		return true;
	}
	drop(f, SML_DROP_ESCAPE, ev);
	snprintf(ev->detail, sizeof ev->detail, "escape 1b1b1b1b %02x%02x%02x%02x at byte %zu", w[0], w[1], w[2], w[3],
	         f->len - 8);
	return true;
}

size_t sml_framer_push(struct sml_framer *f, const void *data, size_t n, struct sml_event *ev, bool *got)
{
	const uint8_t *p = data;
	*got = false;
	for (size_t i = 0; i < n; i++) {
		f->pos++;
		f->window = f->window << 8 | p[i];
		if (f->state == SEEK) {
			f->skipped++;
			f->seek_count++;
			if (f->window == START_SEQ) {
				/* The start's own bytes were counted as garbage. */
				f->skipped -= f->seek_count < 8 ? f->seek_count : 8;
				begin_file(f);
			}
			continue;
		}
		if (in_file_byte(f, p[i], ev)) {
			*got = true;
			return i + 1;
		}
	}
	return n;
}

bool sml_framer_within(const struct sml_framer *f) { return f->state != SEEK; }

bool sml_framer_abort(struct sml_framer *f, enum sml_drop why, struct sml_event *ev)
{
	bool begun = sml_framer_within(f);
	if (begun)
		drop(f, why, ev);
	f->window = 0;
	return begun;
}

/* ---- the type-length-value decoder ---- */

enum { T_OCTETS = 0, T_BOOL = 4, T_INT = 5, T_UINT = 6, T_LIST = 7 };
#define MAX_DEPTH 16

struct cur {
	const uint8_t *p;
	size_t n, i;
	struct sml_file *f;
	bool bad;
};

struct tl {
	int type;
	size_t at;     /* where the element begins */
	size_t len;    /* data bytes; for a list, its element count */
	const uint8_t *data;
};

static bool fail(struct cur *c, size_t at, const char *what)
{
	if (!c->bad)
		snprintf(c->f->why, sizeof c->f->why, "byte %zu: %s", at, what);
	c->bad = true;
	return false;
}

/* The type-length field: one byte, or more when bit 7 says so, each adding
 * 4 bits of length.  The length of a scalar counts the field itself. */
static bool read_tl(struct cur *c, struct tl *t)
{
	t->at = c->i;
	if (c->i >= c->n)
		return fail(c, c->i, "the messages end inside an element");
	uint8_t b = c->p[c->i++];
	size_t len = b & 15, hdr = 1;
	t->type = b >> 4 & 7;
	while (b & 0x80) {
		if (hdr == 4 || c->i >= c->n)
			return fail(c, t->at, "type-length field too long");
		b = c->p[c->i++];
		if (b & 0x70)
			return fail(c, t->at, "bad type-length continuation");
		len = len << 4 | (b & 15);
		hdr++;
	}
	if (t->type == T_LIST) {
		t->len = len;
		t->data = NULL;
		return true;
	}
	if (t->type != T_OCTETS && t->type != T_BOOL && t->type != T_INT && t->type != T_UINT)
		return fail(c, t->at, "unknown type");
	if (len < hdr)
		return fail(c, t->at, len == 0 ? "end of message inside a message" : "length shorter than its field");
	t->len = len - hdr;
	if (t->len > c->n - c->i)
		return fail(c, t->at, "element longer than the file");
	t->data = c->p + c->i;
	c->i += t->len;
	return true;
}

static bool skip_elements(struct cur *c, size_t count, int depth);

static bool skip_element(struct cur *c, int depth)
{
	struct tl t;
	if (!read_tl(c, &t))
		return false;
	return t.type != T_LIST || skip_elements(c, t.len, depth + 1);
}

static bool skip_elements(struct cur *c, size_t count, int depth)
{
	if (depth > MAX_DEPTH)
		return fail(c, c->i, "lists nested too deep");
	for (size_t k = 0; k < count; k++)
		if (!skip_element(c, depth))
			return false;
	return true;
}

/* An integer of 1 to 8 bytes (SML sends odd widths too: 3, 5, 7). */
static bool int_value(const struct tl *t, bool *negative, uint64_t *magnitude)
{
	if ((t->type != T_INT && t->type != T_UINT) || t->len < 1 || t->len > 8)
		return false;
	uint64_t u = 0;
	for (size_t k = 0; k < t->len; k++)
		u = u << 8 | t->data[k];
	*negative = t->type == T_INT && (t->data[0] & 0x80);
	if (*negative)
		*magnitude = t->len == 8 ? ~u + 1 : (1ULL << (8 * t->len)) - u;
	else
		*magnitude = u;
	return true;
}

static bool read_uint(struct cur *c, uint64_t *v, const char *what)
{
	struct tl t;
	bool neg;
	if (!read_tl(c, &t))
		return false;
	if (!int_value(&t, &neg, v) || neg)
		return fail(c, t.at, what);
	return true;
}

/* SML_Time: absent, a list (choice, value) with the value a seconds index,
 * a Unix time, or a list (time, local offset, season offset) in minutes;
 * some meters send the bare number (a seconds index). */
static bool read_time(struct cur *c, struct sml_time *out, int depth)
{
	struct tl t, v;
	bool neg;
	uint64_t u, choice;
	memset(out, 0, sizeof *out);
	if (!read_tl(c, &t))
		return false;
	if (t.type != T_LIST) {
		if (int_value(&t, &neg, &u) && !neg && u <= UINT32_MAX) {
			out->kind = SML_T_SECINDEX;
			out->value = (uint32_t)u;
		}
		return true;
	}
	if (t.len != 2)
		return skip_elements(c, t.len, depth + 1);
	if (!read_uint(c, &choice, "time choice is not a number") || !read_tl(c, &v))
		return false;
	if (v.type == T_LIST && v.len == 2 && depth < MAX_DEPTH) {
		/* EMH sends its operating time as (1, (1, seconds)). */
		c->i = v.at;
		return read_time(c, out, depth + 1);
	}
	if (v.type == T_LIST) {
		uint64_t stamp, off[2] = { 0, 0 };
		struct tl o;
		if (v.len != 3 || choice != 3)
			return skip_elements(c, v.len, depth + 2);
		if (!read_uint(c, &stamp, "local time is not a number"))
			return false;
		for (int k = 0; k < 2; k++) {
			if (!read_tl(c, &o))
				return false;
			if (!int_value(&o, &neg, &off[k]) || off[k] > 24 * 60)
				return true; /* an offset no zone has: no time */
			if (neg)
				off[k] = (uint64_t) - (int64_t)off[k];
		}
		if (stamp <= UINT32_MAX) {
			out->kind = SML_T_LOCAL;
			out->value = (uint32_t)stamp;
			out->offset_min = (int16_t)((int64_t)off[0] + (int64_t)off[1]);
		}
		return true;
	}
	if (int_value(&v, &neg, &u) && !neg && u <= UINT32_MAX && (choice == 1 || choice == 2)) {
		out->kind = choice == 1 ? SML_T_SECINDEX : SML_T_TIMESTAMP;
		out->value = (uint32_t)u;
	}
	return true;
}

static void server_id(struct sml_file *f, const struct tl *t)
{
	if (t->type == T_OCTETS && t->len > 0 && f->server_len == 0) {
		f->server_off = (uint16_t)(t->data - f->data);
		f->server_len = (uint16_t)t->len;
	}
}

/* Expects a list of n elements; false (and the element skipped) when it is
 * something else, which is not an error: the content is just not used. */
static bool list_of(struct cur *c, size_t n, int depth, bool *ok)
{
	struct tl t;
	*ok = false;
	if (!read_tl(c, &t))
		return false;
	if (t.type != T_LIST)
		return true;
	if (t.len != n)
		return skip_elements(c, t.len, depth + 1);
	*ok = true;
	return true;
}

/* SML_ListEntry: objName, status, valTime, unit, scaler, value, signature. */
static bool read_entry(struct cur *c, int depth)
{
	struct sml_file *f = c->f;
	struct sml_entry e;
	struct tl name, t;
	bool ok, neg;
	uint64_t u;
	memset(&e, 0, sizeof e);
	if (!list_of(c, 7, depth, &ok) || !ok)
		return !c->bad;
	if (!read_tl(c, &name) || !skip_element(c, depth + 1) || !read_time(c, &e.time, depth + 1) || !read_tl(c, &t))
		return false;
	if (int_value(&t, &neg, &u) && !neg && u <= 255) {
		e.has_unit = true;
		e.unit = (uint8_t)u;
	}
	if (!read_tl(c, &t))
		return false;
	if (int_value(&t, &neg, &u) && u <= 128)
		e.scaler = (int8_t)(neg ? -(int)u : (int)u);
	if (!read_tl(c, &t))
		return false;
	if (t.type == T_LIST) {
		/* A list value: a time (SML_Time), or something else to skip. */
		c->i = t.at;
		if (!read_time(c, &e.value_time, depth + 1))
			return false;
		if (e.value_time.kind != SML_T_NONE)
			e.kind = SML_V_TIME;
	} else if (int_value(&t, &e.negative, &e.magnitude)) {
		e.kind = SML_V_INT;
		e.int_bytes = (uint8_t)t.len;
		e.int_signed = t.type == T_INT;
	} else if (t.type == T_BOOL && t.len == 1) {
		e.kind = SML_V_BOOL;
		e.magnitude = t.data[0] != 0;
	} else {
		/* Octets, or an integer wider than 8 bytes: kept as sent. */
		e.kind = SML_V_BYTES;
		e.off = (uint16_t)(t.data - f->data);
		e.len = (uint16_t)t.len;
	}
	if (!skip_element(c, depth + 1))
		return false;
	if (name.type != T_OCTETS || name.len != 6)
		return true; /* not an OBIS code: nothing to name it by */
	for (int k = 0; k < 6; k++)
		e.obis = e.obis << 8 | name.data[k];
	if (f->nentry == SML_MAX_ENTRIES)
		return fail(c, name.at, "more than 128 values");
	f->entry[f->nentry++] = e;
	return true;
}

/* GetList.Res: clientId, serverId, listName, actSensorTime, valList,
 * listSignature, actGatewayTime. */
static bool get_list_response(struct cur *c, int depth)
{
	struct tl t;
	bool ok;
	if (!list_of(c, 7, depth, &ok) || !ok)
		return !c->bad;
	if (!skip_element(c, depth + 1) || !read_tl(c, &t))
		return false;
	if (t.type == T_LIST)
		return skip_elements(c, t.len, depth + 2) && skip_elements(c, 5, depth + 1);
	server_id(c->f, &t);
	struct sml_time when;
	if (!skip_element(c, depth + 1) || !read_time(c, &when, depth + 1) || !read_tl(c, &t))
		return false;
	if (when.kind != SML_T_NONE)
		c->f->sensor_time = when;
	if (t.type != T_LIST)
		return skip_elements(c, 2, depth + 1);
	for (size_t k = 0; k < t.len; k++)
		if (!read_entry(c, depth + 2))
			return false;
	return skip_elements(c, 2, depth + 1);
}

/* PublicOpen.Res: codepage, clientId, reqFileId, serverId, refTime, version. */
static bool open_response(struct cur *c, int depth)
{
	struct tl t;
	bool ok;
	struct sml_time when;
	if (!list_of(c, 6, depth, &ok) || !ok)
		return !c->bad;
	if (!skip_elements(c, 3, depth + 1) || !read_tl(c, &t))
		return false;
	if (t.type == T_LIST && !skip_elements(c, t.len, depth + 2))
		return false;
	server_id(c->f, &t);
	if (!read_time(c, &when, depth + 1))
		return false;
	if (when.kind != SML_T_NONE && c->f->sensor_time.kind == SML_T_NONE)
		c->f->sensor_time = when;
	return skip_element(c, depth + 1);
}

/* The message CRC: X.25 as the standard says, in either byte order, or
 * KERMIT as the Holley meters that also send the file CRC so. */
static bool message_crc_good(const uint8_t *p, size_t n, uint64_t sent)
{
	uint16_t x = sml_crc_x25(p, n), k = sml_crc_kermit(p, n);
	uint16_t xs = (uint16_t)(x >> 8 | x << 8), ks = (uint16_t)(k >> 8 | k << 8);
	return sent == x || sent == xs || sent == k || sent == ks;
}

/* SML_Message: transactionId, groupNo, abortOnError, body (tag, content),
 * crc16, endOfSmlMsg (00). */
static bool read_message(struct cur *c)
{
	struct tl t;
	uint64_t tag, crc;
	size_t begin = c->i;
	if (!read_tl(c, &t))
		return false;
	if (t.type != T_LIST || t.len != 6)
		return fail(c, begin, "a message is not a list of 6");
	if (!skip_elements(c, 3, 1) || !read_tl(c, &t))
		return false;
	if (t.type != T_LIST || t.len != 2)
		return fail(c, t.at, "a message body is not a list of 2");
	if (!read_uint(c, &tag, "message tag is not a number"))
		return false;
	bool ok = tag == 0x0701 ? get_list_response(c, 2) : tag == 0x0101 ? open_response(c, 2) : skip_element(c, 2);
	size_t crc_at = c->i;
	if (!ok || !read_uint(c, &crc, "message CRC is not a number"))
		return false;
	if (c->i >= c->n || c->p[c->i] != 0x00)
		return fail(c, c->i, "no end of message");
	c->i++;
	if (!message_crc_good(c->p + begin, crc_at - begin, crc))
		c->f->bad_msg_crc++;
	c->f->nmsg++;
	return true;
}

int sml_decode(struct sml_file *f, const uint8_t *data, size_t len)
{
	memset(f, 0, offsetof(struct sml_file, entry));
	f->data = data;
	f->len = len;
	f->why[0] = '\0';
	struct cur c = { data, len, 0, f, false };
	for (;;) {
		while (c.i < len && data[c.i] == 0x00)
			c.i++; /* padding */
		if (c.i == len)
			break;
		if (!read_message(&c))
			return -1;
	}
	if (f->nmsg == 0) {
		snprintf(f->why, sizeof f->why, "no message");
		return -1;
	}
	/* DZG DVS-7412 firmware sends 16.7.0 as a signed integer that is
	 * really unsigned, on these serial ranges only (the libsml-testing
	 * capture and libsml's own workaround say so); another DZG sends real
	 * negative power and must keep its sign. */
	const uint8_t *id = data + f->server_off;
	if (f->server_len == 10 && memcmp(id + 2, "DZG", 3) == 0) {
		uint32_t serial = (uint32_t)id[6] << 24 | (uint32_t)id[7] << 16 | (uint32_t)id[8] << 8 | id[9];
		if ((serial >= 42000000 && serial <= 48999999) || (serial >= 55000000 && serial <= 58999999)) {
			for (int k = 0; k < f->nentry; k++) {
				struct sml_entry *e = &f->entry[k];
				if (e->obis == OBIS(1, 0, 16, 7, 0) && e->kind == SML_V_INT && e->negative && e->int_bytes < 8) {
					e->magnitude = (1ULL << (8 * e->int_bytes)) - e->magnitude;
					e->negative = false;
					e->sign_fixed = true;
				}
			}
		}
	}
	return 0;
}

/* ---- units, names ---- */

/* DLMS/COSEM unit codes (IEC 62056-62), as the reading line writes them. */
static const char *const units[] = {
	[1] = "a", [2] = "mo", [3] = "wk", [4] = "d", [5] = "h", [6] = "min", [7] = "s", [8] = "deg",
	[9] = "C", [10] = "currency", [11] = "m", [12] = "m/s", [13] = "m3", [14] = "m3", [15] = "m3/h",
	[16] = "m3/h", [17] = "m3/d", [18] = "m3/d", [19] = "l", [20] = "kg", [21] = "N", [22] = "Nm",
	[23] = "Pa", [24] = "bar", [25] = "J", [26] = "J/h", [27] = "W", [28] = "VA", [29] = "var",
	[30] = "Wh", [31] = "VAh", [32] = "varh", [33] = "A", [34] = "C", [35] = "V", [36] = "V/m",
	[37] = "F", [38] = "ohm", [39] = "ohm m2/m", [40] = "Wb", [41] = "T", [42] = "A/m", [43] = "H",
	[44] = "Hz", [45] = "1/(Wh)", [46] = "1/(varh)", [47] = "1/(VAh)", [48] = "V2h", [49] = "A2h",
	[50] = "kg/s", [51] = "S", [52] = "K", [53] = "1/(V2h)", [54] = "1/(A2h)", [55] = "1/m3",
	[56] = "%", [57] = "Ah", [60] = "Wh/m3", [61] = "J/m3", [62] = "mol%", [63] = "g/m3", [64] = "Pa s",
};

const char *sml_unit_name(uint8_t code)
{
	return code < sizeof units / sizeof *units ? units[code] : NULL;
}

int sml_entry_decimal(const struct sml_entry *e, char *out, size_t outlen)
{
	if (e->kind != SML_V_INT)
		return -1;
	return decimal_from_scaled(e->magnitude, e->negative, e->scaler, out, outlen);
}

/* The codes of SML meters' identity that the protocol-neutral table in
 * meter/obis.c leaves out: the names the reading line gives them. */
static const struct {
	uint64_t obis;
	const char *name, *meaning;
} identity[] = {
	{ OBIS_KEY(1, 0, 96, 50, 1, 1), "manufacturer", "manufacturer's FLAG code (EMH, ISK, DZG, ...)" },
	{ OBIS(129, 129, 199, 130, 3), "manufacturer", "manufacturer's FLAG code (older meters)" },
	{ OBIS(1, 0, 0, 0, 9), "server_id", "server id (DIN 43863-5)" },
	{ OBIS(1, 0, 96, 1, 0), "server_id", "server id (DIN 43863-5)" },
	{ OBIS_KEY(1, 0, 0, 2, 0, 0), "firmware_version", "firmware version" },
};
#define NIDENTITY (sizeof identity / sizeof *identity)

/* The one place smlread names a code: the protocol-neutral table (the
 * same names as p1read's), then the identity codes above. */
const char *sml_param_name(uint64_t obis)
{
	const struct obis_param *p = obis_lookup(obis);
	if (p)
		return p->name;
	for (size_t k = 0; k < NIDENTITY; k++)
		if (identity[k].obis == obis)
			return identity[k].name;
	return NULL;
}

static bool name_known(const char *name)
{
	if (obis_by_name(name))
		return true;
	for (size_t k = 0; k < NIDENTITY; k++)
		if (strcmp(identity[k].name, name) == 0)
			return true;
	return false;
}

int sml_list_params(FILE *out)
{
	char code[32];
	if (obis_list(out) < 0)
		return -1;
	for (size_t k = 0; k < NIDENTITY; k++) {
		obis_format(identity[k].obis, code);
		if (fprintf(out, "%s\t%s\t-\t%s\n", identity[k].name, code, identity[k].meaning) < 0)
			return -1;
	}
	return 0;
}

int sml_filter_add(struct sml_filter *f, const char *item, char *why, size_t whylen)
{
	uint64_t key;
	size_t n = strlen(item);
	if (f->n >= SML_FILTER_MAX) {
		snprintf(why, whylen, "more than %d parameters", SML_FILTER_MAX);
		return -1;
	}
	if (n > 0 && obis_parse(item, n, &key) == n) {
		f->item[f->n].is_obis = true;
		f->item[f->n].key = key;
		f->item[f->n++].name[0] = '\0';
		return 0;
	}
	if (!name_known(item) || n >= sizeof f->item[0].name) {
		snprintf(why, whylen, "unknown parameter '%s' (see --list)", item);
		return -1;
	}
	f->item[f->n].is_obis = false;
	f->item[f->n].key = 0;
	memcpy(f->item[f->n++].name, item, n + 1);
	return 0;
}

/* ---- the reading line ---- */

static bool printable(const uint8_t *s, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (s[k] < 0x20 || s[k] > 0x7e)
			return false;
	return n > 0;
}

/* Octets as text when they are printable ASCII ("EMH", "1.02.007"),
 * otherwise as lowercase hex (server ids, public keys). */
static void put_octets(struct jw *w, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char buf[2 * 1024];
	if (printable(s, n)) {
		jw_stringn(w, (const char *)s, n);
		return;
	}
	if (n > sizeof buf / 2)
		n = sizeof buf / 2; /* no meter sends more; never past the buffer */
	for (size_t k = 0; k < n; k++) {
		buf[2 * k] = hex[s[k] >> 4];
		buf[2 * k + 1] = hex[s[k] & 15];
	}
	jw_stringn_plain(w, buf, 2 * n);
}

/* A Unix time as RFC 3339, in the meter's zone when it said which. */
static void put_time(struct jw *w, const struct sml_time *t)
{
	char out[32];
	time_t when = (time_t)t->value + (t->kind == SML_T_LOCAL ? t->offset_min * 60 : 0);
	struct tm tm;
	gmtime_r(&when, &tm);
	size_t n = strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &tm);
	if (t->kind == SML_T_LOCAL) {
		int off = abs(t->offset_min);
		n += (size_t)snprintf(out + n, sizeof out - n, "%c%02d:%02d", t->offset_min < 0 ? '-' : '+', off / 60, off % 60);
	} else {
		out[n++] = 'Z';
	}
	jw_stringn_plain(w, out, n);
}

void sml_write_meter(struct jw *w, const struct sml_file *f)
{
	char num[16];
	jw_key(w, "meter");
	jw_object_begin(w);
	if (f->server_len) {
		jw_key(w, "id");
		put_octets(w, f->data + f->server_off, f->server_len);
	}
	if (f->sensor_time.kind == SML_T_SECINDEX) {
		jw_key(w, "seconds_index");
		snprintf(num, sizeof num, "%u", (unsigned)f->sensor_time.value);
		jw_string(w, num);
	} else if (f->sensor_time.kind != SML_T_NONE) {
		jw_key(w, "time");
		put_time(w, &f->sensor_time);
	}
	jw_object_end(w);
}

static bool filter_pass(const struct sml_filter *flt, const char *name, uint64_t key)
{
	if (!flt || flt->n == 0)
		return true;
	for (int k = 0; k < flt->n; k++)
		if (flt->item[k].is_obis ? flt->item[k].key == key : strcmp(flt->item[k].name, name) == 0)
			return true;
	return false;
}

static bool name_used(char names[][48], int n, const char *name)
{
	for (int k = 0; k < n; k++)
		if (strcmp(names[k], name) == 0)
			return true;
	return false;
}

/* Writes the value; true when it is a number the unit belongs to. */
static bool put_value(struct jw *w, const struct sml_file *f, const struct sml_entry *e)
{
	char num[64];
	int len;
	switch (e->kind) {
	case SML_V_INT:
		/* jw_number_text makes text longer than 40 characters a string
		 * (consumers read numbers as doubles); a scaler no meter sends
		 * can get there. */
		len = sml_entry_decimal(e, num, sizeof num);
		if (len > 0 && len <= 40) {
			jw_number_text(w, num, (size_t)len);
			return true;
		}
		jw_null(w);
		break;
	case SML_V_BOOL: jw_bool(w, e->magnitude != 0); break;
	case SML_V_TIME:
		if (e->value_time.kind == SML_T_SECINDEX)
			jw_int(w, e->value_time.value);
		else
			put_time(w, &e->value_time);
		break;
	case SML_V_BYTES: put_octets(w, f->data + e->off, e->len); break;
	default: jw_null(w); break;
	}
	return false;
}

int sml_write_values(struct jw *w, const struct sml_file *f, const struct sml_filter *filter)
{
	static char names[SML_MAX_ENTRIES][48];
	int written = 0;
	for (int k = 0; k < f->nentry; k++) {
		const struct sml_entry *e = &f->entry[k];
		char code[32], name[48];
		obis_format(e->obis, code);
		const char *known = sml_param_name(e->obis);
		snprintf(name, sizeof name, "%s", known ? known : code);
		/* A name already used in this reading falls back to the code,
		 * then code_2, ...: no key repeats and nothing is lost. */
		if (name_used(names, written, name))
			snprintf(name, sizeof name, "%s", code);
		for (int n = 2; name_used(names, written, name); n++)
			snprintf(name, sizeof name, "%s_%d", code, n);
		if (!filter_pass(filter, name, e->obis) && !(known && filter_pass(filter, known, e->obis)))
			continue;
		memcpy(names[written++], name, sizeof name);
		jw_keyn_plain(w, name, strlen(name)); /* [a-z0-9_:.*-] only */
		jw_object_begin(w);
		jw_key(w, "value");
		bool number = put_value(w, f, e);
		const char *unit = e->has_unit ? sml_unit_name(e->unit) : NULL;
		if (unit && number) {
			jw_key(w, "unit");
			jw_string(w, unit);
		}
		jw_key(w, "obis");
		jw_stringn_plain(w, code, strlen(code));
		if (e->time.kind == SML_T_SECINDEX) {
			if (e->time.value) { /* DZG sends 0: no time at all */
				jw_key(w, "seconds_index");
				jw_int(w, e->time.value);
			}
		} else if (e->time.kind != SML_T_NONE) {
			jw_key(w, "time");
			put_time(w, &e->time);
		}
		jw_object_end(w);
	}
	return written;
}
