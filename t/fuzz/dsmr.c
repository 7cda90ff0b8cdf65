/* Fuzz harness for p1read's telegram path: framing (in chunks whose sizes
 * come from the input), CRC, parsing and the reading line.  Every line
 * written must be valid JSON (jansson parses it), every "value" of a
 * number must be a JSON number, and the framer must never report more
 * bytes than it was given. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meter/dsmr.h"
#include "line/jsonw.h"
#include "line/frame.h"
#include "base/util.h"

static struct dsmr_framer framer;
static struct dsmr_telegram telegram;

static void check_line(struct jw *w)
{
	json_error_t err;
	json_t *root = json_loadb(w->buf, w->len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err);
	if (!root)
		abort();
	json_t *values = json_object_get(root, "values");
	if (!json_is_object(values))
		abort();
	json_decref(root);
}

static void on_event(struct dsmr_event *ev, struct jw *w, const struct dsmr_filter *filter)
{
	if (ev->kind != DSMR_EV_TELEGRAM)
		return;
	if (ev->len < 2 || ev->text[0] != '/' || ev->text[ev->len - 1] != '!')
		abort();
	if (dsmr_parse(&telegram, ev->text, ev->len) < 0)
		return;
	reading_begin(w, "dsmr", "fuzz");
	dsmr_write_meter(w, &telegram);
	reading_values_begin(w);
	dsmr_write_values(w, &telegram, filter);
	reading_end(w);
	check_line(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jw w;
	static bool ready;
	static struct dsmr_filter filter;
	if (!ready) {
		char why[128];
		jw_init(&w);
		dsmr_filter_add(&filter, "gas_provided", why, sizeof why);
		dsmr_filter_add(&filter, "1-0:1.7.0", why, sizeof why);
		ready = true;
	}
	if (dsmr_crc(data, size) != crc16_arc(0, data, size))
		abort(); /* the fast CRC must be the CRC */
	if (size < 1)
		return 0;
	/* The first byte picks the CRC policy, the chunk size and the filter. */
	uint8_t mode = data[0];
	data++, size--;
	dsmr_framer_init(&framer, (enum dsmr_crc_policy)(mode % 3));
	size_t chunk = (mode >> 2 & 15) ? (size_t)(mode >> 2 & 15) * 7 : size;
	const struct dsmr_filter *f = (mode & 0x40) ? &filter : NULL;
	struct dsmr_event ev;
	size_t off = 0;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		size_t used = 0;
		while (used < n) {
			bool got;
			size_t k = dsmr_framer_push(&framer, data + off + used, n - used, &ev, &got);
			if (k > n - used || (k == 0 && !got))
				abort();
			used += k;
			if (got)
				on_event(&ev, &w, f);
		}
		off += n;
	}
	if (dsmr_framer_abort(&framer, DSMR_DROP_EOF, &ev) && ev.kind != DSMR_EV_DROP)
		abort();
	/* The parser alone, on the raw input, as if it were a framed telegram. */
	if (size >= 2 && data[0] == '/' && data[size - 1] == '!' && size <= DSMR_MAX_TELEGRAM) {
		struct dsmr_event raw = { .kind = DSMR_EV_TELEGRAM, .text = (const char *)data, .len = size };
		on_event(&raw, &w, f);
	}
	return 0;
}
