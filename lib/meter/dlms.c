/* dlms.c: M-Bus and HDLC frames, DLMS general-global-ciphering with
 * OpenSSL's AES-128-GCM, and the data-notification of Austrian meters
 * rewritten as a DSMR telegram (so that the names, units and exact
 * decimals of a reading come from the one table p1read has).  See dlms.h. */
#include "meter/dlms.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/text.h"

#define TAG_LEN 12

/* libcrypto is loaded (dlopen) when a key is first used, not linked: a
 * reader of plain meters never maps it, and so never pays for its
 * relocations, some 430 KiB of private memory a process (t/bench/gateway;
 * a gateway runs one reader a meter).  The header gives the types. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define LIBCRYPTO "libcrypto.so." STR(OPENSSL_VERSION_MAJOR)
#define CRYPTO_FNS(X)                                                                                   \
	X(EVP_CIPHER_CTX_new) X(EVP_CIPHER_CTX_free) X(EVP_CIPHER_CTX_ctrl) X(EVP_aes_128_gcm)            \
	X(EVP_aes_128_ctr) X(EVP_DecryptInit_ex) X(EVP_DecryptUpdate) X(EVP_DecryptFinal_ex)              \
	X(EVP_EncryptInit_ex) X(EVP_EncryptUpdate) X(EVP_EncryptFinal_ex)

static struct {
#define X(f) __typeof__(&f) f;
	CRYPTO_FNS(X)
#undef X
} crypto;
static char crypto_why[256];

/* True once libcrypto's functions are at hand; else crypto_why says why. */
static bool crypto_load(void)
{
	static int state; /* 0: not tried, 1: loaded, -1: failed */
	if (state)
		return state > 0;
	state = -1;
	void *h = dlopen(LIBCRYPTO, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(crypto_why, sizeof crypto_why, "cannot load %s: %s", LIBCRYPTO, dlerror());
		return false;
	}
#define X(f)                                                                                           \
	if (!(crypto.f = (__typeof__(crypto.f))dlsym(h, #f))) {                                        \
		snprintf(crypto_why, sizeof crypto_why, "%s: no %s", LIBCRYPTO, #f);                    \
		return false;                                                                          \
	}
	CRYPTO_FNS(X)
#undef X
	state = 1;
	return true;
}

const char *dlms_crypto_why(void) { return crypto_why[0] ? crypto_why : "cannot make a cipher context"; }

static enum dlms_status drop(struct dlms_session *s, enum dlms_fault fault, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum dlms_status drop(struct dlms_session *s, enum dlms_fault fault, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof s->why, fmt, ap);
	va_end(ap);
	s->fault = fault;
	return DLMS_DROP;
}

int dlms_key_parse(const char *text, unsigned char key[DLMS_KEY_LEN], char *why, size_t whylen)
{
	int digits = 0, hi = 0;
	for (size_t i = 0; text[i]; i++) {
		if (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')
			continue;
		int h = hex_digit_value((unsigned char)text[i]);
		if (h < 0) {
			snprintf(why, whylen, "character %zu is not a hex digit (expected 32 hex digits)", i + 1);
			return -1;
		}
		if (digits >= 2 * DLMS_KEY_LEN) {
			snprintf(why, whylen, "more than 32 hex digits");
			return -1;
		}
		if (digits % 2 == 0)
			hi = h;
		else
			key[digits / 2] = (unsigned char)(hi << 4 | h);
		digits++;
	}
	if (digits != 2 * DLMS_KEY_LEN) {
		snprintf(why, whylen, "%d hex digits, expected 32", digits);
		return -1;
	}
	return 0;
}

/* A key from FILE, else from the environment variable; never printed, not
 * even in part, when it is malformed. */
bool dlms_key_load(const char *file, const char *env, unsigned char key[DLMS_KEY_LEN])
{
	char text[256], why[96];
	const char *from;
	if (file) {
		FILE *fp = fopen(file, "r");
		size_t n = 0;
		bool more = false;
		if (!fp) {
			die_errno(EXIT_USAGE, "--%s %s", strcmp(env, "P1_KEY") == 0 ? "key-file" : "auth-key-file", file);
		} else {
			n = fread(text, 1, sizeof text - 1, fp);
			more = fgetc(fp) != EOF;
			fclose(fp);
		}
		text[n] = '\0';
		if (more || strlen(text) != n)
			die(EXIT_USAGE, "%s: not a key file: expected 32 hex digits", file);
		from = file;
	} else {
		const char *v = getenv(env);
		if (!v)
			return false;
		if (strlen(v) >= sizeof text)
			die(EXIT_USAGE, "$%s: not a key: expected 32 hex digits", env);
		strcpy(text, v);
		from = env;
	}
	int rc = dlms_key_parse(text, key, why, sizeof why);
	memset(text, 0, sizeof text);
	if (rc < 0)
		die(EXIT_USAGE, "%s%s: malformed key: %s", file ? "" : "$", from, why);
	return true;
}

int dlms_session_init(struct dlms_session *s, const unsigned char *ek, const unsigned char *ak)
{
	memset(s, 0, sizeof *s);
	memcpy(s->ek, ek, DLMS_KEY_LEN);
	if (ak) {
		memcpy(s->ak, ak, DLMS_KEY_LEN);
	} else {
		char why[64];
		dlms_key_parse(DLMS_DEFAULT_AUTH_KEY, s->ak, why, sizeof why);
	}
	if (!crypto_load())
		return -1;
	s->ctx = crypto.EVP_CIPHER_CTX_new();
	return s->ctx ? 0 : -1;
}

void dlms_session_free(struct dlms_session *s)
{
	if (s->ctx)
		crypto.EVP_CIPHER_CTX_free(s->ctx);
	s->ctx = NULL;
	explicit_bzero(s->ek, sizeof s->ek);
	explicit_bzero(s->ak, sizeof s->ak);
}

uint16_t dlms_crc_x25(const unsigned char *p, size_t n)
{
	uint16_t crc = 0xffff;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = crc & 1 ? (uint16_t)(crc >> 1 ^ 0x8408) : (uint16_t)(crc >> 1);
	}
	return (uint16_t)~crc;
}

/* ---- the link layers ---- */

/* 68 L L 68 C A CI 01 67 <part> CS 16: appends <part> to s->joined.
 * Returns 1 when the last segment (CI bit 4) is in, 0 for more. */
static int mbus_segment(struct dlms_session *s, const unsigned char *p, size_t n)
{
	if (n < 11 || p[0] != 0x68 || p[3] != 0x68 || p[1] != p[2] || (size_t)p[1] + 6 != n)
		return drop(s, DLMS_FAULT_FRAME, "not an M-Bus long frame"), -1;
	if (p[n - 1] != 0x16)
		return drop(s, DLMS_FAULT_FRAME, "M-Bus frame without its stop byte 0x16"), -1;
	unsigned sum = 0;
	for (size_t i = 4; i < n - 2; i++)
		sum += p[i];
	if ((sum & 0xff) != p[n - 2])
		return drop(s, DLMS_FAULT_FRAME, "M-Bus checksum: sent %02X, computed %02X", p[n - 2], sum & 0xff), -1;
	unsigned ci = p[6];
	int seq = (int)(ci & 0x0f);
	if (ci > 0x1f)
		return drop(s, DLMS_FAULT_FRAME, "M-Bus CI 0x%02X is no DLMS segment", ci), -1;
	if (seq == 0)
		s->joined_len = 0;
	else if (seq != s->next_segment)
		return drop(s, DLMS_FAULT_FRAME, "M-Bus segment %d where %d was due", seq, s->next_segment), -1;
	size_t part = n - 11;
	if (s->joined_len + part > sizeof s->joined)
		return drop(s, DLMS_FAULT_FRAME, "M-Bus segments longer than %d bytes", DLMS_MAX_APDU), -1;
	memcpy(s->joined + s->joined_len, p + 9, part);
	s->joined_len += part;
	s->next_segment = seq + 1;
	if (ci & 0x10) {
		s->next_segment = 0;
		return 1;
	}
	return 0;
}

/* 7E A0 len dst src ctl HCS [E6 E7 00] APDU FCS 7E: the APDU's place. */
static int hdlc_apdu(struct dlms_session *s, const unsigned char *p, size_t n, size_t *off, size_t *len)
{
	if (n < 12 || p[0] != 0x7e || p[n - 1] != 0x7e || (p[1] & 0xf0) != 0xa0)
		return drop(s, DLMS_FAULT_FRAME, "not an HDLC frame"), -1;
	if (p[1] & 0x08)
		return drop(s, DLMS_FAULT_FRAME, "segmented HDLC frame (not supported)"), -1;
	if ((size_t)((p[1] & 7) << 8 | p[2]) + 2 != n)
		return drop(s, DLMS_FAULT_FRAME, "HDLC length field disagrees with the frame"), -1;
	unsigned fcs = p[n - 3] | (unsigned)p[n - 2] << 8;
	if (dlms_crc_x25(p + 1, n - 4) != fcs)
		return drop(s, DLMS_FAULT_FRAME, "HDLC FCS: sent %04X, computed %04X", fcs, dlms_crc_x25(p + 1, n - 4)),
		       -1;
	size_t i = 3;
	for (int addr = 0; addr < 2; addr++) {
		size_t start = i;
		while (i < n && !(p[i] & 1) && i - start < 4)
			i++;
		if (i >= n || !(p[i] & 1))
			return drop(s, DLMS_FAULT_FRAME, "HDLC address not ended"), -1;
		i++;
	}
	i++; /* control */
	if (i + 2 + 3 > n - 3)
		return drop(s, DLMS_FAULT_FRAME, "HDLC frame without an APDU"), -1;
	unsigned hcs = p[i] | (unsigned)p[i + 1] << 8;
	if (dlms_crc_x25(p + 1, i - 1) != hcs)
		return drop(s, DLMS_FAULT_FRAME, "HDLC header check sequence does not match"), -1;
	i += 2;
	if (p[i] != 0xe6 || p[i + 1] != 0xe7 || p[i + 2] != 0x00)
		return drop(s, DLMS_FAULT_FRAME, "HDLC frame without the LLC bytes E6 E7 00"), -1;
	i += 3;
	*off = i;
	*len = n - 3 - i;
	return 0;
}

/* ---- general-global-ciphering ---- */

/* A-XDR length at p[*i]: one byte, 0x81 n, or 0x82 hi lo. */
static int axdr_length(const unsigned char *p, size_t n, size_t *i, size_t *len)
{
	if (*i >= n)
		return -1;
	unsigned b = p[(*i)++];
	if (b < 0x80) {
		*len = b;
		return 0;
	}
	if (b == 0x81 && *i + 1 <= n) {
		*len = p[(*i)++];
		return 0;
	}
	if (b == 0x82 && *i + 2 <= n) {
		*len = (size_t)p[*i] << 8 | p[*i + 1];
		*i += 2;
		return 0;
	}
	return -1;
}

static int decrypt(struct dlms_session *s, const unsigned char iv[12], unsigned sc, const unsigned char *ct,
                   size_t ctlen, const unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx = s->ctx;
	int outl = 0, fin = 0;
	bool ok;
	if (tag) {
		unsigned char aad[1 + DLMS_KEY_LEN];
		aad[0] = (unsigned char)sc;
		memcpy(aad + 1, s->ak, DLMS_KEY_LEN);
		ok = crypto.EVP_DecryptInit_ex(ctx, crypto.EVP_aes_128_gcm(), NULL, NULL, NULL) == 1 &&
		     crypto.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
		     crypto.EVP_DecryptInit_ex(ctx, NULL, NULL, s->ek, iv) == 1 &&
		     crypto.EVP_DecryptUpdate(ctx, NULL, &outl, aad, sizeof aad) == 1 &&
		     crypto.EVP_DecryptUpdate(ctx, s->plain, &outl, ct, (int)ctlen) == 1 &&
		     crypto.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)tag) == 1;
		if (!ok)
			return drop(s, DLMS_FAULT_FRAME, "libcrypto refused the frame"), -1;
		if (crypto.EVP_DecryptFinal_ex(ctx, s->plain + outl, &fin) != 1)
			return drop(s, DLMS_FAULT_TAG, "GCM tag does not verify (frame counter %u)", s->counter), -1;
	} else {
		/* Encryption only: GCM's counter mode, which starts at block 2. */
		unsigned char ctr[16];
		memcpy(ctr, iv, 12);
		ctr[12] = ctr[13] = ctr[14] = 0;
		ctr[15] = 2;
		ok = crypto.EVP_DecryptInit_ex(ctx, crypto.EVP_aes_128_ctr(), NULL, s->ek, ctr) == 1 &&
		     crypto.EVP_DecryptUpdate(ctx, s->plain, &outl, ct, (int)ctlen) == 1 &&
		     crypto.EVP_DecryptFinal_ex(ctx, s->plain + outl, &fin) == 1;
		if (!ok)
			return drop(s, DLMS_FAULT_FRAME, "libcrypto refused the frame"), -1;
	}
	return outl + fin;
}

static enum dlms_status notification(struct dlms_session *s, const unsigned char *title, size_t n);

/* 0xDB 0x08 title length SC FC ciphertext [tag]. */
static enum dlms_status ciphered(struct dlms_session *s, const unsigned char *p, size_t n)
{
	size_t i = 2, len;
	if (n < 2 || p[0] != 0xdb || p[1] != 8)
		return drop(s, DLMS_FAULT_FRAME, "not a general-global-ciphering APDU (0xDB 0x08)");
	i += 8;
	if (axdr_length(p, n, &i, &len) < 0 || i + len != n)
		return drop(s, DLMS_FAULT_FRAME, "APDU length field disagrees with the frame");
	if (len < 5)
		return drop(s, DLMS_FAULT_FRAME, "APDU too short");
	unsigned sc = p[i];
	bool auth = sc & 0x10;
	if (!(sc & 0x20) || (sc & 0xc0) || (sc & 0x0f) > 1)
		return drop(s, DLMS_FAULT_FRAME, "security control 0x%02X: not AES-GCM-128 encryption", sc);
	s->counter = (uint32_t)p[i + 1] << 24 | (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 8 | p[i + 4];
	s->authenticated = false;
	const unsigned char *ct = p + i + 5;
	size_t ctlen = len - 5;
	const unsigned char *tag = NULL;
	if (auth) {
		if (ctlen < TAG_LEN)
			return drop(s, DLMS_FAULT_FRAME, "APDU too short for its GCM tag");
		ctlen -= TAG_LEN;
		tag = ct + ctlen;
	}
	if (ctlen == 0 || ctlen > sizeof s->plain)
		return drop(s, DLMS_FAULT_FRAME, "ciphertext of %zu bytes", ctlen);
	unsigned char iv[12];
	memcpy(iv, p + 2, 8);
	memcpy(iv + 8, p + i + 1, 4);
	int got = decrypt(s, iv, sc, ct, ctlen, tag);
	if (got < 0)
		return DLMS_DROP;
	s->plain_len = (size_t)got;
	/* A frame counter never goes back: a smaller or equal one is a
	 * recorded frame sent again.  Only a frame that decrypted moves it. */
	if (s->have_counter && s->counter <= s->last_counter)
		return drop(s, DLMS_FAULT_REPLAY, "frame counter %u, not above %u", s->counter, s->last_counter);
	s->authenticated = auth;
	enum dlms_status st;
	if (s->plain[0] == '/') {
		memcpy(s->out, s->plain, (size_t)got);
		s->out_len = (size_t)got;
		st = DLMS_TEXT;
	} else {
		st = notification(s, p + 2, (size_t)got);
	}
	if (st != DLMS_DROP) {
		s->have_counter = true;
		s->last_counter = s->counter;
	}
	return st;
}

enum dlms_status dlms_frame(struct dlms_session *s, enum dsmr_frame_kind kind, const unsigned char *p, size_t n)
{
	s->why[0] = '\0';
	switch (kind) {
	case DSMR_FRAME_GCM:
		/* Bare, only a tag vouches for it: an encryption-only APDU
		 * (security control 0x20) counts only inside a frame whose
		 * checksum holds. */
		if (n > 13 && !(p[p[10] < 0x80 ? 11 : p[10] == 0x81 ? 12 : 13] & 0x10))
			return drop(s, DLMS_FAULT_FRAME, "encryption-only APDU outside an M-Bus or HDLC frame (no tag, no checksum)");
		return ciphered(s, p, n);
	case DSMR_FRAME_MBUS: {
		int last = mbus_segment(s, p, n);
		if (last < 0) {
			s->next_segment = 0;
			return DLMS_DROP;
		}
		return last ? ciphered(s, s->joined, s->joined_len) : DLMS_MORE;
	}
	case DSMR_FRAME_HDLC: {
		size_t off, len;
		if (hdlc_apdu(s, p, n, &off, &len) < 0)
			return DLMS_DROP;
		return ciphered(s, p + off, len);
	}
	}
	return drop(s, DLMS_FAULT_FRAME, "unknown frame kind");
}

/* ---- the data-notification, rewritten as a DSMR telegram ---- */

/* A-XDR data types. */
enum {
	T_NULL = 0x00, T_ARRAY = 0x01, T_STRUCT = 0x02, T_BOOL = 0x03, T_INT32 = 0x05, T_UINT32 = 0x06,
	T_OCTETS = 0x09, T_VISIBLE = 0x0a, T_INT8 = 0x0f, T_INT16 = 0x10, T_UINT8 = 0x11, T_UINT16 = 0x12,
	T_INT64 = 0x14, T_UINT64 = 0x15, T_ENUM = 0x16,
};

struct item {
	int type;
	size_t off, len;  /* octets and strings: the bytes; struct/array: count in len */
	int64_t num;      /* integers */
	bool is_unsigned64;
	uint64_t u64;
};

struct reader {
	const unsigned char *p;
	size_t n, i;
};

static int fixed_size(int type)
{
	switch (type) {
	case T_BOOL: case T_INT8: case T_UINT8: case T_ENUM: return 1;
	case T_INT16: case T_UINT16: return 2;
	case T_INT32: case T_UINT32: return 4;
	case T_INT64: case T_UINT64: return 8;
	}
	return -1;
}

/* One item's head: for a struct or array the count, the elements follow. */
static int next_item(struct reader *r, struct item *it)
{
	if (r->i >= r->n)
		return -1;
	it->type = r->p[r->i++];
	it->off = it->len = 0;
	it->num = 0;
	it->is_unsigned64 = false;
	switch (it->type) {
	case T_NULL: return 0;
	case T_ARRAY:
	case T_STRUCT:
		return axdr_length(r->p, r->n, &r->i, &it->len);
	case T_OCTETS:
	case T_VISIBLE:
		if (axdr_length(r->p, r->n, &r->i, &it->len) < 0 || r->i + it->len > r->n)
			return -1;
		it->off = r->i;
		r->i += it->len;
		return 0;
	}
	int size = fixed_size(it->type);
	if (size < 0 || r->i + (size_t)size > r->n)
		return -1;
	uint64_t v = 0;
	for (int k = 0; k < size; k++)
		v = v << 8 | r->p[r->i + (size_t)k];
	r->i += (size_t)size;
	switch (it->type) {
	case T_INT8: it->num = (int8_t)v; break;
	case T_INT16: it->num = (int16_t)v; break;
	case T_INT32: it->num = (int32_t)v; break;
	case T_INT64: it->num = (int64_t)v; break;
	case T_UINT64: it->is_unsigned64 = true; it->u64 = v; break;
	default: it->num = (int64_t)v; break;
	}
	return 0;
}

static bool is_number(int type)
{
	return fixed_size(type) > 0 && type != T_BOOL && type != T_ENUM;
}

/* The text appended to s->out; false when it is full. */
static bool put(struct dlms_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool put(struct dlms_session *s, const char *fmt, ...)
{
	size_t room = sizeof s->out - s->out_len;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(s->out + s->out_len, room, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= room)
		return false;
	s->out_len += (size_t)k;
	return true;
}

/* DLMS units (IEC 62056-62 enum) as DSMR telegrams spell them. */
static const char *unit_name(int64_t u)
{
	switch (u) {
	case 7: return "s";
	case 27: return "W";
	case 28: return "VA";
	case 29: return "var";
	case 30: return "Wh";
	case 31: return "VAh";
	case 32: return "varh";
	case 33: return "A";
	case 35: return "V";
	case 44: return "Hz";
	}
	return NULL;
}

/* mantissa * 10^scaler as exact decimal digits (no binary floating point). */
static bool put_decimal(struct dlms_session *s, const struct item *v, int scaler)
{
	char digits[48];
	bool neg = false;
	if (v->is_unsigned64) {
		snprintf(digits, sizeof digits, "%llu", (unsigned long long)v->u64);
	} else {
		uint64_t m = v->num < 0 ? (uint64_t)0 - (uint64_t)v->num : (uint64_t)v->num;
		neg = v->num < 0;
		snprintf(digits, sizeof digits, "%llu", (unsigned long long)m);
	}
	if (scaler > 20 || scaler < -20)
		return false;
	if (neg && !put(s, "-"))
		return false;
	int nd = (int)strlen(digits);
	if (scaler >= 0)
		return put(s, "%s%.*s", digits, scaler, "00000000000000000000");
	int frac = -scaler;
	if (nd <= frac)
		return put(s, "0.%.*s%s", frac - nd, "00000000000000000000", digits);
	return put(s, "%.*s.%s", nd - frac, digits, digits + nd - frac);
}

/* DLMS date-time (12 bytes) as YYMMDDhhmmssX; false when unspecified. */
static bool put_time(struct dlms_session *s, const unsigned char *t)
{
	unsigned year = (unsigned)t[0] << 8 | t[1];
	if (year == 0xffff || year < 2000 || year > 2099 || t[2] > 12 || t[3] > 31 || t[5] > 23 || t[6] > 59 ||
	    t[7] > 59)
		return false;
	char flag = t[11] == 0xff ? 0 : (t[11] & 0x80) ? 'S' : 'W';
	return put(s, "0-0:1.0.0(%02u%02u%02u%02u%02u%02u%.*s)\r\n", year % 100, t[2], t[3], t[5], t[6], t[7],
	           flag ? 1 : 0, &flag);
}

static bool put_hex(struct dlms_session *s, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!put(s, "%02X", p[i]))
			return false;
	return true;
}

static bool put_obis(struct dlms_session *s, const unsigned char *o)
{
	if (o[5] == 255)
		return put(s, "%u-%u:%u.%u.%u", o[0], o[1], o[2], o[3], o[4]);
	return put(s, "%u-%u:%u.%u.%u.%u", o[0], o[1], o[2], o[3], o[4], o[5]);
}

/* A value (and its scaler and unit) as the "(...)" of a record. */
static bool put_value(struct dlms_session *s, const unsigned char *obis, const struct item *v, int scaler,
                      const char *unit)
{
	bool octets = v->type == T_OCTETS || v->type == T_VISIBLE;
	const unsigned char *b = octets ? s->plain + v->off : NULL;
	if (octets && v->len == 12 && obis[0] == 0 && obis[2] == 1 && obis[3] == 0 && obis[4] == 0) {
		/* The clock: written once, from the notification's own time
		 * when it has one. */
		if (s->clock_done)
			return true;
		s->clock_done = true;
		return put_time(s, b);
	}
	if (!put_obis(s, obis) || !put(s, "("))
		return false;
	if (octets) {
		/* Ids and texts travel hex-encoded in DSMR: p1read decodes them. */
		if (!put_hex(s, b, v->len))
			return false;
	} else if (is_number(v->type) || v->type == T_ENUM) {
		if (!put_decimal(s, v, scaler))
			return false;
		if (unit && !put(s, "*%s", unit))
			return false;
	} else {
		return false;
	}
	return put(s, ")\r\n");
}

/* The Kaifa form: struct { octets(6) OBIS, value [, struct { int8 scaler,
 * enum unit }] }. */
static int record(struct dlms_session *s, struct reader *r, size_t count)
{
	struct item o, v, sc;
	if (count < 2 || count > 3 || next_item(r, &o) < 0 || o.type != T_OCTETS || o.len != 6 ||
	    next_item(r, &v) < 0)
		return -1;
	int scaler = 0;
	const char *unit = NULL;
	if (count == 3) {
		struct item su, u;
		if (next_item(r, &su) < 0 || su.type != T_STRUCT || su.len != 2 || next_item(r, &sc) < 0 ||
		    sc.type != T_INT8 || next_item(r, &u) < 0 || u.type != T_ENUM)
			return -1;
		scaler = (int)sc.num;
		unit = unit_name(u.num);
	}
	return put_value(s, s->plain + o.off, &v, scaler, unit) ? 0 : -1;
}

/* The Wiener Netze form (Siemens IM350, Iskraemeco AM550): a flat
 * structure of 12 items: list id 0.6.25.9.0.255, serial number, time,
 * date, six double-long-unsigned registers and two empty strings.  The
 * registers carry no OBIS codes; their order and units are those of the
 * Wiener Netze customer interface (the order shrdzm's Device_IM350.cpp
 * reads them in): +A, -A in Wh, +R, -R in varh, +P, -P in W. */
static int flat_list(struct dlms_session *s, struct reader *r, size_t count)
{
	static const struct {
		unsigned char obis[6];
		const char *unit;
	} regs[6] = {
		{ { 1, 0, 1, 8, 0, 255 }, "Wh" },  { { 1, 0, 2, 8, 0, 255 }, "Wh" }, { { 1, 0, 3, 8, 0, 255 }, "varh" },
		{ { 1, 0, 4, 8, 0, 255 }, "varh" }, { { 1, 0, 1, 7, 0, 255 }, "W" },  { { 1, 0, 2, 7, 0, 255 }, "W" },
	};
	struct item it[12];
	if (count != 12)
		return -1;
	for (int k = 0; k < 12; k++)
		if (next_item(r, &it[k]) < 0)
			return -1;
	if (it[1].type != T_OCTETS || it[2].type != T_OCTETS || it[3].type != T_OCTETS)
		return -1;
	for (int k = 4; k < 10; k++)
		if (it[k].type != T_UINT32)
			return -1;
	static const unsigned char serial[6] = { 0, 0, 96, 1, 0, 255 };
	if (!put_value(s, serial, &it[1], 0, NULL))
		return -1;
	for (int k = 0; k < 6; k++)
		if (!put_value(s, regs[k].obis, &it[4 + k], 0, regs[k].unit))
			return -1;
	return 0;
}

/* 0x0F invoke-id(4) date-time(0 or 0x0C + 12) body: the body a structure
 * of records (Kaifa) or the flat Wiener Netze list. */
static enum dlms_status notification(struct dlms_session *s, const unsigned char *title, size_t n)
{
	struct reader r = { s->plain, n, 0 };
	if (n < 7 || s->plain[0] != 0x0f)
		return drop(s, DLMS_FAULT_APDU, "decrypted APDU is neither a telegram nor a data-notification");
	r.i = 5;
	const unsigned char *when = NULL;
	if (s->plain[r.i] == 0x0c && r.i + 13 <= n) {
		when = s->plain + r.i + 1;
		r.i += 13;
	} else if (s->plain[r.i] == 0x00) {
		r.i++;
	} else {
		return drop(s, DLMS_FAULT_APDU, "data-notification: bad date-time");
	}
	s->out_len = 0;
	char maker[4];
	for (int k = 0; k < 3; k++)
		maker[k] = title[k] >= 'A' && title[k] <= 'Z' ? (char)title[k] : 'X';
	maker[3] = '\0';
	put(s, "/%s5", maker);
	put_hex(s, title, 8);
	put(s, "\r\n\r\n");
	s->clock_done = when && put_time(s, when);
	struct item body;
	if (next_item(&r, &body) < 0 || body.type != T_STRUCT)
		return drop(s, DLMS_FAULT_APDU, "data-notification: the body is not a structure");
	size_t body_at = r.i;
	struct item first;
	if (next_item(&r, &first) < 0)
		return drop(s, DLMS_FAULT_APDU, "data-notification: empty body");
	r.i = body_at;
	int rc = 0;
	static const unsigned char list_id[6] = { 0, 6, 25, 9, 0, 255 };
	if (first.type == T_OCTETS && first.len == 6 && memcmp(s->plain + first.off, list_id, 6) == 0) {
		rc = flat_list(s, &r, body.len);
	} else {
		/* Kaifa: records as structures, and as an OBIS octet string
		 * followed by its value (the clock, at the top). */
		for (size_t k = 0; k < body.len && rc == 0; k++) {
			struct item it, v;
			if (next_item(&r, &it) < 0)
				rc = -1;
			else if (it.type == T_STRUCT)
				rc = record(s, &r, it.len);
			else if (it.type == T_OCTETS && it.len == 6 && k + 1 < body.len && next_item(&r, &v) == 0)
				rc = put_value(s, s->plain + it.off, &v, 0, NULL) ? 0 : -1, k++;
			else
				rc = -1;
		}
	}
	if (rc < 0 || r.i != n)
		return drop(s, DLMS_FAULT_APDU, "data-notification does not parse whole (byte %zu of %zu)", r.i, n);
	if (!put(s, "!"))
		return drop(s, DLMS_FAULT_APDU, "data-notification too long");
	return DLMS_NOTIFICATION;
}

/* ---- the meter's side ---- */

size_t dlms_seal(const unsigned char ek[DLMS_KEY_LEN], const unsigned char ak[DLMS_KEY_LEN],
                 const unsigned char title[8], uint32_t fc, unsigned sc, const void *plain, size_t n,
                 unsigned char *out, size_t cap)
{
	bool auth = sc & 0x10;
	size_t len = 5 + n + (auth ? TAG_LEN : 0);
	size_t hdr = len < 0x80 ? 11 : len < 0x100 ? 12 : 13;
	if (len > 0xffff || hdr + len > cap || n == 0)
		return 0;
	out[0] = 0xdb;
	out[1] = 8;
	memcpy(out + 2, title, 8);
	if (hdr == 11) {
		out[10] = (unsigned char)len;
	} else if (hdr == 12) {
		out[10] = 0x81;
		out[11] = (unsigned char)len;
	} else {
		out[10] = 0x82;
		out[11] = (unsigned char)(len >> 8);
		out[12] = (unsigned char)len;
	}
	unsigned char *q = out + hdr;
	q[0] = (unsigned char)sc;
	for (int k = 0; k < 4; k++)
		q[1 + k] = (unsigned char)(fc >> (24 - 8 * k));
	unsigned char iv[16];
	memcpy(iv, title, 8);
	memcpy(iv + 8, q + 1, 4);
	EVP_CIPHER_CTX *ctx = crypto_load() ? crypto.EVP_CIPHER_CTX_new() : NULL;
	int outl = 0, fin = 0;
	bool ok = ctx != NULL;
	if (ok && auth) {
		unsigned char aad[1 + DLMS_KEY_LEN];
		aad[0] = (unsigned char)sc;
		memcpy(aad + 1, ak, DLMS_KEY_LEN);
		ok = crypto.EVP_EncryptInit_ex(ctx, crypto.EVP_aes_128_gcm(), NULL, NULL, NULL) == 1 &&
		     crypto.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
		     crypto.EVP_EncryptInit_ex(ctx, NULL, NULL, ek, iv) == 1 &&
		     crypto.EVP_EncryptUpdate(ctx, NULL, &outl, aad, sizeof aad) == 1 &&
		     crypto.EVP_EncryptUpdate(ctx, q + 5, &outl, plain, (int)n) == 1 &&
		     crypto.EVP_EncryptFinal_ex(ctx, q + 5 + outl, &fin) == 1 &&
		     crypto.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, q + 5 + n) == 1;
	} else if (ok) {
		iv[12] = iv[13] = iv[14] = 0;
		iv[15] = 2;
		ok = crypto.EVP_EncryptInit_ex(ctx, crypto.EVP_aes_128_ctr(), NULL, ek, iv) == 1 &&
		     crypto.EVP_EncryptUpdate(ctx, q + 5, &outl, plain, (int)n) == 1 &&
		     crypto.EVP_EncryptFinal_ex(ctx, q + 5 + outl, &fin) == 1;
	}
	if (ctx)
		crypto.EVP_CIPHER_CTX_free(ctx);
	return ok ? hdr + len : 0;
}

size_t dlms_wrap_hdlc(const unsigned char *apdu, size_t n, unsigned char *out, size_t cap)
{
	static const unsigned char head[] = { 0xcf, 0x02, 0x23, 0x13 };
	size_t total = 1 + 2 + sizeof head + 2 + 3 + n + 2 + 1;
	if (total > cap || total - 2 > 0x7ff)
		return 0;
	size_t i = 0;
	out[i++] = 0x7e;
	out[i++] = (unsigned char)(0xa0 | (total - 2) >> 8);
	out[i++] = (unsigned char)(total - 2);
	memcpy(out + i, head, sizeof head);
	i += sizeof head;
	uint16_t hcs = dlms_crc_x25(out + 1, i - 1);
	out[i++] = (unsigned char)hcs;
	out[i++] = (unsigned char)(hcs >> 8);
	out[i++] = 0xe6;
	out[i++] = 0xe7;
	out[i++] = 0x00;
	memcpy(out + i, apdu, n);
	i += n;
	uint16_t fcs = dlms_crc_x25(out + 1, i - 1);
	out[i++] = (unsigned char)fcs;
	out[i++] = (unsigned char)(fcs >> 8);
	out[i++] = 0x7e;
	return i;
}

size_t dlms_wrap_mbus(const unsigned char *apdu, size_t n, size_t seg, unsigned char *out, size_t cap)
{
	size_t i = 0;
	if (seg == 0 || seg > 250 - 5)
		return 0;
	for (unsigned k = 0; n > 0 || k == 0; k++) {
		size_t part = n < seg ? n : seg;
		bool last = part == n;
		if (k > 15 || i + part + 11 > cap)
			return 0;
		unsigned char *f = out + i;
		f[0] = f[3] = 0x68;
		f[1] = f[2] = (unsigned char)(part + 5);
		f[4] = 0x53;
		f[5] = 0xff;
		f[6] = (unsigned char)(k | (last ? 0x10 : 0));
		f[7] = 0x01;
		f[8] = 0x67;
		memcpy(f + 9, apdu, part);
		unsigned sum = 0;
		for (size_t j = 4; j < 9 + part; j++)
			sum += f[j];
		f[9 + part] = (unsigned char)sum;
		f[10 + part] = 0x16;
		i += part + 11;
		apdu += part;
		n -= part;
	}
	return i;
}
