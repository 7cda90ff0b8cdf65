/* dsmr.c: framing a byte stream into telegrams, splitting a telegram into
 * OBIS records, and meter timestamps.  See dsmr.h. */
#include "meter/dsmr.h"

#include <string.h>

#include "base/util.h"

enum { ST_IDLE, ST_BODY, ST_CRC, ST_SKIP };

static const char *const drop_names[DSMR_DROP_KINDS] = {
	[DSMR_DROP_CRC] = "CRC mismatch",
	[DSMR_DROP_NO_CRC] = "no CRC (this meter sends one)",
	[DSMR_DROP_CRC_LINE] = "bad CRC line after '!'",
	[DSMR_DROP_CUT] = "cut short by a new '/'",
	[DSMR_DROP_EOF] = "cut short by the end of the input",
	[DSMR_DROP_LOST] = "cut short by the loss of the link",
	[DSMR_DROP_TOO_LONG] = "longer than 16384 bytes",
	[DSMR_DROP_GARBAGE] = "garbage",
};

const char *dsmr_drop_name(enum dsmr_drop why)
{
	return (unsigned)why < DSMR_DROP_KINDS ? drop_names[why] : "?";
}

void dsmr_framer_init(struct dsmr_framer *f, enum dsmr_crc_policy policy)
{
	f->policy = policy;
	f->crc_seen = false;
	f->state = ST_IDLE;
	f->len = 0;
	f->ndigits = 0;
	f->crc_sent = 0;
	f->seq = 0;
	f->pos = 0;
	f->start = 0;
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

bool dsmr_framer_within(const struct dsmr_framer *f) { return f->state == ST_BODY || f->state == ST_CRC; }

/* The CRC line has ended (4 digits, or fewer and a line end). */
static void finish(struct dsmr_framer *f, struct dsmr_event *ev)
{
	f->state = ST_IDLE;
	if (f->ndigits > 0) {
		unsigned crc = dsmr_crc(f->buf, f->len);
		if (crc != f->crc_sent) {
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
		event_init(f, ev, DSMR_EV_TELEGRAM, 0);
	}
	ev->text = f->buf;
	ev->len = f->len;
}

/* True when a byte of v is 0 (the classic bit trick). */
static inline bool has_zero_byte(uint64_t v)
{
	return ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL) != 0;
}

size_t dsmr_framer_push(struct dsmr_framer *f, const void *data, size_t n, struct dsmr_event *ev, bool *got)
{
	const unsigned char *d = data;
	size_t i = 0;
	*got = false;
	while (i < n && !*got) {
		switch (f->state) {
		case ST_IDLE:
		case ST_SKIP:
			/* Between telegrams anything goes (gateway lines, noise). */
			while (i < n && (d[i] & 0x7f) != '/')
				i++;
			if (i == n)
				break;
			f->seq++;
			f->start = f->pos + i;
			f->buf[0] = '/';
			f->len = 1;
			f->state = ST_BODY;
			i++;
			break;
		case ST_BODY: {
			/* The hot loop: copy until '/' or '!', eight bytes at a
			 * time while none of them is one. */
			size_t len = f->len;
			char *b = f->buf;
			unsigned char c = 0;
			while (i + 8 <= n && len + 8 <= DSMR_MAX_TELEGRAM) {
				uint64_t v;
				memcpy(&v, d + i, 8);
				v &= 0x7f7f7f7f7f7f7f7fULL;
				if (has_zero_byte(v ^ 0x2f2f2f2f2f2f2f2fULL) || has_zero_byte(v ^ 0x2121212121212121ULL))
					break;
				memcpy(b + len, &v, 8);
				len += 8;
				i += 8;
			}
			while (i < n) {
				c = d[i] & 0x7f;
				if (c == '/' || c == '!' || len == DSMR_MAX_TELEGRAM)
					break;
				b[len++] = (char)c;
				i++;
			}
			f->len = len;
			if (i == n)
				break;
			if (len == DSMR_MAX_TELEGRAM) {
				event_init(f, ev, DSMR_EV_DROP, DSMR_DROP_TOO_LONG);
				f->state = ST_SKIP;
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
			b[f->len++] = '!';
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
				if (c != '/')
					i++;
				*got = true;
			}
			break;
		}
		}
	}
	f->pos += i;
	return i;
}

bool dsmr_framer_abort(struct dsmr_framer *f, enum dsmr_drop why, struct dsmr_event *ev)
{
	bool begun = f->state == ST_BODY || f->state == ST_CRC;
	if (begun)
		event_init(f, ev, DSMR_EV_DROP, why);
	f->state = ST_IDLE;
	f->len = 0;
	return begun;
}

/* ---- OBIS codes ---- */

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

size_t dsmr_obis_parse(const char *s, size_t n, uint64_t *key)
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

size_t dsmr_obis_format(uint64_t key, char *out)
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
			size_t k = dsmr_obis_parse(text + i, end - i, &key);
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
