/* kmpcheck: a test driver for lib/kmp (t/kmp.bats).  Hex arguments may
 * contain spaces; output is what the library made of the input.
 *
 *   kmpcheck crc HEX          CRC-16/XMODEM of the bytes, 4 hex digits
 *   kmpcheck stuff HEX        the bytes stuffed
 *   kmpcheck unstuff HEX      the bytes unstuffed, or "error: why"
 *   kmpcheck type             the GetType request frame
 *   kmpcheck serial           the GetSerialNo request frame
 *   kmpcheck get ID...        the GetRegister request (ids by name, decimal, 0x hex)
 *   kmpcheck rx HEX           the receive state machine, one line per event
 *   kmpcheck reply HEX        the same, waiting for replies only (raw 40)
 *   kmpcheck frame START HEX  a frame around a payload (CRC added, stuffed)
 *   kmpcheck decode HEX       receive, then decode the frame(s) by command
 *   kmpcheck value SIEX HEX   one value's exact decimal text
 *   kmpcheck unit CODE        the unit name of a code
 *   kmpcheck encode M E [LEN] kmp_value_encode: SIEX and mantissa bytes */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "meter/kmp.h"
#include "base/util.h"

static size_t parse_hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int half = -1;
	for (; *s; s++) {
		if (*s == ' ' || *s == ':')
			continue;
		int v;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			die(EXIT_USAGE, "not hex: %s", s);
		if (half < 0) {
			half = v;
		} else {
			if (n == cap)
				die(EXIT_USAGE, "too many bytes");
			out[n++] = (uint8_t)(half << 4 | v);
			half = -1;
		}
	}
	if (half >= 0)
		die(EXIT_USAGE, "odd number of hex digits");
	return n;
}

static void print_hex(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%s%02X", i ? " " : "", b[i]);
	putchar('\n');
}

static void decode_registers(const uint8_t *f, size_t n)
{
	struct kmp_record rec[64];
	char why[128], text[KMP_VALUE_TEXT];
	int count = kmp_parse_registers(f, n, rec, 64, why, sizeof why);
	if (count < 0) {
		printf("error: %s\n", why);
		return;
	}
	for (int i = 0; i < count; i++) {
		const char *unit = kmp_unit_name(rec[i].unit);
		char name[32];
		kmp_register_name(rec[i].id, name, sizeof name);
		if (kmp_value_text(rec[i].siex, rec[i].mantissa, rec[i].len, text, sizeof text, why, sizeof why) < 0)
			printf("%u %s error: %s\n", rec[i].id, name, why);
		else
			printf("%u %s %s %s\n", rec[i].id, name, text, unit ? unit : "-");
	}
}

static void decode_frame(const uint8_t *f, size_t n)
{
	const char *why = NULL;
	if (f[1] == KMP_CID_GET_REGISTER) {
		decode_registers(f, n);
	} else if (f[1] == KMP_CID_GET_SERIAL) {
		uint32_t serial;
		if (kmp_decode_serial(f, n, &serial, &why) < 0)
			printf("error: %s\n", why);
		else
			printf("serial %u\n", serial);
	} else if (f[1] == KMP_CID_GET_TYPE) {
		uint16_t type, rev;
		char revtext[8];
		if (kmp_decode_type(f, n, &type, &rev, &why) < 0) {
			printf("error: %s\n", why);
		} else {
			kmp_revision_text(rev, revtext);
			printf("type 0x%04X revision %s\n", type, revtext[0] ? revtext : "-");
		}
	} else {
		printf("command 0x%02X\n", f[1]);
	}
}

/* Runs the receiver over the bytes; for each frame, either prints it
 * (rx) or decodes it (decode). */
static void receive(const uint8_t *b, size_t n, bool decode, uint8_t want)
{
	struct kmp_rx rx;
	kmp_rx_init(&rx, want);
	for (size_t i = 0; i < n; i++) {
		size_t discarded = rx.discarded;
		switch (kmp_rx_byte(&rx, b[i])) {
		case KMP_RX_MORE:
			break;
		case KMP_RX_ACK:
			puts("ack");
			break;
		case KMP_RX_ERROR:
			printf("error at byte %zu: %s\n", i, rx.why);
			break;
		case KMP_RX_FRAME:
			if (discarded)
				printf("discarded %zu\n", discarded);
			if (decode) {
				decode_frame(rx.frame, rx.len);
			} else {
				printf("frame %02X raw %zu: ", rx.start, rx.raw);
				print_hex(rx.frame, rx.len);
			}
			break;
		}
	}
	if (rx.state != KMP_RX_HUNT)
		puts("incomplete");
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	if (argc < 2)
		die(EXIT_USAGE, "usage: kmpcheck crc|stuff|unstuff|type|serial|get|rx|reply|frame|decode|value|unit|encode ...");
	const char *cmd = argv[1];
	static uint8_t in[8192], out[16384];
	bool hex_arg = strcmp(cmd, "get") != 0 && strcmp(cmd, "value") != 0 && strcmp(cmd, "encode") != 0 &&
	               strcmp(cmd, "unit") != 0 && strcmp(cmd, "frame") != 0;
	size_t n = argc > 2 && hex_arg ? parse_hex(argv[2], in, sizeof in) : 0;
	if (strcmp(cmd, "crc") == 0 && argc == 3) {
		printf("%04X\n", crc16_xmodem(0, in, n));
	} else if (strcmp(cmd, "stuff") == 0 && argc == 3) {
		print_hex(out, kmp_stuff(in, n, out, sizeof out));
	} else if (strcmp(cmd, "unstuff") == 0 && argc == 3) {
		const char *why;
		int len = kmp_unstuff(in, n, out, sizeof out, &why);
		if (len < 0)
			printf("error: %s\n", why);
		else
			print_hex(out, (size_t)len);
	} else if (strcmp(cmd, "type") == 0 && argc == 2) {
		print_hex(out, kmp_request_get_type(out, sizeof out));
	} else if (strcmp(cmd, "serial") == 0 && argc == 2) {
		print_hex(out, kmp_request_get_serial(out, sizeof out));
	} else if (strcmp(cmd, "get") == 0 && argc >= 3) {
		uint16_t ids[16];
		int count = 0;
		for (int i = 2; i < argc && count < 16; i++)
			if (kmp_register_parse(argv[i], &ids[count++]) < 0)
				die(EXIT_USAGE, "unknown register: %s", argv[i]);
		size_t len = kmp_request_get_register(ids, count, out, sizeof out);
		if (!len)
			die(EXIT_RUNTIME, "cannot build a request for %d registers", count);
		print_hex(out, len);
	} else if ((strcmp(cmd, "rx") == 0 || strcmp(cmd, "decode") == 0) && argc == 3) {
		receive(in, n, cmd[0] == 'd', 0);
	} else if (strcmp(cmd, "reply") == 0 && argc == 3) {
		receive(in, n, false, KMP_START_REPLY);
	} else if (strcmp(cmd, "frame") == 0 && argc == 4) {
		n = parse_hex(argv[3], in, sizeof in);
		print_hex(out, kmp_frame_build((uint8_t)strtoul(argv[2], NULL, 16), in, n, out, sizeof out));
	} else if (strcmp(cmd, "value") == 0 && argc == 4) {
		char text[KMP_VALUE_TEXT], why[128];
		size_t len = parse_hex(argv[3], in, sizeof in);
		if (kmp_value_text((uint8_t)strtoul(argv[2], NULL, 16), in, len, text, sizeof text, why, sizeof why) < 0)
			printf("error: %s\n", why);
		else
			puts(text);
	} else if (strcmp(cmd, "unit") == 0 && argc == 3) {
		const char *u = kmp_unit_name((uint8_t)strtoul(argv[2], NULL, 16));
		puts(u ? u : "-");
	} else if (strcmp(cmd, "encode") == 0 && (argc == 4 || argc == 5)) {
		uint8_t siex, mant[8];
		bool neg = argv[2][0] == '-';
		int len = kmp_value_encode(strtoull(argv[2] + neg, NULL, 10), neg, atoi(argv[3]), argc == 5 ? atoi(argv[4]) : 0,
		                           &siex, mant);
		if (len < 0)
			die(EXIT_RUNTIME, "cannot encode");
		printf("%02X ", siex);
		print_hex(mant, (size_t)len);
	} else {
		die(EXIT_USAGE, "unknown command or wrong arguments: %s", cmd);
	}
	return 0;
}
