/* Fuzz harness for lib/sink/devtable.c and lib/sink/httpexp.c: input is
 * messages, each "topic\tpayload\n" (the payload may hold tabs).  Whatever
 * they hold, /metrics stays line-by-line valid exposition format, the
 * JSON loads, and the page has exactly one row per device and no tag
 * that we did not write. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sink/httpexp.h"

/* name{label="value",...} number, or a comment. */
static void check_metric_line(const char *s, size_t n)
{
	if (n && s[0] == '#')
		return;
	size_t i = 0;
	while (i < n && (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
		i++;
	if (i == 0)
		abort();
	if (i < n && s[i] == '{') {
		for (i++; i < n && s[i] != '}';) {
			while (i < n && s[i] != '=')
				i++;
			if (i + 1 >= n || s[i + 1] != '"')
				abort();
			for (i += 2; i < n && s[i] != '"'; i++)
				if (s[i] == '\\') {
					if (i + 1 >= n || !strchr("\\\"n", s[i + 1]))
						abort();
					i++;
				}
			if (i >= n)
				abort();
			i++;
			if (i < n && s[i] == ',')
				i++;
		}
		if (i >= n)
			abort();
		i++;
	}
	if (i >= n || s[i] != ' ')
		abort();
	char *end;
	char num[64];
	size_t len = n - i - 1;
	if (len == 0 || len >= sizeof num)
		abort();
	memcpy(num, s + i + 1, len);
	num[len] = '\0';
	strtod(num, &end);
	if (*end)
		abort();
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct devtable t;
	devtable_init(&t, 50, 4096, 0);
	const char *p = (const char *)data, *end = p + size;
	int64_t now = 1000;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		const char *tab = memchr(p, '\t', (size_t)(line_end - p));
		if (tab) {
			char *topic = strndup(p, (size_t)(tab - p));
			if (topic)
				devtable_message(&t, "m", topic, tab + 1, (size_t)(line_end - tab - 1), now += 700, 1700000000000);
			free(topic);
		}
		p = line_end + 1;
	}
	struct exp_clock c = { now + 5000, 1700000005000 };
	struct buf b;
	buf_init(&b);
	exp_metrics(&t, &c, &b);
	for (const char *s = b.p, *e = b.p + b.len; s && s < e;) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));
		if (!nl)
			abort();
		check_metric_line(s, (size_t)(nl - s));
		s = nl + 1;
	}
	struct jw w;
	jw_init(&w);
	exp_devices_json(&t, &c, &w);
	/* Numbers keep the reader's digits, beyond what a json_int_t holds. */
	json_t *root = json_loadb(w.buf, w.len, JSON_DECODE_INT_AS_REAL, NULL);
	if (!json_is_object(root) || json_array_size(json_object_get(root, "devices")) != t.n)
		abort();
	json_decref(root);
	jw_free(&w);
	buf_reset(&b);
	exp_status_html(&t, &c, 5, &b);
	/* Only our own markup: rows, and no tag a device could have sent. */
	if (count(b.p, "<tr") != t.n + 1 || count(b.p, "<script") || count(b.p, "<img") || count(b.p, "<b>"))
		abort();
	buf_free(&b);
	devtable_free(&t);
	return 0;
}
