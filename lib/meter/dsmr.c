/* dsmr.c: framing a byte stream into telegrams, splitting a telegram into
 * OBIS records, and meter timestamps.  See dsmr.h. */
#include "meter/dsmr.h"

#include <string.h>

#include "base/text.h"
#include "base/util.h"
#include "line/decimal.h"

enum { ST_IDLE, ST_BODY, ST_CRC, ST_SKIP, ST_BINARY };

/* Why a telegram was dropped: for people (on standard error), and as the
 * reason word of a health line (meter2mqtt(7), HEALTH). */
static const struct {
	const char *name, *word;
} drops[DSMR_DROP_KINDS] = {
	[DSMR_DROP_CRC] = { "CRC mismatch", "crc" },
	[DSMR_DROP_NO_CRC] = { "no CRC (this meter sends one)", "no_crc" },
	[DSMR_DROP_CRC_LINE] = { "bad CRC line after '!'", "bad_crc_line" },
	[DSMR_DROP_CUT] = { "cut short by a new '/'", "cut_short" },
	[DSMR_DROP_EOF] = { "cut short by the end of the input", "end_of_input" },
	[DSMR_DROP_LOST] = { "cut short by the loss of the link", "link_lost" },
	[DSMR_DROP_TOO_LONG] = { "longer than 16384 bytes", "too_long" },
	[DSMR_DROP_GARBAGE] = { "garbage", "bad_line" },
	[DSMR_DROP_FRAME] = { "bad frame", "bad_frame" },
	[DSMR_DROP_TAG] = { "GCM tag mismatch", "decrypt" },
	[DSMR_DROP_REPLAY] = { "replayed frame", "replay" },
};

const char *dsmr_drop_name(enum dsmr_drop why)
{
	return (unsigned)why < DSMR_DROP_KINDS ? drops[why].name : "?";
}

const char *dsmr_drop_word(enum dsmr_drop why)
{
	return (unsigned)why < DSMR_DROP_KINDS ? drops[why].word : "other";
}

const char *dsmr_bits_name(enum dsmr_bits bits)
{
	switch (bits) {
	case DSMR_BITS_ASCII: return "7-bit ASCII";
	case DSMR_BITS_8: return "8-bit bytes kept as received (the CRC holds over them)";
	case DSMR_BITS_7_SETTINGS: return "bit 7 stripped (the port is set to 7 data bits)";
	case DSMR_BITS_7_CRC: return "bit 7 stripped (a 7E1 line: every byte has even parity, the CRC holds only without bit 7)";
	case DSMR_BITS_7_PARITY: return "bit 7 stripped (a 7E1 line: no CRC, every byte has even parity)";
	}
	return "?";
}

void dsmr_framer_init(struct dsmr_framer *f, enum dsmr_crc_policy policy)
{
	f->policy = policy;
	f->crc_seen = false;
	f->seven_bit = false;
	f->binary = false;
	f->rescan_pos = f->rescan_len = 0;
	f->rescanning = false;
	f->header_broke = false;
	f->high = 0;
	f->state = ST_IDLE;
	f->len = 0;
	f->ndigits = 0;
	f->crc_sent = 0;
	f->seq = 0;
	f->pos = 0;
	f->start = 0;
}

void dsmr_framer_seven_bit(struct dsmr_framer *f, bool seven_bit)
{
	f->seven_bit = seven_bit;
}

void dsmr_framer_binary(struct dsmr_framer *f, bool binary)
{
	f->binary = binary;
}

/* Looks through the frame's bytes after its first again, before the rest
 * of the input (and before what was left of an earlier look). */
static void start_rescan(struct dsmr_framer *f, bool binary_only)
{
	size_t head = f->len > 1 ? f->len - 1 : 0;
	size_t tail = f->rescan_len - f->rescan_pos;
	if (head == 0 || head + tail > sizeof f->rescan)
		return;
	memmove(f->rescan + head, f->rescan + f->rescan_pos, tail);
	memcpy(f->rescan, f->buf + 1, head);
	if (tail == 0)
		f->rescan_resume = f->pos;
	f->rescan_binary_only = binary_only || (tail && f->rescan_binary_only);
	f->rescan_pos = 0;
	f->rescan_len = head + tail;
	f->pos = f->start + 1;
	f->len = 0;
}

void dsmr_framer_rescan(struct dsmr_framer *f)
{
	/* A bad frame: a '/' in its ciphertext is no telegram. */
	start_rescan(f, true);
}

static void event_init(const struct dsmr_framer *f, struct dsmr_event *ev, int kind, enum dsmr_drop why)
{
	ev->kind = kind;
	ev->why = why;
	ev->seq = f->seq;
	ev->offset = f->start;
	ev->text = NULL;
	ev->len = 0;
	ev->has_crc = false;
	ev->bits = DSMR_BITS_ASCII;
	ev->detail[0] = '\0';
}

static void put_hex(char *out, unsigned v, int digits)
{
	static const char hex[] = "0123456789ABCDEF";
	for (int i = digits - 1; i >= 0; i--) {
		out[i] = hex[v & 15];
		v >>= 4;
	}
	out[digits] = '\0';
}

/* CRC-16/ARC as crc16_arc in util.h computes it, eight bytes a step
 * (slicing-by-8): the CRC is the hottest loop of p1read, and byte at a
 * time every step waits for the one before. */
static uint16_t crc_tab[8][256];

static void crc_init(void)
{
	static bool ready;
	if (ready)
		return;
	for (int i = 0; i < 256; i++) {
		uint8_t b = (uint8_t)i;
		crc_tab[0][i] = crc16_arc(0, &b, 1);
	}
	for (int k = 1; k < 8; k++)
		for (int i = 0; i < 256; i++)
			crc_tab[k][i] = (uint16_t)(crc_tab[k - 1][i] >> 8 ^ crc_tab[0][crc_tab[k - 1][i] & 0xff]);
	ready = true;
}

uint16_t dsmr_crc(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint32_t crc = 0;
	crc_init();
	for (; n >= 8; n -= 8, p += 8) {
		uint32_t lo = (uint32_t)p[0] | (uint32_t)p[1] << 8;
		lo ^= crc;
		crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][lo >> 8] ^ crc_tab[5][p[2]] ^ crc_tab[4][p[3]] ^
		      crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
	}
	return crc16_arc((uint16_t)crc, p, n);
}

bool dsmr_framer_within(const struct dsmr_framer *f)
{
	return f->state == ST_BODY || f->state == ST_CRC || f->state == ST_BINARY;
}

static void strip_bit7(char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (char)(b[i] & 0x7f);
}

/* True when every byte has an even number of 1 bits: what 7 data bits and
 * an even parity bit look like to an 8-bit port. */
static bool even_parity(const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (__builtin_parity((unsigned char)b[i]))
			return false;
	return true;
}

/* '/' or '!' with bit 7 set: the parity bit of a 7E1 line (an 8-bit
 * meter sends them as ASCII). */
static bool framed_7bit(const struct dsmr_framer *f)
{
	return ((unsigned char)f->buf[0] | (unsigned char)f->buf[f->len - 1]) & 0x80;
}

/* Whether the CRC holds over the telegram as received, or, where bit 7
 * looks like an even parity bit in every byte, without it (then stripped
 * in f->buf).  *bits says which; *computed is for the message. */
static bool crc_holds(struct dsmr_framer *f, enum dsmr_bits *bits, unsigned *computed)
{
	*bits = DSMR_BITS_ASCII;
	if (f->high && f->seven_bit) {
		strip_bit7(f->buf, f->len);
		*bits = DSMR_BITS_7_SETTINGS;
	}
	*computed = dsmr_crc(f->buf, f->len);
	if (!f->high || f->seven_bit)
		return *computed == f->crc_sent;
	*bits = DSMR_BITS_8;
	bool seven = framed_7bit(f);
	if (*computed == f->crc_sent && !seven)
		return true;
	/* A 7E1 line read 8N1 gives bytes of even parity only; one bit 7
	 * flipped in an ASCII telegram does not, and stays a CRC error. */
	if (!even_parity(f->buf, f->len))
		return false;
	static char stripped[DSMR_MAX_TELEGRAM];
	memcpy(stripped, f->buf, f->len);
	strip_bit7(stripped, f->len);
	if (dsmr_crc(stripped, f->len) != f->crc_sent)
		return false;
	memcpy(f->buf, stripped, f->len);
	*bits = DSMR_BITS_7_CRC;
	return true;
}

/* No CRC to decide by: strip bit 7 when the port is 7-bit or every byte
 * has even parity (a 7E1 meter read 8N1).  False for a 7E1 telegram (its
 * '/' or '!' has the parity bit) with a parity error. */
static bool guess_bits(struct dsmr_framer *f, enum dsmr_bits *bits)
{
	*bits = DSMR_BITS_ASCII;
	if (!f->high)
		return true;
	bool even = even_parity(f->buf, f->len);
	*bits = f->seven_bit ? DSMR_BITS_7_SETTINGS : even ? DSMR_BITS_7_PARITY : DSMR_BITS_8;
	if (*bits == DSMR_BITS_8 && framed_7bit(f))
		return false;
	if (*bits != DSMR_BITS_8)
		strip_bit7(f->buf, f->len);
	return true;
}

/* The CRC line has ended (4 digits, or fewer and a line end). */
static void finish(struct dsmr_framer *f, struct dsmr_event *ev)
{
	enum dsmr_bits bits;
	f->state = ST_IDLE;
	if (f->ndigits > 0) {
		unsigned crc;
		if (!crc_holds(f, &bits, &crc)) {
			event_init(f, ev, DSMR_EV_DROP, DSMR_DROP_CRC);
			char sent[8], got[8];
			put_hex(sent, f->crc_sent, f->ndigits);
			put_hex(got, crc, 4);
			snprintf(ev->detail, sizeof ev->detail, "sent %s, computed %s", sent, got);
			return;
		}
		f->crc_seen = true;
		event_init(f, ev, DSMR_EV_TELEGRAM, 0);
		ev->has_crc = true;
	} else if (f->policy == DSMR_CRC_REQUIRED || (f->policy == DSMR_CRC_AUTO && f->crc_seen)) {
		event_init(f, ev, DSMR_EV_DROP, DSMR_DROP_NO_CRC);
		return;
	} else {
		if (!guess_bits(f, &bits)) {
			event_init(f, ev, DSMR_EV_DROP, DSMR_DROP_GARBAGE);
			snprintf(ev->detail, sizeof ev->detail, "parity error on a 7E1 line");
			return;
		}
		event_init(f, ev, DSMR_EV_TELEGRAM, 0);
	}
	ev->bits = bits;
	ev->text = f->buf;
	ev->len = f->len;
}

/* True when a byte of v is 0 (the classic bit trick). */
static inline bool has_zero_byte(uint64_t v)
{
	return ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL) != 0;
}

static bool binary_start(const struct dsmr_framer *f, unsigned char c)
{
	return f->binary && (c == 0xdb || c == 0x68 || c == 0x7e);
}

/* Looking for binary frames, a plaintext telegram is text: a byte above
 * 0x7E or a control byte other than CR, LF ends it (ciphertext that
 * happened to hold a '/'). */
static bool not_text(const struct dsmr_framer *f, unsigned char c)
{
	return f->binary && (c > 0x7e || (c < 0x20 && c != '\r' && c != '\n'));
}

/* The header of a binary frame so far (f->len bytes): -1 when it is none
 * after all, 0 when more is needed, else the frame's whole length. */
static long binary_header(const struct dsmr_framer *f)
{
	const unsigned char *b = (const unsigned char *)f->buf;
	size_t n = f->len;
	switch (f->frame) {
	case DSMR_FRAME_GCM: {
		/* DB 08 title(8) length(1, 81 n, 82 hi lo) security-control ... */
		if (n >= 2 && b[1] != 8)
			return -1;
		if (n < 11)
			return 0;
		size_t hdr = b[10] < 0x80 ? 11 : b[10] == 0x81 ? 12 : b[10] == 0x82 ? 13 : 0;
		if (!hdr)
			return -1;
		if (n <= hdr)
			return 0;
		size_t len = hdr == 11 ? b[10] : hdr == 12 ? b[11] : (size_t)b[11] << 8 | b[12];
		unsigned sc = b[hdr];
		if (len < 5 || !(sc & 0x20) || (sc & 0xc0))
			return -1;
		return (long)(hdr + len);
	}
	case DSMR_FRAME_MBUS:
		/* 68 L L 68 */
		if ((n >= 3 && b[2] != b[1]) || (n >= 4 && b[3] != 0x68) || (n >= 2 && b[1] < 5))
			return -1;
		return n < 4 ? 0 : (long)b[1] + 6;
	case DSMR_FRAME_HDLC:
		/* 7E Ax len: frame type 3, the length without the flags */
		if (n >= 2 && (b[1] & 0xf0) != 0xa0)
			return -1;
		if (n < 3)
			return 0;
		size_t len = (size_t)(b[1] & 7) << 8 | b[2];
		return len < 10 ? -1 : (long)len + 2;
	}
	return -1;
}

/* ST_BINARY: collect the frame's bytes as received. */
static size_t push_binary(struct dsmr_framer *f, const unsigned char *d, size_t n, struct dsmr_event *ev, bool *got)
{
	size_t i = 0;
	if (!f->frame_len) {
		while (i < n && !f->frame_len) {
			f->buf[f->len++] = (char)d[i];
			long total = binary_header(f);
			if (total < 0) {
				/* Not a frame after all (and not counted as one): the
				 * bytes after its first may begin something else. */
				f->len--;
				f->seq--;
				f->state = ST_IDLE;
				f->header_broke = true;
				return i;
			}
			i++;
			if (total > DSMR_MAX_TELEGRAM) {
				event_init(f, ev, DSMR_EV_DROP, DSMR_DROP_TOO_LONG);
				f->state = ST_IDLE;
				*got = true;
				return i;
			}
			f->frame_len = (size_t)total;
		}
	}
	size_t want = f->frame_len > f->len ? f->frame_len - f->len : 0;
	size_t take = n - i < want ? n - i : want;
	memcpy(f->buf + f->len, d + i, take);
	f->len += take;
	i += take;
	if (f->frame_len && f->len == f->frame_len) {
		event_init(f, ev, DSMR_EV_FRAME, 0);
		ev->frame = f->frame;
		ev->text = f->buf;
		ev->len = f->len;
		f->state = ST_IDLE;
		*got = true;
	}
	return i;
}

static size_t push_bytes(struct dsmr_framer *f, const unsigned char *d, size_t n, struct dsmr_event *ev, bool *got)
{
	size_t i = 0;
	*got = false;
	while (i < n && !*got && !f->header_broke) {
		switch (f->state) {
		case ST_IDLE:
		case ST_SKIP:
			/* Between telegrams anything goes (gateway lines, noise). */
			while (i < n && ((d[i] & 0x7f) != '/' || f->rescanning) && !binary_start(f, d[i]))
				i++;
			if (i == n)
				break;
			if (d[i] != '/' && binary_start(f, d[i])) {
				f->seq++;
				f->start = f->pos + i;
				f->frame = d[i] == 0xdb ? DSMR_FRAME_GCM : d[i] == 0x68 ? DSMR_FRAME_MBUS : DSMR_FRAME_HDLC;
				f->frame_len = 0;
				f->buf[0] = (char)d[i];
				f->len = 1;
				f->state = ST_BINARY;
				i++;
				break;
			}
			f->seq++;
			f->start = f->pos + i;
			f->buf[0] = (char)d[i];
			f->high = d[i] & 0x80;
			f->len = 1;
			f->state = ST_BODY;
			i++;
			break;
		case ST_BODY: {
			/* The hot loop: copy until '/' or '!' (bit 7 ignored),
			 * eight bytes at a time while none of them is one. */
			size_t len = f->len;
			char *b = f->buf;
			unsigned char c = 0;
			uint64_t high = 0;
			while (!f->binary && i + 8 <= n && len + 8 <= DSMR_MAX_TELEGRAM) {
				uint64_t raw, v;
				memcpy(&raw, d + i, 8);
				v = raw & 0x7f7f7f7f7f7f7f7fULL;
				if (has_zero_byte(v ^ 0x2f2f2f2f2f2f2f2fULL) || has_zero_byte(v ^ 0x2121212121212121ULL))
					break;
				high |= raw;
				memcpy(b + len, &raw, 8);
				len += 8;
				i += 8;
			}
			while (i < n) {
				c = d[i] & 0x7f;
				if (c == '/' || c == '!' || len == DSMR_MAX_TELEGRAM || not_text(f, d[i]))
					break;
				high |= d[i];
				b[len++] = (char)d[i];
				i++;
			}
			f->high |= (high & 0x8080808080808080ULL) != 0 ? 0x80 : 0;
			f->len = len;
			if (i == n)
				break;
			if (len == DSMR_MAX_TELEGRAM) {
				event_init(f, ev, DSMR_EV_DROP, DSMR_DROP_TOO_LONG);
				f->state = ST_SKIP;
				*got = true;
				break;
			}
			if (not_text(f, d[i])) {
				/* With binary frames about, a telegram is plain text:
				 * this byte may begin a frame. */
				event_init(f, ev, DSMR_EV_DROP, DSMR_DROP_GARBAGE);
				snprintf(ev->detail, sizeof ev->detail, "byte 0x%02X in a plaintext telegram", d[i]);
				f->state = ST_IDLE;
				*got = true;
				break;
			}
			if (c == '/') {
				/* Not consumed: it begins the next telegram. */
				event_init(f, ev, DSMR_EV_DROP, DSMR_DROP_CUT);
				f->state = ST_IDLE;
				*got = true;
				break;
			}
			f->high |= d[i] & 0x80;
			b[f->len++] = (char)d[i];
			i++;
			f->state = ST_CRC;
			f->ndigits = 0;
			f->crc_sent = 0;
			break;
		}
		case ST_CRC: {
			unsigned char c = d[i] & 0x7f;
			int h = hex_digit_value(c);
			if (h >= 0) {
				f->crc_sent = f->crc_sent << 4 | (unsigned)h;
				i++;
				if (++f->ndigits == 4) {
					finish(f, ev);
					*got = true;
				}
			} else if (c == '\r' || c == '\n') {
				i++;
				finish(f, ev);
				*got = true;
			} else {
				event_init(f, ev, DSMR_EV_DROP, DSMR_DROP_CRC_LINE);
				snprintf(ev->detail, sizeof ev->detail, "byte 0x%02X after %d digit%s", c, f->ndigits,
				         f->ndigits == 1 ? "" : "s");
				f->state = ST_IDLE;
				if (c != '/' && !binary_start(f, d[i]))
					i++;
				*got = true;
			}
			break;
		}
		case ST_BINARY: {
			i += push_binary(f, d + i, n - i, ev, got);
			break;
		}
		}
	}
	f->pos += i;
	return i;
}

/* A binary header that broke: look at its bytes after the first again. */
static void after_push(struct dsmr_framer *f)
{
	if (f->header_broke) {
		f->header_broke = false;
		start_rescan(f, false);
	}
}

/* The bytes waiting to be looked at again: true when they gave an event. */
static bool push_rescan(struct dsmr_framer *f, struct dsmr_event *ev, bool *got)
{
	while (f->rescan_pos < f->rescan_len) {
		f->rescanning = f->rescan_binary_only;
		size_t k = push_bytes(f, (const unsigned char *)f->rescan + f->rescan_pos, f->rescan_len - f->rescan_pos,
		                      ev, got);
		f->rescanning = false;
		f->rescan_pos += k;
		if (f->rescan_pos == f->rescan_len)
			f->pos = f->rescan_resume;
		after_push(f);
		if (*got)
			return true;
	}
	return false;
}

size_t dsmr_framer_push(struct dsmr_framer *f, const void *data, size_t n, struct dsmr_event *ev, bool *got)
{
	const unsigned char *d = data;
	size_t used = 0;
	/* A bad frame's bytes first: the next frame may begin inside. */
	if (push_rescan(f, ev, got))
		return 0;
	while (used < n) {
		used += push_bytes(f, d + used, n - used, ev, got);
		after_push(f);
		if (*got)
			break;
		/* A binary header broke: its bytes again, then the rest. */
		if (push_rescan(f, ev, got))
			break;
	}
	return used;
}

bool dsmr_framer_abort(struct dsmr_framer *f, enum dsmr_drop why, struct dsmr_event *ev)
{
	bool begun = dsmr_framer_within(f);
	if (f->rescan_pos < f->rescan_len) {
		f->pos = f->rescan_resume;
		f->rescan_pos = f->rescan_len = 0;
	}
	if (begun)
		event_init(f, ev, DSMR_EV_DROP, why);
	f->state = ST_IDLE;
	f->len = 0;
	return begun;
}

/* ---- telegram records ---- */

static int refuse(struct dsmr_telegram *t, unsigned line, const char *what)
{
	snprintf(t->why, sizeof t->why, "line %u: %s", line, what);
	return -1;
}

static bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* One "(...)" group at text[*i] == '('; a line break inside is kept (the
 * DSMR 4 spec example breaks a long text message). */
static int parse_group(struct dsmr_telegram *t, size_t *i, unsigned *line)
{
	const char *s = t->text;
	size_t end = t->len - 1; /* the '!' */
	size_t j = *i + 1;
	for (; j < end; j++) {
		unsigned char c = (unsigned char)s[j];
		if (c == ')')
			break;
		if (c == '\n')
			(*line)++;
		else if (c == '(')
			return refuse(t, *line, "'(' inside a value");
		else if ((c < 0x20 && c != '\r') || c == 0x7f) {
			char what[48];
			snprintf(what, sizeof what, "control byte 0x%02X in a value", c);
			return refuse(t, *line, what);
		}
	}
	if (j >= end)
		return refuse(t, *line, "value not closed by ')'");
	if (t->ngrp >= DSMR_MAX_GROUPS)
		return refuse(t, *line, "too many values");
	t->grp[t->ngrp].off = (uint16_t)(*i + 1);
	t->grp[t->ngrp].len = (uint16_t)(j - *i - 1);
	t->ngrp++;
	*i = j + 1;
	return 0;
}

int dsmr_parse(struct dsmr_telegram *t, const char *text, size_t len)
{
	t->text = text;
	t->len = len;
	t->nrec = t->ngrp = 0;
	t->why[0] = '\0';
	if (len < 2 || text[0] != '/' || text[len - 1] != '!')
		return refuse(t, 1, "not a telegram");
	size_t end = len - 1, i = 1;
	/* The identification line may hold control bytes (an Iskra IE meter
	 * sends 0x02), but not NUL, which no meter sends. */
	while (i < end && text[i] != '\r' && text[i] != '\n' && text[i] != '\0')
		i++;
	if (i < end && text[i] == '\0')
		return refuse(t, 1, "NUL byte in the identification line");
	if (i >= end)
		return refuse(t, 1, "no line end after the identification line");
	/* "/XXX5...": three letters name the manufacturer. */
	if (i < 5 || !is_alpha(text[1]) || !is_alpha(text[2]) || !is_alpha(text[3]))
		return refuse(t, 1, "identification line is not /XXX<ident>");
	t->header.off = 1;
	t->header.len = (uint16_t)(i - 1);
	unsigned line = 1;
	bool line_start = true;
	while (i < end) {
		char c = text[i];
		if (c == '\r' || c == '\n') {
			if (c == '\n')
				line++;
			line_start = true;
			i++;
			continue;
		}
		if (!line_start)
			return refuse(t, line, "junk after the last ')'");
		struct dsmr_record *r;
		if (c == '(') {
			/* A line of values continues the record before it: the
			 * DSMR 2.2/3 gas reading "0-1:24.3.0(...)...(m3)" then
			 * "(00001.001)" on the next line. */
			if (t->nrec == 0)
				return refuse(t, line, "value without an OBIS code");
			r = &t->rec[t->nrec - 1];
		} else {
			uint64_t key;
			size_t k = obis_parse(text + i, end - i, &key);
			if (k == 0 || text[i + k] != '(')
				return refuse(t, line, "not an OBIS record");
			if (t->nrec >= DSMR_MAX_RECORDS)
				return refuse(t, line, "too many records");
			r = &t->rec[t->nrec++];
			r->key = key;
			r->first_group = (uint16_t)t->ngrp;
			r->ngroups = 0;
			r->line = (uint16_t)(line > 65535 ? 65535 : line);
			i += k;
		}
		while (i < end && text[i] == '(') {
			if (parse_group(t, &i, &line) < 0)
				return -1;
			r->ngroups++;
		}
		line_start = false;
		if (i >= end)
			return refuse(t, line, "no line end before '!'");
	}
	if (!line_start)
		return refuse(t, line, "no line end before '!'");
	if (t->nrec == 0)
		return refuse(t, line, "no data lines");
	return 0;
}

/* ---- timestamps ---- */

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* 0 = Sunday (Sakamoto). */
static int weekday(int y, int m, int d)
{
	static const int t[12] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };
	if (m < 3)
		y--;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

/* Offset in hours of a CET/CEST wall-clock time: 1 or 2, or 0 when the
 * time does not exist (spring) or exists twice (autumn). */
static int cet_offset(int y, int mo, int d, int h)
{
	if (mo < 3 || mo > 10)
		return 1;
	if (mo > 3 && mo < 10)
		return 2;
	int last_sunday = 31 - weekday(y, mo, 31);
	if (d != last_sunday)
		return (d < last_sunday) == (mo == 3) ? 1 : 2;
	if (h == 2)
		return 0;
	if (mo == 3)
		return h < 2 ? 1 : 2;
	return h < 2 ? 2 : 1;
}

int dsmr_time_to_rfc3339(const char *s, size_t n, char out[26])
{
	if (n != 12 && n != 13)
		return -1;
	int f[6];
	for (int k = 0; k < 6; k++) {
		char a = s[2 * k], b = s[2 * k + 1];
		if (a < '0' || a > '9' || b < '0' || b > '9')
			return -1;
		f[k] = (a - '0') * 10 + (b - '0');
	}
	/* Meters send these when they have no time for a value. */
	if ((f[0] == 0 || f[0] == 70) && f[1] == 1 && f[2] == 1)
		return -1;
	int y = 2000 + f[0];
	if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > days_in_month(y, f[1]) || f[3] > 23 || f[4] > 59 || f[5] > 59)
		return -1;
	int off;
	if (n == 13) {
		if (s[12] == 'S' || s[12] == 's')
			off = 2;
		else if (s[12] == 'W' || s[12] == 'w')
			off = 1;
		else
			return -1;
	} else {
		off = cet_offset(y, f[1], f[2], f[3]);
		if (off == 0)
			return -1;
	}
	char *p = out;
	*p++ = '2';
	*p++ = '0';
	for (int k = 0; k < 6; k++) {
		if (k > 0)
			*p++ = k == 3 ? 'T' : k < 3 ? '-' : ':';
		*p++ = (char)('0' + f[k] / 10);
		*p++ = (char)('0' + f[k] % 10);
	}
	memcpy(p, off == 2 ? "+02:00" : "+01:00", 7);
	return 0;
}

/* ---- the groups of a record ---- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool dsmr_group_is_timestamp(const struct dsmr_telegram *t, int g)
{
	const char *s = dsmr_gtext(t, g);
	size_t n = dsmr_glen(t, g);
	if (n != 12 && n != 13)
		return false;
	for (size_t i = 0; i < 12; i++)
		if (!is_digit(s[i]))
			return false;
	return n == 12 || s[12] == 'S' || s[12] == 'W' || s[12] == 's' || s[12] == 'w';
}

bool dsmr_group_time_ok(const struct dsmr_telegram *t, int g)
{
	char iso[26];
	return dsmr_time_to_rfc3339(dsmr_gtext(t, g), dsmr_glen(t, g), iso) == 0;
}

bool dsmr_group_number(const struct dsmr_telegram *t, int g, struct dsmr_number *num)
{
	const char *s = dsmr_gtext(t, g);
	size_t n = dsmr_glen(t, g), i = 0;
	if (n + 2 > sizeof num->text)
		return false;
	while (i < n && (is_digit(s[i]) || s[i] == '.' || ((s[i] == '-' || s[i] == '+') && i == 0)))
		i++;
	if (i == 0)
		return false;
	int len = num_to_json(s, i, num->text);
	if (len < 0)
		return false;
	/* The unit: after a '*', or right after the digits ("01.234kW"). */
	size_t u = i;
	if (u < n && s[u] == '*')
		u++;
	else if (u < n && !is_alpha(s[u]))
		return false;
	for (size_t k = u; k < n; k++)
		if (!is_alpha(s[k]) && !is_digit(s[k]) && s[k] != '%' && s[k] != '/')
			return false;
	num->len = len;
	num->unit = s + u;
	num->unitlen = n - u;
	return true;
}
