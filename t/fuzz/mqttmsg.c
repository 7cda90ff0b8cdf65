/* Fuzz harness for line/reading.c, sink/mqttmsg.c and sink/ha.c: whatever
 * line comes in, every message built from it goes to a valid topic under
 * the prefix, with exactly the expected number of levels; a number's
 * payload is a valid JSON number whose text stands in the line, byte for
 * byte, as a whole token; Home Assistant configs are valid JSON (checked
 * with jansson, a parser other than the one under test). */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "line/jsonw.h"
#include "line/reading.h"
#include "sink/ha.h"
#include "sink/mqttmsg.h"

static void check_topic(const char *topic, const char *prefix, int levels)
{
	size_t pn = strlen(prefix);
	if (strncmp(topic, prefix, pn) != 0 || topic[pn] != '/')
		abort();
	int n = 0;
	for (const char *level = topic + pn + 1;;) {
		const char *slash = strchr(level, '/');
		size_t len = slash ? (size_t)(slash - level) : strlen(level);
		if (!topic_level_valid(level, len, NULL))
			abort();
		n++;
		if (!slash)
			break;
		level = slash + 1;
	}
	if (n != levels)
		abort();
}

static bool number_char(char c) { return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'; }

/* text occurs in line as a whole number token (not inside a longer one). */
static bool whole_token_in(const char *line, size_t size, const char *text, size_t n)
{
	for (const char *p = line; (p = memmem(p, size - (size_t)(p - line), text, n)); p++) {
		bool start = p == line || !number_char(p[-1]);
		bool end = (size_t)(p - line) + n == size || !number_char(p[n]);
		if (start && end)
			return true;
	}
	return false;
}

static void check_numbers(const char *line, size_t size, const struct reading *r, const struct mm_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *param = strrchr(l->v[i].topic, '/') + 1;
		const struct jv *v = jv_get(jv_get(r->values, param), "value");
		if (!v || v->type != JV_NUMBER)
			continue;
		const char *pl = l->v[i].payload;
		size_t pn = l->v[i].payload_len;
		if (pn != v->n || memcmp(pl, v->s, pn) != 0)
			abort();
		if (!json_number_valid(pl, pn) || !whole_token_in(line, size, pl, pn))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	if (topic_level_valid(line, size, NULL) && (memchr(data, '/', size) || memchr(data, '+', size) ||
	                                          memchr(data, '#', size) || memchr(data, 0, size)))
		abort();
	struct reading r;
	char why[256];
	if (reading_parse(line, size, &r, why, sizeof why) < 0)
		return 0;
	static const enum mm_mode modes[] = { MM_RAW, MM_JSON_VALUES, MM_JSON_READING };
	for (size_t k = 0; k < 3; k++) {
		struct mm_opts o = { "meters/x", modes[k], "homeassistant" };
		struct mm_list l;
		struct mm_result res;
		mm_list_init(&l);
		if (mm_build(&o, &r, line, size, true, &l, &res) >= 0) {
			for (size_t i = 0; i < l.n; i++) {
				check_topic(l.v[i].topic, "meters/x", modes[k] == MM_JSON_READING ? 2 : 3);
				if (!l.v[i].payload)
					abort();
				if (modes[k] == MM_JSON_VALUES) {
					/* Numbers beyond a double make jansson stop
					 * with an overflow: that is still JSON. */
					json_error_t err;
					json_t *obj = json_loadb(l.v[i].payload, l.v[i].payload_len, JSON_DECODE_INT_AS_REAL,
					                         &err);
					if (obj ? !json_is_object(obj) : json_error_code(&err) != json_error_numeric_overflow)
						abort();
					json_decref(obj);
				}
			}
			if (modes[k] == MM_RAW)
				check_numbers(line, size, &r, &l);
		}
		mm_list_free(&l);
		if (r.values) {
			for (size_t i = 0; i < r.values->n; i++) {
				const char *param = r.values->m[i].key;
				struct mm_msg m;
				struct ha_settings hs = { .status_topic = "meters/x/t/d/status", .expire_after = 30, .version = "0" };
				if (ha_config(&o, &hs, &r, param, &m) == 1) {
					check_topic(m.topic, "homeassistant", 4);
					json_t *cfg = json_loadb(m.payload, m.payload_len, 0, NULL);
					if (!json_is_object(cfg))
						abort();
					json_decref(cfg);
					mm_msg_free(&m);
				}
			}
		}
	}
	reading_free(&r);
	return 0;
}
