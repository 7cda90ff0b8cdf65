#include "sink/flatread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void flat_init(struct flat_reading *f) { memset(f, 0, sizeof *f); }

void flat_free(struct flat_reading *f)
{
	free(f->v);
	flat_init(f);
}

/* A string member without a NUL inside (every C consumer would cut it). */
static const char *string_member(const struct jv *obj, const char *key)
{
	const struct jv *v = jv_get(obj, key);
	if (!v || v->type != JV_STRING || strlen(v->s) != v->n)
		return NULL;
	return v->s;
}

static struct flat_value *append(struct flat_reading *f)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 32;
		struct flat_value *v = realloc(f->v, cap * sizeof *v);
		if (!v)
			return NULL;
		f->v = v;
		f->cap = cap;
	}
	struct flat_value *fv = &f->v[f->n++];
	memset(fv, 0, sizeof *fv);
	return fv;
}

/* An integer's text that a signed 64-bit field holds. */
static bool fits_int64(const char *s)
{
	errno = 0;
	char *end;
	(void)strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static void classify(struct flat_value *fv, const struct jv *value)
{
	fv->kind = FV_OTHER;
	if (!value)
		return;
	switch (value->type) {
	case JV_NUMBER:
		if (value->n >= sizeof fv->text)
			return;
		memcpy(fv->text, value->s, value->n);
		fv->text[value->n] = '\0';
		fv->kind = strpbrk(fv->text, ".eE") || !fits_int64(fv->text) ? FV_DECIMAL : FV_INTEGER;
		return;
	case JV_TRUE:
	case JV_FALSE:
		fv->kind = FV_BOOL;
		strcpy(fv->text, value->type == JV_TRUE ? "true" : "false");
		return;
	case JV_STRING:
		if (strlen(value->s) == value->n) {
			fv->kind = FV_STRING;
			fv->str = value->s;
		}
		return;
	default:
		return;
	}
}

int flat_from_reading(struct flat_reading *f, const struct reading *r)
{
	f->n = 0;
	f->skipped = 0;
	f->time = r->time;
	f->type = r->type;
	f->device = r->device;
	f->meter_id = r->meter ? string_member(r->meter, "id") : NULL;
	if (!f->meter_id && r->meter)
		f->meter_id = string_member(r->meter, "serial");
	if (!r->values)
		return 0;
	for (size_t i = 0; i < r->values->n; i++) {
		const struct jmember *m = &r->values->m[i];
		if (!*m->key || m->v.type != JV_OBJECT) {
			f->skipped++;
			continue;
		}
		struct flat_value *fv = append(f);
		if (!fv)
			return -1;
		fv->name = m->key;
		classify(fv, jv_get(&m->v, "value"));
		fv->unit = string_member(&m->v, "unit");
		fv->time = string_member(&m->v, "time");
	}
	return 0;
}
