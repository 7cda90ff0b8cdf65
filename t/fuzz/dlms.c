/* Fuzz harness for p1read's decrypting path (lib/meter/dlms.c) with a
 * fixed key.  The first byte picks what the rest is:
 *   mode 0: a raw byte stream with binary frames looked for (framer,
 *           M-Bus and HDLC checks, the GCM header; tags will not verify)
 *   mode 1..3: a plaintext the harness seals itself under the key (a
 *           tagged bare APDU, encryption-only in HDLC, in M-Bus segments),
 *           so that decryption, the data-notification decoder and the
 *           decrypted telegram's framing all see the fuzzer's bytes.
 * Every reading line written must be valid JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "line/frame.h"
#include "line/jsonw.h"
#include "meter/dlms.h"
#include "meter/dsmr.h"

static const unsigned char key[DLMS_KEY_LEN] = { 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	                                           0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f };
static const unsigned char title[8] = { 'K', 'F', 'M', 0x10, 0x10, 0, 0, 0x23 };

static struct dsmr_framer framer, inner;
static struct dsmr_telegram telegram;
static struct dlms_session session;
static struct jw w;
static unsigned char auth_key[DLMS_KEY_LEN]; /* the Smarty default */

static void reading(const char *text, size_t len)
{
	if (dsmr_parse(&telegram, text, len) < 0)
		return;
	json_error_t err;
	jw_reset(&w);
	reading_begin(&w, "dsmr", "fuzz");
	dsmr_write_meter(&w, &telegram);
	reading_values_begin(&w);
	dsmr_write_values(&w, &telegram, NULL);
	reading_end(&w);
	json_t *root = json_loadb(w.buf, w.len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err);
	if (!root)
		abort();
	json_decref(root);
}

static void feed(struct dsmr_framer *f, const unsigned char *p, size_t n, bool outer);

static void on_frame(const struct dsmr_event *ev)
{
	switch (dlms_frame(&session, ev->frame, (const unsigned char *)ev->text, ev->len)) {
	case DLMS_TEXT:
		dsmr_framer_init(&inner, DSMR_CRC_AUTO);
		feed(&inner, (const unsigned char *)session.out, session.out_len, false);
		break;
	case DLMS_NOTIFICATION: reading(session.out, session.out_len); break;
	case DLMS_DROP: dsmr_framer_rescan(&framer); break;
	case DLMS_MORE: break;
	}
}

static void feed(struct dsmr_framer *f, const unsigned char *p, size_t n, bool outer)
{
	size_t off = 0;
	while (off < n) {
		struct dsmr_event ev;
		bool got;
		size_t k = dsmr_framer_push(f, p + off, n - off, &ev, &got);
		if (k > n - off || (k == 0 && !got))
			abort();
		off += k;
		if (!got)
			continue;
		if (ev.kind == DSMR_EV_FRAME && outer)
			on_frame(&ev);
		else if (ev.kind == DSMR_EV_TELEGRAM)
			reading(ev.text, ev.len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char sealed[3 * DLMS_MAX_APDU], wrapped[4 * DLMS_MAX_APDU];
	static bool ready;
	if (!ready) {
		char why[64];
		jw_init(&w);
		if (dlms_session_init(&session, key, NULL) < 0 ||
		    dlms_key_parse(DLMS_DEFAULT_AUTH_KEY, auth_key, why, sizeof why) < 0)
			abort();
		ready = true;
	}
	if (size < 1)
		return 0;
	unsigned mode = data[0] % 4;
	data++, size--;
	session.have_counter = false; /* every input starts afresh */
	session.next_segment = 0;
	dsmr_framer_init(&framer, DSMR_CRC_AUTO);
	dsmr_framer_binary(&framer, true);
	if (mode == 0 || size == 0 || size > DLMS_MAX_APDU) {
		feed(&framer, data, size, true);
		return 0;
	}
	size_t n = dlms_seal(key, auth_key, title, 7, mode == 1 ? 0x30 : 0x20, data, size, sealed, sizeof sealed);
	if (n == 0)
		abort(); /* every plaintext up to DLMS_MAX_APDU seals */
	size_t m = mode == 1 ? n
	           : mode == 2 ? dlms_wrap_hdlc(sealed, n, wrapped, sizeof wrapped)
	                       : dlms_wrap_mbus(sealed, n, 200, wrapped, sizeof wrapped);
	if (m == 0)
		return 0; /* longer than one HDLC frame or 16 M-Bus segments */
	feed(&framer, mode == 1 ? sealed : wrapped, m, true);
	/* A frame sealed under the key is never refused for its tag. */
	if (mode == 1 && session.fault == DLMS_FAULT_TAG && session.why[0])
		abort();
	dsmr_framer_abort(&framer, DSMR_DROP_EOF, &(struct dsmr_event){ 0 });
	return 0;
}
