#include "sink/pubhealth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "line/jsonw.h"
#include "sink/mqttmsg.h"

int pubhealth_take(struct pubhealth *h, const struct jv *health, const char **why)
{
	size_t len;
	char *json = mm_value_payload(health, &len, why);
	if (!json)
		return -1;
	const char *link = reading_string(health, "link");
	bool first = !h->reader;
	bool changed = strcmp(link ? link : "", h->link) != 0;
	free(h->reader);
	h->reader = json;
	snprintf(h->link, sizeof h->link, "%s", link ? link : "");
	return first || changed;
}

static void counter(struct jw *w, const char *key, unsigned long n)
{
	jw_key(w, key);
	jw_int(w, (long long)n);
}

char *pubhealth_message(const struct pubhealth *h, const char *type, const char *device,
                        const struct pub_counters *c, size_t *len)
{
	char now[32];
	struct jw w;
	jw_init(&w);
	time_now_rfc3339(now);
	jw_object_begin(&w);
	jw_key(&w, "time");
	jw_string(&w, now);
	jw_key(&w, "type");
	jw_string(&w, type);
	jw_key(&w, "device");
	jw_string(&w, device);
	if (h->link[0]) {
		jw_key(&w, "link");
		jw_string(&w, h->link);
	}
	if (h->reader) {
		jw_key(&w, "reader");
		jw_raw_value(&w, h->reader, strlen(h->reader));
	}
	jw_key(&w, "publisher");
	jw_object_begin(&w);
	counter(&w, "published", c->published);
	counter(&w, "queued", c->queued);
	counter(&w, "dropped", c->dropped);
	counter(&w, "reconnects", c->reconnects);
	counter(&w, "bad_lines", c->bad_lines);
	if (c->spooling) {
		jw_key(&w, "spool");
		jw_object_begin(&w);
		jw_key(&w, "bytes");
		jw_int(&w, (long long)c->spool_bytes);
		counter(&w, "replayed", c->spool_replayed);
		counter(&w, "dropped", c->spool_dropped);
		counter(&w, "torn", c->spool_torn);
		jw_object_end(&w);
	}
	jw_object_end(&w);
	jw_object_end(&w);
	return jw_take(&w, len);
}

void pubhealth_free(struct pubhealth *h)
{
	free(h->reader);
	memset(h, 0, sizeof *h);
}
