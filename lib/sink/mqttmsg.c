#include "sink/mqttmsg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Writes "%.*e" text (d.ddde+XX) as a plain decimal. */
static int plain_decimal(const char *e_text, char *out, size_t outlen)
{
	char digits[24] = { '0' };
	int nd = 0;
	const char *p = e_text;
	bool neg = *p == '-';
	if (neg)
		p++;
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && nd < (int)sizeof digits)
			digits[nd++] = *p;
	int exp10 = *p == 'e' ? atoi(p + 1) : 0;
	if (nd == 0)
		nd = 1; /* no digit at all cannot come from %e; "0" then */
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	int point = exp10 + 1; /* digits before the decimal point */
	if (point > 25 || point < -25)
		return snprintf(out, outlen, "%s", e_text); /* valid JSON as it is */
	char buf[80];
	size_t o = 0;
	if (neg)
		buf[o++] = '-';
	if (point <= 0) {
		buf[o++] = '0';
		buf[o++] = '.';
		for (int i = 0; i < -point; i++)
			buf[o++] = '0';
		for (int i = 0; i < nd; i++)
			buf[o++] = digits[i];
	} else if (point >= nd) {
		for (int i = 0; i < nd; i++)
			buf[o++] = digits[i];
		for (int i = nd; i < point; i++)
			buf[o++] = '0';
		buf[o++] = '.';
		buf[o++] = '0';
	} else {
		for (int i = 0; i < point; i++)
			buf[o++] = digits[i];
		buf[o++] = '.';
		for (int i = point; i < nd; i++)
			buf[o++] = digits[i];
	}
	if (o >= outlen)
		o = outlen - 1;
	memcpy(out, buf, o);
	out[o] = '\0';
	return (int)o;
}

/* Writes v (>= 0) in decimal at the end of buf; returns where it starts. */
static char *utoa_end(unsigned long long v, char *end)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static int integer_text(long long v, char *out, size_t outlen)
{
	char buf[24];
	char *p = utoa_end(v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, buf + sizeof buf);
	if (v < 0)
		*--p = '-';
	size_t n = (size_t)(buf + sizeof buf - p);
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return (int)n;
}

/* The common case without printf: d is c / 10^k for an integer c of at
 * most 15 digits and the fewest k.  c / 10^k is one correctly rounded
 * division of two exact doubles, so it equals d exactly when the text
 * "c with k decimals" reads back as d (strtod rounds correctly too); the
 * fewest decimals is the shortest such text, and with at most 15 digits it
 * is the one the slow path below finds.  Returns -1 when d needs more. */
static int short_decimal(double d, char *out, size_t outlen)
{
	static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
	                                1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
	bool neg = signbit(d);
	double a = neg ? -d : d;
	if (!(a < 1e15))
		return -1;
	for (int k = 0; k < 16; k++) {
		double m = a * pow10[k];
		if (m >= 1e15)
			return -1;
		double c = nearbyint(m);
		if (c / pow10[k] != a)
			continue;
		char buf[40];
		char *end = buf + sizeof buf, *p = end;
		unsigned long long ci = (unsigned long long)c;
		if (k == 0) {
			*--p = '0';
			*--p = '.';
			p = utoa_end(ci, p);
		} else {
			for (int i = 0; i < k; i++) {
				*--p = (char)('0' + ci % 10);
				ci /= 10;
			}
			*--p = '.';
			p = utoa_end(ci, p);
		}
		if (neg)
			*--p = '-';
		size_t n = (size_t)(end - p);
		if (n >= outlen)
			return -1;
		memcpy(out, p, n);
		out[n] = '\0';
		return (int)n;
	}
	return -1;
}

int mm_number_text(const json_t *num, char *out, size_t outlen)
{
	if (json_is_integer(num))
		return integer_text(json_integer_value(num), out, outlen);
	double d = json_real_value(num);
	int n = short_decimal(d, out, outlen);
	if (n >= 0)
		return n;
	/* The shortest text that reads back as the same double; the reader's
	 * own text is one of those that do, and no shorter one exists when it
	 * has at most 15 significant digits (DBL_DIG). */
	char e_text[40];
	/* 15 digits first: when they read back, the trailing zeros that
	 * plain_decimal drops leave that shortest text (15-digit decimals
	 * are further apart than doubles), in one try for every meter. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(e_text, sizeof e_text, "%.*e", prec - 1, d);
		if (strtod(e_text, NULL) == d)
			break;
	}
	return plain_decimal(e_text, out, outlen);
}

/* Writes v as JSON into w, numbers as mm_number_text.  Returns false when
 * it is nested deeper than MM_VALUE_DEPTH. */
static bool write_json(struct jw *w, const json_t *v, int depth)
{
	if (depth > MM_VALUE_DEPTH)
		return false;
	char num[64];
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *member;
		jw_object_begin(w);
		json_object_foreach((json_t *)v, key, member) {
			jw_key(w, key);
			if (!write_json(w, member, depth + 1))
				return false;
		}
		jw_object_end(w);
		return true;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *item;
		jw_array_begin(w);
		json_array_foreach(v, i, item) {
			if (!write_json(w, item, depth + 1))
				return false;
		}
		jw_array_end(w);
		return true;
	}
	case JSON_STRING:
		jw_stringn(w, json_string_value(v), json_string_length(v));
		return true;
	case JSON_INTEGER:
	case JSON_REAL: {
		int n = mm_number_text(v, num, sizeof num);
		jw_raw_value(w, num, (size_t)n);
		return true;
	}
	case JSON_TRUE:
		jw_bool(w, true);
		return true;
	case JSON_FALSE:
		jw_bool(w, false);
		return true;
	case JSON_NULL:
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

char *mm_value_payload(const json_t *v, size_t *len, const char **why)
{
	char num[64];
	*why = "out of memory";
	switch (json_typeof(v)) {
	case JSON_NULL:
		*why = "null";
		return NULL;
	case JSON_STRING:
		*len = json_string_length(v);
		return dup_bytes(json_string_value(v), *len);
	case JSON_INTEGER:
	case JSON_REAL:
		*len = (size_t)mm_number_text(v, num, sizeof num);
		return dup_bytes(num, *len);
	case JSON_TRUE:
		*len = 4;
		return dup_bytes("true", 4);
	case JSON_FALSE:
		*len = 5;
		return dup_bytes("false", 5);
	case JSON_OBJECT:
	case JSON_ARRAY: {
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

/* ---- parsing ---- */

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
	if (strcmp(param, "status") == 0) {
		*why = "named \"status\", which would overwrite the status topic";
		return false;
	}
	return true;
}

static char *json_values_payload(const struct reading *r, const json_t *entry, const json_t *value, size_t *len,
                                 const char **why)
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
	const char *param;
	json_t *entry;
	json_object_foreach(r->values, param, entry) {
		const char *why;
		if (!mm_param_valid(param, &why)) {
			problem(res, param, why);
			continue;
		}
		const json_t *value = json_is_object(entry) ? json_object_get(entry, "value") : NULL;
		if (!value) {
			problem(res, param, "no \"value\"");
			continue;
		}
		if (json_is_null(value)) {
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
