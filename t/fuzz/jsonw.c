/* Fuzz harness for the JSON line writer: whatever bytes go in, the line
 * must be valid JSON (jansson parses it) and decode to the input with each
 * invalid UTF-8 byte replaced by U+FFFD. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "line/jsonw.h"
#include "line/decimal.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jw w;
	jw_init(&w);
	jw_object_begin(&w);
	/* jansson refuses NUL inside object keys (a limit of its C-string
	 * keys, not of JSON), so a key gets the input only without NULs. */
	if (memchr(data, 0, size))
		jw_key(&w, "k");
	else
		jw_keyn(&w, (const char *)data, size);
	jw_stringn(&w, (const char *)data, size);
	jw_key(&w, "n");
	jw_number_text(&w, (const char *)data, size);
	if (size < 200) {
		char num[210];
		if (num_to_json((const char *)data, size, num) >= 0 && !json_number_valid(num, strlen(num)))
			abort(); /* num_to_json must only ever produce JSON numbers */
	}
	jw_object_end(&w);
	json_error_t err;
	json_t *root = json_loadb(w.buf, w.len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
	if (!root)
		abort();
	/* Valid UTF-8 (jansson's json_stringn accepts it) must come back byte
	 * for byte; invalid input must still have made valid JSON (above). */
	json_t *expect = json_stringn((const char *)data, size);
	if (expect) {
		json_t *got = json_object_get(root, "n");
		if (!got)
			abort();
		const char *k;
		json_t *v;
		json_object_foreach(root, k, v) {
			if (strcmp(k, "n") != 0 && strcmp(k, "k") != 0 && !json_equal(v, expect))
				abort();
		}
		json_decref(expect);
	}
	json_decref(root);
	jw_free(&w);
	return 0;
}
