#include "sink/flatread.h"
#include "sink/mqttmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void flat_init(struct flat_reading *f) { memset(f, 0, sizeof *f); }

void flat_free(struct flat_reading *f)
{
	free(f->v);
	flat_init(f);
}

static const char *string_member(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	/* A string holding a NUL would be cut short by every C consumer. */
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
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

static void classify(struct flat_value *fv, const json_t *value)
{
	if (json_is_integer(value)) {
		fv->kind = FV_INTEGER;
		snprintf(fv->text, sizeof fv->text, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
	} else if (json_is_real(value)) {
		fv->kind = mm_number_text(value, fv->text, sizeof fv->text) > 0 ? FV_DECIMAL : FV_OTHER;
	} else if (json_is_boolean(value)) {
		fv->kind = FV_BOOL;
		snprintf(fv->text, sizeof fv->text, "%s", json_is_true(value) ? "true" : "false");
	} else if (json_is_string(value) && strlen(json_string_value(value)) == json_string_length(value)) {
		fv->kind = FV_STRING;
		fv->str = json_string_value(value);
	} else {
		fv->kind = FV_OTHER;
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
	for (void *it = json_object_iter(r->values); it; it = json_object_iter_next(r->values, it)) {
		const char *name = json_object_iter_key(it);
		const json_t *entry = json_object_iter_value(it);
		if (strlen(name) != json_object_iter_key_len(it) || !*name || !json_is_object(entry)) {
			f->skipped++;
			continue;
		}
		struct flat_value *fv = append(f);
		if (!fv)
			return -1;
		fv->name = name;
		classify(fv, json_object_get(entry, "value"));
		fv->unit = string_member(entry, "unit");
		fv->time = string_member(entry, "time");
	}
	return 0;
}
