/* Fuzz harness for smlread's path: framing (in chunks whose sizes come from
 * the input), the file CRC, decoding and the reading line.  The first byte
 * chooses: bit 7 set feeds the rest to the decoder directly as the
 * messages of a file (the CRC would keep the fuzzer out of it otherwise);
 * clear, to the framer in chunks of (bits 0-3) x 7 bytes.  Every line must
 * be valid JSON with a "values" object, every value with a unit a number,
 * and every span the decoder returns must lie inside its input.
 *
 * Seeds (t/fuzz/seeds/sml) are the files of ../shared/corpus/sml (sources in
 * its MANIFEST.tsv): NAME (0x00 + the file), NAME.chunks (0x03 + the file),
 * NAME.msgs (0x80 + its messages, escapes undone, padding removed). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "base/util.h"
#include "line/frame.h"
#include "line/jsonw.h"
#include "meter/sml.h"

static struct sml_framer framer;
static struct sml_file file;

static void check_line(struct jw *w)
{
	json_error_t err;
	json_t *root = json_loadb(w->buf, w->len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err);
	if (!root)
		abort();
	json_t *values = json_object_get(root, "values");
	if (!json_is_object(values))
		abort();
	/* A unit is written with integers only, and they are JSON numbers. */
	const char *key;
	json_t *e;
	json_object_foreach(values, key, e) {
		if (json_object_get(e, "unit") && !json_is_number(json_object_get(e, "value")))
			abort();
	}
	json_decref(root);
}

static void on_file(const uint8_t *data, size_t len, struct jw *w, const struct sml_filter *flt)
{
	if (sml_decode(&file, data, len) < 0) {
		if (!file.why[0])
			abort(); /* a refusal is always named */
		return;
	}
	if (file.server_off + file.server_len > len)
		abort();
	for (int k = 0; k < file.nentry; k++)
		if (file.entry[k].kind == SML_V_BYTES && file.entry[k].off + file.entry[k].len > len)
			abort();
	reading_begin(w, "sml", "fuzz");
	sml_write_meter(w, &file);
	reading_values_begin(w);
	sml_write_values(w, &file, flt);
	reading_end(w);
	check_line(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jw w;
	static bool ready;
	static struct sml_filter filter;
	if (!ready) {
		char why[128];
		jw_init(&w);
		sml_filter_add(&filter, "instantaneous_active_power", why, sizeof why);
		sml_filter_add(&filter, "1-0:1.8.0*96", why, sizeof why);
		ready = true;
	}
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++, size--;
	const struct sml_filter *flt = (mode & 0x40) ? &filter : NULL;
	if (mode & 0x80) {
		on_file(data, size, &w, flt);
		return 0;
	}
	sml_framer_init(&framer);
	size_t chunk = (mode & 15) ? (size_t)(mode & 15) * 7 : size;
	struct sml_event ev;
	size_t off = 0;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		size_t used = 0;
		while (used < n) {
			bool got;
			size_t k = sml_framer_push(&framer, data + off + used, n - used, &ev, &got);
			if (k > n - used || (k == 0 && !got))
				abort();
			used += k;
			if (got && ev.kind == SML_EV_FILE) {
				if (ev.len > SML_MAX_FILE)
					abort();
				on_file(ev.data, ev.len, &w, flt);
			}
		}
		off += n;
	}
	if (sml_framer_abort(&framer, SML_DROP_EOF, &ev) && ev.kind != SML_EV_DROP)
		abort();
	return 0;
}
