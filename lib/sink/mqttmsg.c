#include "sink/mqttmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "line/jsonw.h"
#include "line/reading.h"

/* ---- lists ---- */

void mm_list_init(struct mm_list *l) { memset(l, 0, sizeof *l); }

void mm_msg_free(struct mm_msg *m)
{
	free(m->topic);
	free(m->payload);
	memset(m, 0, sizeof *m);
}

void mm_list_clear(struct mm_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		mm_msg_free(&l->v[i]);
	l->n = 0;
}

void mm_list_free(struct mm_list *l)
{
	mm_list_clear(l);
	free(l->v);
	mm_list_init(l);
}

/* Takes ownership of topic and payload, also on failure. */
static int list_push(struct mm_list *l, char *topic, char *payload, size_t len, bool retain)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct mm_msg *v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			free(topic);
			free(payload);
			return -1;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct mm_msg){ topic, payload, len, retain };
	return 0;
}

/* ---- topic levels ---- */

bool mm_prefix_valid(const char *s, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	if (s[0] == '$') {
		*why = "topics starting with '$' belong to the broker";
		return false;
	}
	size_t total = strlen(s);
	if (total > 1024) {
		*why = "longer than 1024 bytes";
		return false;
	}
	for (const char *level = s;;) {
		const char *slash = strchr(level, '/');
		size_t n = slash ? (size_t)(slash - level) : strlen(level);
		if (!topic_level_valid(level, n, why))
			return false;
		if (!slash)
			return true;
		level = slash + 1;
	}
}

char *mm_topic(const char *prefix, const char *type, const char *device, const char *last)
{
	const char *parts[4] = { prefix, type, device, last };
	size_t lens[4], total = 0;
	int n = last ? 4 : 3;
	for (int i = 0; i < n; i++)
		total += (lens[i] = strlen(parts[i])) + 1;
	char *t = malloc(total);
	if (!t)
		return NULL;
	char *p = t;
	for (int i = 0; i < n; i++) {
		memcpy(p, parts[i], lens[i]);
		p += lens[i];
		*p++ = '/';
	}
	p[-1] = '\0';
	return t;
}

/* ---- values ---- */

/* Writes v as JSON into w, numbers with their text from the line.
 * Returns false when it is nested deeper than MM_VALUE_DEPTH. */
static bool write_json(struct jw *w, const struct jv *v, int depth)
{
	if (depth > MM_VALUE_DEPTH)
		return false;
	switch (v->type) {
	case JV_OBJECT:
	case JV_ARRAY:
		if (v->type == JV_OBJECT)
			jw_object_begin(w);
		else
			jw_array_begin(w);
		for (size_t i = 0; i < v->n; i++) {
			if (v->m[i].key)
				jw_key(w, v->m[i].key);
			if (!write_json(w, &v->m[i].v, depth + 1))
				return false;
		}
		if (v->type == JV_OBJECT)
			jw_object_end(w);
		else
			jw_array_end(w);
		return true;
	case JV_STRING:
		jw_stringn(w, v->s, v->n);
		return true;
	case JV_NUMBER:
		jw_raw_value(w, v->s, v->n);
		return true;
	case JV_TRUE:
	case JV_FALSE:
		jw_bool(w, v->type == JV_TRUE);
		return true;
	case JV_NULL:
		jw_null(w);
		return true;
	}
	return false;
}

static char *dup_bytes(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

char *mm_value_payload(const struct jv *v, size_t *len, const char **why)
{
	*why = "out of memory";
	switch (v->type) {
	case JV_NULL:
		*why = "null";
		return NULL;
	case JV_STRING:
	case JV_NUMBER:
		*len = v->n;
		return dup_bytes(v->s, v->n);
	case JV_TRUE:
		*len = 4;
		return dup_bytes("true", 4);
	case JV_FALSE:
		*len = 5;
		return dup_bytes("false", 5);
	case JV_OBJECT:
	case JV_ARRAY: {
		struct jw w;
		jw_init(&w);
		if (!write_json(&w, v, 1)) {
			jw_free(&w);
			*why = "value nested too deeply";
			return NULL;
		}
		return jw_take(&w, len);
	}
	}
	return NULL;
}

/* ---- value messages ---- */

static void problem(struct mm_result *res, const char *param, const char *why)
{
	res->skipped++;
	if (res->nproblems >= MM_MAX_PROBLEMS)
		return;
	struct mm_problem *p = &res->problems[res->nproblems++];
	/* The name came from the input: keep it short and printable. */
	size_t o = 0;
	for (const char *s = param; *s && o + 1 < sizeof p->param; s++)
		p->param[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	p->param[o] = '\0';
	snprintf(p->why, sizeof p->why, "%s", why);
}

bool mm_param_valid(const char *param, const char **why)
{
	if (!topic_level_valid(param, strlen(param), why))
		return false;
	if (strcmp(param, "status") == 0 || strcmp(param, "health") == 0) {
		*why = param[0] == 's' ? "named \"status\", which would overwrite the status topic"
		                       : "named \"health\", which would overwrite the health topic";
		return false;
	}
	return true;
}

static char *json_values_payload(const struct reading *r, const struct jv *entry, const struct jv *value,
                                 size_t *len, const char **why)
{
	struct jw w;
	jw_init(&w);
	jw_object_begin(&w);
	jw_key(&w, "value");
	if (!write_json(&w, value, 2)) {
		jw_free(&w);
		*why = "value nested too deeply";
		return NULL;
	}
	const char *unit = reading_string(entry, "unit");
	if (unit) {
		jw_key(&w, "unit");
		jw_string(&w, unit);
	}
	const char *t = reading_string(entry, "time");
	if (!t)
		t = r->time;
	if (t) {
		jw_key(&w, "time");
		jw_string(&w, t);
	}
	jw_object_end(&w);
	*why = "out of memory";
	return jw_take(&w, len);
}

int mm_build(const struct mm_opts *o, const struct reading *r, const char *line, size_t len, bool retain,
             struct mm_list *out, struct mm_result *res)
{
	memset(res, 0, sizeof *res);
	if (o->mode == MM_JSON_READING) {
		while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
			len--;
		char *topic = mm_topic(o->prefix, r->type, r->device, NULL);
		char *payload = dup_bytes(line, len);
		if (!topic || !payload || strlen(topic) > MM_TOPIC_MAX) {
			free(topic);
			free(payload);
			return -1;
		}
		return list_push(out, topic, payload, len, retain) < 0 ? -1 : 1;
	}
	if (!r->values)
		return 0;
	int added = 0;
	for (size_t i = 0; i < r->values->n; i++) {
		const char *param = r->values->m[i].key;
		const struct jv *entry = &r->values->m[i].v;
		const char *why;
		if (!mm_param_valid(param, &why)) {
			problem(res, param, why);
			continue;
		}
		const struct jv *value = jv_get(entry, "value");
		if (!value) {
			problem(res, param, "no \"value\"");
			continue;
		}
		if (value->type == JV_NULL) {
			res->nulls++;
			continue;
		}
		size_t plen = 0;
		char *payload = o->mode == MM_JSON_VALUES ? json_values_payload(r, entry, value, &plen, &why)
		                                          : mm_value_payload(value, &plen, &why);
		if (!payload) {
			if (strcmp(why, "out of memory") == 0)
				return -1;
			problem(res, param, why);
			continue;
		}
		char *topic = mm_topic(o->prefix, r->type, r->device, param);
		if (!topic) {
			free(payload);
			return -1;
		}
		if (strlen(topic) > MM_TOPIC_MAX) {
			free(topic);
			free(payload);
			problem(res, param, "topic longer than 65535 bytes");
			continue;
		}
		if (list_push(out, topic, payload, plen, retain) < 0)
			return -1;
		added++;
	}
	return added;
}
