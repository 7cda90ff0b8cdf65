/* dlmscheck: a test driver for lib/meter/dlms (t/p1read-dlms.bats).
 *
 *   dlmscheck plain < FRAMES   the frames on stdin (binary) framed and
 *                              decrypted with $P1_KEY (and $P1_AUTH_KEY):
 *                              one line per APDU, "plain HEX" for the
 *                              decrypted bytes, or "drop WHY"
 *   dlmscheck x25 HEX          CRC-16/X.25 of the bytes, 4 hex digits
 *   dlmscheck seal N < TEXT    N Smarty-style frames (0x30, tag) of the
 *                              telegram on stdin under $P1_KEY, frame
 *                              counters 1..N (for t/bench/p1read) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "meter/dlms.h"
#include "meter/dsmr.h"

static struct dsmr_framer framer;
static struct dlms_session session;

static void key_from(const char *env, unsigned char *key)
{
	char why[96];
	if (dlms_key_parse(getenv(env), key, why, sizeof why) < 0)
		die(EXIT_USAGE, "$%s: %s", env, why);
}

static void on_frame(const struct dsmr_event *ev)
{
	enum dlms_status st = dlms_frame(&session, ev->frame, (const unsigned char *)ev->text, ev->len);
	if (st == DLMS_MORE)
		return;
	if (st == DLMS_DROP) {
		printf("drop %s\n", session.why);
		dsmr_framer_rescan(&framer);
		return;
	}
	/* The plaintext as decrypted: a text telegram or the APDU's bytes. */
	printf("plain ");
	size_t n = st == DLMS_TEXT ? session.out_len : session.plain_len;
	const unsigned char *p = st == DLMS_TEXT ? (const unsigned char *)session.out : session.plain;
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

static int plain(void)
{
	static unsigned char buf[4096];
	unsigned char ek[DLMS_KEY_LEN], ak[DLMS_KEY_LEN] = { 0 };
	key_from("P1_KEY", ek);
	bool have_ak = getenv("P1_AUTH_KEY") != NULL;
	if (have_ak)
		key_from("P1_AUTH_KEY", ak);
	if (dlms_session_init(&session, ek, have_ak ? ak : NULL) < 0)
		die(EXIT_RUNTIME, "no cipher context");
	dsmr_framer_init(&framer, DSMR_CRC_AUTO);
	dsmr_framer_binary(&framer, true);
	ssize_t got;
	struct dsmr_event ev;
	while ((got = read(STDIN_FILENO, buf, sizeof buf)) > 0) {
		size_t off = 0;
		while (off < (size_t)got) {
			bool have;
			off += dsmr_framer_push(&framer, buf + off, (size_t)got - off, &ev, &have);
			if (have && ev.kind == DSMR_EV_FRAME)
				on_frame(&ev);
		}
	}
	dlms_session_free(&session);
	return 0;
}

static int seal(long count)
{
	static unsigned char text[DLMS_MAX_APDU], frame[DLMS_MAX_APDU + 64];
	static const unsigned char title[8] = { 'S', 'A', 'G', 'g', 'p', 0, 0, 1 };
	unsigned char ek[DLMS_KEY_LEN], ak[DLMS_KEY_LEN];
	char why[64];
	key_from("P1_KEY", ek);
	dlms_key_parse(DLMS_DEFAULT_AUTH_KEY, ak, why, sizeof why);
	size_t n = fread(text, 1, sizeof text, stdin);
	for (long i = 1; i <= count; i++) {
		size_t m = dlms_seal(ek, ak, title, (uint32_t)i, 0x30, text, n, frame, sizeof frame);
		if (m == 0 || fwrite(frame, 1, m, stdout) != m)
			die(EXIT_RUNTIME, "cannot seal");
	}
	return 0;
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	if (argc == 3 && strcmp(argv[1], "seal") == 0)
		return seal(atol(argv[2]));
	if (argc == 2 && strcmp(argv[1], "plain") == 0)
		return plain();
	if (argc == 3 && strcmp(argv[1], "x25") == 0) {
		unsigned char b[1024];
		size_t n = 0;
		for (const char *s = argv[2]; s[0] && s[1] && n < sizeof b; s += 2)
			b[n++] = (unsigned char)strtoul((char[]){ s[0], s[1], 0 }, NULL, 16);
		printf("%04X\n", dlms_crc_x25(b, n));
		return 0;
	}
	die(EXIT_USAGE, "usage: dlmscheck plain < FRAMES | dlmscheck x25 HEX");
}
