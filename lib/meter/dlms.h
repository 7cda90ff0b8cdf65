/* dlms.h: the DLMS frames that encrypted P1 meters send instead of a
 * plaintext telegram.  The only place in meter2mqtt that links libcrypto.
 *
 *   Luxembourg Smarty, Sagemcom T210-D-r: a general-global-ciphering APDU
 *     (0xDB, system title, length, security control, frame counter,
 *     ciphertext, GCM tag) whose plaintext is a DSMR text telegram.
 *   Austrian Kaifa, Siemens IM350, Iskraemeco AM550: the same APDU carried
 *     in M-Bus long frames (68 L L 68 ...) or an HDLC frame (7E A0 ...),
 *     encrypted only (no tag), whose plaintext is a binary DLMS
 *     data-notification.
 *
 *   frame bytes -> dlms_frame -> DLMS_TEXT (a telegram to frame and check)
 *                             -> DLMS_NOTIFICATION (rewritten as telegram)
 *                             -> DLMS_MORE (the first of several M-Bus frames)
 *                             -> DLMS_DROP (why, and which counter) */
#ifndef M2M_DLMS_H
#define M2M_DLMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meter/dsmr.h"

#define DLMS_KEY_LEN 16
/* The Smarty authentication key, the same in every meter. */
#define DLMS_DEFAULT_AUTH_KEY "00112233445566778899AABBCCDDEEFF"
/* The longest APDU kept; longer ones are dropped. */
#define DLMS_MAX_APDU 8192

/* 32 hex digits (spaces allowed between them) into key.  Returns 0, or -1
 * with why saying what is wrong without quoting the key. */
int dlms_key_parse(const char *text, unsigned char key[DLMS_KEY_LEN], char *why, size_t whylen);
/* The key from file (--key-file, or --auth-key-file when env is
 * P1_AUTH_KEY), else from $env; false when neither is there.  A malformed
 * or unreadable one dies with exit 2, naming what is wrong, never the key. */
bool dlms_key_load(const char *file, const char *env, unsigned char key[DLMS_KEY_LEN]);


enum dlms_status {
	DLMS_TEXT,         /* s->out holds a DSMR text telegram */
	DLMS_NOTIFICATION, /* s->out holds a data-notification rewritten as a telegram */
	DLMS_MORE,         /* a first segment: wait for the rest */
	DLMS_DROP,         /* s->fault and s->why say why */
};

enum dlms_fault {
	DLMS_FAULT_FRAME,  /* checksum, FCS, length or layout of the frame */
	DLMS_FAULT_TAG,    /* the GCM tag does not verify: wrong key, or forged */
	DLMS_FAULT_REPLAY, /* the frame counter did not increase */
	DLMS_FAULT_APDU,   /* the decrypted APDU does not parse whole */
};

struct dlms_session {
	unsigned char ek[DLMS_KEY_LEN], ak[DLMS_KEY_LEN];
	bool have_counter;
	uint32_t last_counter;
	/* the last frame: its counter and whether a tag vouched for it */
	uint32_t counter;
	bool authenticated;
	enum dlms_fault fault;
	char why[112];
	void *ctx;                /* the EVP cipher context, made once */
	/* M-Bus segments joined so far */
	size_t joined_len;
	int next_segment;
	unsigned char joined[DLMS_MAX_APDU];
	unsigned char plain[DLMS_MAX_APDU]; /* the last frame decrypted */
	size_t plain_len;
	bool clock_done;          /* the notification's time is written */
	size_t out_len;
	char out[DLMS_MAX_APDU * 3];
};

/* ek: the encryption key; ak: the authentication key (NULL: the Smarty
 * default).  Returns 0, or -1 when libcrypto cannot make a context. */
int dlms_session_init(struct dlms_session *s, const unsigned char *ek, const unsigned char *ak);
/* Why dlms_session_init failed (libcrypto, loaded at the first key, could
 * not be loaded, or made no cipher context). */
const char *dlms_crypto_why(void);
void dlms_session_free(struct dlms_session *s);

/* One frame as the framer found it: checks its checksum, joins M-Bus
 * segments, decrypts, checks the tag (when the security control byte says
 * there is one) and the frame counter.  Bit 7 is never touched. */
enum dlms_status dlms_frame(struct dlms_session *s, enum dsmr_frame_kind kind, const unsigned char *p, size_t n);

/* ---- the meter's side (p1sim, tests, the fuzz harness) ---- */

/* A general-global-ciphering APDU of plain: security control sc (0x30:
 * tag and encryption, 0x20: encryption only), IV title || fc.  Returns
 * its length, or 0 when out (cap bytes) is too small or libcrypto fails. */
size_t dlms_seal(const unsigned char ek[DLMS_KEY_LEN], const unsigned char ak[DLMS_KEY_LEN],
                 const unsigned char title[8], uint32_t fc, unsigned sc, const void *plain, size_t n,
                 unsigned char *out, size_t cap);
/* The APDU in one HDLC frame (7E A0 len CF 02 23 13 HCS E6 E7 00 ... FCS
 * 7E, as the Wiener Netze meters send it); 0 when it does not fit. */
size_t dlms_wrap_hdlc(const unsigned char *apdu, size_t n, unsigned char *out, size_t cap);
/* The APDU in M-Bus long frames of at most seg bytes of it each (68 L L 68
 * 53 FF CI 01 67 ... CS 16, CI 0x00.. then 0x10|n on the last). */
size_t dlms_wrap_mbus(const unsigned char *apdu, size_t n, size_t seg, unsigned char *out, size_t cap);

/* CRC-16/X.25 (HDLC FCS) of data. */
uint16_t dlms_crc_x25(const unsigned char *p, size_t n);

#endif
