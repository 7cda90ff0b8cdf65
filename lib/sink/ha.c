#include "sink/ha.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/text.h"
#include "line/jsonw.h"
#include "sink/ha_classes.h"

/* Home Assistant ids allow [A-Za-z0-9_-]; everything else becomes '_'. */
static void sanitize_id(char *s)
{
	for (; *s; s++) {
		if (!is_id_char(*s))
			*s = '_';
	}
}

/* A parameter name fit for a Jinja string literal and an entity name. */
static bool plain_name(const char *s)
{
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == ':' || c == '.'))
			return false;
	}
	return true;
}

static char *humanize(const char *param)
{
	char *s = strdup(param);
	if (!s)
		return NULL;
	for (char *p = s; *p; p++)
		if (*p == '_')
			*p = ' ';
	if (s[0] >= 'a' && s[0] <= 'z')
		s[0] = (char)(s[0] - 'a' + 'A');
	return s;
}

/* One device per pipeline: identified by what names it (prefix, type,
 * device), never by the meter's serial, which two pipelines may share. */
static void ha_device(struct jw *w, const struct reading *r, const char *node)
{
	const char *serial = r->meter ? reading_string(r->meter, "id") : NULL;
	if (!serial || !*serial)
		serial = r->meter ? reading_string(r->meter, "serial") : NULL;
	jw_key(w, "device");
	jw_object_begin(w);
	jw_key(w, "identifiers");
	jw_array_begin(w);
	char ident[300];
	snprintf(ident, sizeof ident, "meter2mqtt_%s", node);
	jw_string(w, ident);
	jw_array_end(w);
	jw_key(w, "name");
	jw_string(w, r->device);
	const char *model = r->meter ? reading_string(r->meter, "model") : NULL;
	jw_key(w, "model");
	jw_string(w, model && *model ? model : r->type);
	const char *version = r->meter ? reading_string(r->meter, "version") : NULL;
	if (version && *version) {
		jw_key(w, "sw_version");
		jw_string(w, version);
	}
	if (serial && *serial) {
		jw_key(w, "serial_number");
		jw_string(w, serial);
	}
	jw_object_end(w);
}

/* The Jinja expression of the value in the state payload.  With --json the
 * payload is the whole reading, which may lack the value: the template
 * then renders nothing (a number: Home Assistant keeps the last state) or
 * "None" (text: unknown), never an error. */
static void value_expr(const struct mm_opts *o, const char *param, char *out, size_t n)
{
	if (o->mode == MM_RAW)
		snprintf(out, n, "value");
	else if (o->mode == MM_JSON_VALUES)
		snprintf(out, n, "value_json.value");
	else
		snprintf(out, n, "value_json.get('values', {}).get('%s', {}).get('value')", param);
}

static void value_template(const struct mm_opts *o, const struct ha_class *c, const char *param, char *out, size_t n)
{
	char v[200];
	value_expr(o, param, v, sizeof v);
	const char *cut = c->numeric || c->options ? "" : "[:" HA_STATE_MAX_TEXT "]";
	if (o->mode != MM_JSON_READING) {
		if (*cut)
			snprintf(out, n, "{{ (%s ~ '')%s }}", v, cut);
		else if (o->mode == MM_JSON_VALUES)
			snprintf(out, n, "{{ %s }}", v);
		else
			out[0] = '\0';
		return;
	}
	char expr[64];
	snprintf(expr, sizeof expr, *cut ? "(e.value ~ '')%s" : "e.value%s", cut);
	snprintf(out, n,
	         "{%% set e = value_json.get('values', {}).get('%s') %%}"
	         "{{ %s if e is not mapping or 'value' not in e else %s }}",
	         param, c->numeric ? "''" : "'None'", expr);
}

static void key_string(struct jw *w, const char *key, const char *value)
{
	jw_key(w, key);
	jw_string(w, value);
}

/* The publisher's status and the device's: the entity is available only
 * while both say online. */
static void availability_both(struct jw *w, const char *publisher, const struct mm_opts *o, const struct reading *r)
{
	char *device = mm_topic(o->prefix, r->type, r->device, "status");
	jw_key(w, "availability");
	jw_array_begin(w);
	const char *topics[] = { publisher, device };
	for (size_t i = 0; i < 2; i++) {
		if (!topics[i])
			continue;
		jw_object_begin(w);
		key_string(w, "topic", topics[i]);
		jw_object_end(w);
	}
	jw_array_end(w);
	key_string(w, "availability_mode", "all");
	free(device);
}

int ha_config(const struct mm_opts *o, const struct ha_settings *s, const struct reading *r, const char *param,
              struct mm_msg *out)
{
	memset(out, 0, sizeof *out);
	const struct jv *entry = jv_get(r->values, param);
	const struct jv *value = jv_get(entry, "value");
	if (!value || value->type == JV_NULL || value->type == JV_ARRAY || value->type == JV_OBJECT)
		return 0;
	if (!mm_param_valid(param, &(const char *){ NULL }) || !plain_name(param))
		return 0;

	/* node: where the reading's topics live; object: the parameter. */
	char node[256], object[128], uid[400];
	snprintf(node, sizeof node, "%s_%s_%s", o->prefix, r->type, r->device);
	sanitize_id(node);
	snprintf(object, sizeof object, "%s", param);
	sanitize_id(object);
	snprintf(uid, sizeof uid, "%s_%s", node, object);

	struct ha_class c;
	ha_classify(param, reading_string(entry, "unit"), value->type == JV_NUMBER, &c);
	char *name = humanize(param);
	char *state = mm_topic(o->prefix, r->type, r->device, o->mode == MM_JSON_READING ? NULL : param);
	if (!name || !state) {
		free(name);
		free(state);
		return -1;
	}

	struct jw w;
	jw_init(&w);
	jw_object_begin(&w);
	key_string(&w, "name", name);
	key_string(&w, "unique_id", uid);
	key_string(&w, "state_topic", state);
	char tmpl[600];
	value_template(o, &c, param, tmpl, sizeof tmpl);
	if (tmpl[0])
		key_string(&w, "value_template", tmpl);
	if (c.long_text) {
		/* The whole text, as an attribute of the entity. */
		char v[200];
		value_expr(o, param, v, sizeof v);
		snprintf(tmpl, sizeof tmpl, "{{ {'text': %s} | tojson }}", v);
		key_string(&w, "json_attributes_topic", state);
		key_string(&w, "json_attributes_template", tmpl);
	}
	if (s->status_topic && s->device_status) {
		availability_both(&w, s->status_topic, o, r);
	} else if (s->status_topic) {
		key_string(&w, "availability_topic", s->status_topic);
	}
	if (s->expire_after > 0) {
		jw_key(&w, "expire_after");
		jw_int(&w, s->expire_after);
	}
	if (c.unit)
		key_string(&w, "unit_of_measurement", c.unit);
	if (c.device_class)
		key_string(&w, "device_class", c.device_class);
	if (c.state_class)
		key_string(&w, "state_class", c.state_class);
	if (c.options) {
		jw_key(&w, "options");
		jw_array_begin(&w);
		for (const char *const *opt = c.options; *opt; opt++)
			jw_string(&w, *opt);
		jw_array_end(&w);
	}
	if (c.diagnostic)
		key_string(&w, "entity_category", "diagnostic");
	ha_device(&w, r, node);
	jw_key(&w, "origin");
	jw_object_begin(&w);
	key_string(&w, "name", "meter2mqtt");
	if (s->version)
		key_string(&w, "sw", s->version);
	jw_object_end(&w);
	jw_object_end(&w);
	free(name);
	free(state);

	size_t tn = strlen(o->ha_prefix) + strlen(node) + strlen(object) + 32;
	out->topic = malloc(tn);
	out->payload = jw_take(&w, &out->payload_len);
	if (!out->topic || !out->payload) {
		mm_msg_free(out);
		return -1;
	}
	snprintf(out->topic, tn, "%s/sensor/%s/%s/config", o->ha_prefix, node, object);
	out->retain = true;
	return 1;
}

/* ---- the registry ---- */

/* An entity already announced, and its config. */
struct ha_entity {
	char *key; /* type NUL device NUL param */
	size_t key_len;
	struct mm_msg config;
};

static struct ha_entity *ha_find(const struct ha_registry *h, const char *key, size_t key_len)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].key_len == key_len && memcmp(h->v[i].key, key, key_len) == 0)
			return &h->v[i];
	return NULL;
}

/* Keeps config (taken over, also on failure).  Returns false when memory
 * ran out. */
static bool ha_keep(struct ha_registry *h, const char *key, size_t key_len, struct mm_msg *config)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct ha_entity *v = realloc(h->v, cap * sizeof *v);
		if (!v) {
			mm_msg_free(config);
			return false;
		}
		h->v = v;
		h->cap = cap;
	}
	struct ha_entity *e = &h->v[h->n];
	e->key = malloc(key_len);
	if (!e->key) {
		mm_msg_free(config);
		return false;
	}
	memcpy(e->key, key, key_len);
	e->key_len = key_len;
	e->config = *config;
	h->n++;
	return true;
}

void ha_announce(struct ha_registry *h, const struct mm_opts *o, const struct ha_settings *s,
                 const struct reading *r, ha_emit_fn *emit, void *arg)
{
	if (!r->values)
		return;
	for (size_t i = 0; i < r->values->n; i++) {
		const char *param = r->values->m[i].key;
		char key[512];
		int kn = snprintf(key, sizeof key, "%s%c%s%c%s", r->type, 0, r->device, 0, param);
		if (kn < 0 || (size_t)kn >= sizeof key || ha_find(h, key, (size_t)kn))
			continue;
		if (h->n >= HA_MAX) {
			if (!h->full_warned)
				warnx("more than %d Home Assistant entities: no more discovery", HA_MAX);
			h->full_warned = true;
			return;
		}
		struct mm_msg config;
		if (ha_config(o, s, r, param, &config) <= 0)
			continue;
		if (!ha_keep(h, key, (size_t)kn, &config))
			return;
		emit(&h->v[h->n - 1].config, arg);
	}
}

void ha_resend_all(const struct ha_registry *h, ha_emit_fn *emit, void *arg)
{
	for (size_t i = 0; i < h->n; i++)
		emit(&h->v[i].config, arg);
}

void ha_registry_free(struct ha_registry *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].key);
		mm_msg_free(&h->v[i].config);
	}
	free(h->v);
	memset(h, 0, sizeof *h);
}
