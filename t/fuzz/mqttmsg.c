/* Fuzz harness for lib/mqttmsg.c: whatever line comes in, every message
 * built from it goes to a valid topic under the prefix, with exactly the
 * expected number of levels; numbers read back as the same value; Home
 * Assistant configs are valid JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

static void check_numbers(const struct reading *r, const struct mm_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *param = strrchr(l->v[i].topic, '/') + 1;
		const json_t *v = json_object_get(json_object_get(r->values, param), "value");
		if (!json_is_number(v))
			continue;
		/* The text must be a JSON number of the same value. */
		json_t *back = json_loadb(l->v[i].payload, l->v[i].payload_len, JSON_DECODE_ANY, NULL);
		if (!json_is_number(back) || json_number_value(back) != json_number_value(v))
			abort();
		if (json_is_integer(v) != json_is_integer(back))
			abort();
		json_decref(back);
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
					json_t *obj = json_loadb(l.v[i].payload, l.v[i].payload_len, 0, NULL);
					if (!json_is_object(obj))
						abort();
					json_decref(obj);
				}
			}
			if (modes[k] == MM_RAW)
				check_numbers(&r, &l);
		}
		mm_list_free(&l);
		if (r.values) {
			const char *param;
			json_t *entry;
			json_object_foreach(r.values, param, entry) {
				struct mm_msg m;
				if (ha_config(&o, &r, param, "meters/x/t/d/status", "0", &m) == 1) {
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
