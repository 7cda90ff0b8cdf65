/* Fuzz harness for the KMP frame decoder: any bytes from the line go
 * through the receiver; every frame it accepts must have a zero CRC
 * residue, every GetRegister reply must split into records inside the
 * frame, and every value must come out as a JSON number or a named error.
 * The input is also framed as a payload and must come back unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "line/jsonw.h"
#include "meter/kmp.h"
#include "base/util.h"

static void check_frame(const struct kmp_rx *rx)
{
	if (rx->len < 4 || crc16_xmodem(0, rx->frame, rx->len) != 0)
		abort();
	struct kmp_record rec[KMP_MAX_REGISTERS];
	char why[128], text[KMP_VALUE_TEXT];
	int n = kmp_parse_registers(rx->frame, rx->len, rec, KMP_MAX_REGISTERS, why, sizeof why);
	for (int i = 0; i < n; i++) {
		if (rec[i].mantissa < rx->frame || rec[i].mantissa + rec[i].len > rx->frame + rx->len - 2)
			abort();
		int len = kmp_value_text(rec[i].siex, rec[i].mantissa, rec[i].len, text, sizeof text, why, sizeof why);
		if (len >= 0 && (!json_number_valid(text, (size_t)len) || strlen(text) != (size_t)len))
			abort();
		char name[32];
		kmp_register_name(rec[i].id, name, sizeof name);
		(void)kmp_unit_name(rec[i].unit);
	}
	uint32_t serial;
	uint16_t type, rev;
	const char *w;
	char revtext[8];
	if (kmp_decode_type(rx->frame, rx->len, &type, &rev, &w) == 0)
		kmp_revision_text(rev, revtext);
	(void)kmp_decode_serial(rx->frame, rx->len, &serial, &w);
}

static void receive(const uint8_t *data, size_t size, uint8_t want)
{
	static struct kmp_rx rx;
	kmp_rx_init(&rx, want);
	for (size_t i = 0; i < size; i++)
		if (kmp_rx_byte(&rx, data[i]) == KMP_RX_FRAME)
			check_frame(&rx);
}

/* Framing then receiving gives the payload back, CRC appended. */
static void round_trip(const uint8_t *data, size_t size)
{
	if (size > 500)
		return;
	static uint8_t wire[2 * 502 + 2];
	size_t n = kmp_frame_build(KMP_START_REPLY, data, size, wire, sizeof wire);
	if (!n)
		abort();
	static struct kmp_rx rx;
	kmp_rx_init(&rx, KMP_START_REPLY);
	int frames = 0;
	for (size_t i = 0; i < n; i++) {
		enum kmp_rx_event ev = kmp_rx_byte(&rx, wire[i]);
		if (ev == KMP_RX_ERROR && size + 2 >= 4)
			abort();
		if (ev == KMP_RX_FRAME) {
			if (rx.len != size + 2 || memcmp(rx.frame, data, size) != 0 || rx.raw != n)
				abort();
			frames++;
		}
	}
	if (frames != (size + 2 >= 4))
		abort();
	static uint8_t back[502];
	const char *why;
	int len = kmp_unstuff(wire + 1, n - 2, back, sizeof back, &why);
	if (len != (int)size + 2 || memcmp(back, data, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	receive(data, size, KMP_START_REPLY);
	receive(data, size, 0);
	round_trip(data, size);
	return 0;
}
