#include "sink/ha.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "line/jsonw.h"

static bool contains(const char *s, const char *word) { return s && strstr(s, word) != NULL; }

static bool is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

void ha_classify(const char *unit, const char *param, bool numeric, struct ha_class *c)
{
	static const char *const energy[] = { "Wh", "kWh", "MWh", "GWh", "MJ", "GJ", NULL };
	static const char *const power[] = { "W", "kW", "MW", NULL };
	static const char *const reactive[] = { "var", "kvar", NULL };
	static const char *const counters[] = { "varh", "kvarh", "Mvarh", "VAh", "kVAh", "kJ", "J", NULL };
	memset(c, 0, sizeof *c);
	if (!numeric)
		return; /* text: a unit would make Home Assistant expect a number */
	c->state_class = "measurement";
	if (!unit || !*unit) {
		if (contains(param, "power_factor"))
			c->device_class = "power_factor";
		return;
	}
	c->unit = unit;
	if (is_one_of(unit, energy)) {
		c->device_class = "energy";
		c->state_class = "total_increasing";
	} else if (is_one_of(unit, power)) {
		c->device_class = "power";
	} else if (!strcmp(unit, "m3") || !strcmp(unit, "m³") || !strcmp(unit, "l") || !strcmp(unit, "L")) {
		c->unit = unit[0] == 'm' ? "m³" : "L";
		/* The Energy dashboard takes gas and water only with these
		 * classes; a volume it cannot place stays a plain volume. */
		c->device_class = contains(param, "gas") ? "gas" : contains(param, "water") ? "water" : "volume";
		c->state_class = "total_increasing";
	} else if (!strcmp(unit, "m3/h") || !strcmp(unit, "m³/h")) {
		c->unit = "m³/h";
		c->device_class = "volume_flow_rate";
	} else if (!strcmp(unit, "V")) {
		c->device_class = "voltage";
	} else if (!strcmp(unit, "A")) {
		c->device_class = "current";
	} else if (!strcmp(unit, "C") || !strcmp(unit, "°C")) {
		c->unit = "°C";
		c->device_class = "temperature";
	} else if (!strcmp(unit, "Hz")) {
		c->device_class = "frequency";
	} else if (is_one_of(unit, reactive)) {
		c->device_class = "reactive_power";
	} else if (!strcmp(unit, "VA")) {
		c->device_class = "apparent_power";
	} else if (!strcmp(unit, "bar")) {
		c->device_class = "pressure";
	} else if (!strcmp(unit, "h")) {
		c->device_class = "duration";
		c->state_class = "total_increasing";
	} else if (is_one_of(unit, counters)) {
		c->state_class = "total_increasing";
	}
	/* Anything else ("K" for a temperature difference, which Home
	 * Assistant would convert as if absolute): the unit, no class. */
}

/* Home Assistant ids allow [A-Za-z0-9_-]; everything else becomes '_'. */
static void sanitize_id(char *s)
{
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
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

static void ha_device(struct jw *w, const struct reading *r, const char *node)
{
	const char *id = r->meter ? reading_string(r->meter, "id") : NULL;
	if (!id || !*id)
		id = r->meter ? reading_string(r->meter, "serial") : NULL;
	jw_key(w, "device");
	jw_object_begin(w);
	jw_key(w, "identifiers");
	jw_array_begin(w);
	char ident[300];
	snprintf(ident, sizeof ident, "meter2mqtt_%s", id && *id ? id : node);
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
	if (id && *id) {
		jw_key(w, "serial_number");
		jw_string(w, id);
	}
	jw_object_end(w);
}

int ha_config(const struct mm_opts *o, const struct reading *r, const char *param, const char *status_topic,
              const char *version, struct mm_msg *out)
{
	memset(out, 0, sizeof *out);
	const json_t *entry = r->values ? json_object_get(r->values, param) : NULL;
	const json_t *value = json_is_object(entry) ? json_object_get(entry, "value") : NULL;
	if (!value || json_is_null(value) || json_is_array(value) || json_is_object(value))
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
	ha_classify(reading_string(entry, "unit"), param, json_is_number(value), &c);
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
	jw_key(&w, "name");
	jw_string(&w, name);
	jw_key(&w, "unique_id");
	jw_string(&w, uid);
	jw_key(&w, "state_topic");
	jw_string(&w, state);
	if (o->mode != MM_RAW) {
		char tmpl[200];
		if (o->mode == MM_JSON_VALUES)
			snprintf(tmpl, sizeof tmpl, "{{ value_json.value }}");
		else
			snprintf(tmpl, sizeof tmpl, "{{ value_json['values']['%s']['value'] }}", param);
		jw_key(&w, "value_template");
		jw_string(&w, tmpl);
	}
	if (status_topic) {
		jw_key(&w, "availability_topic");
		jw_string(&w, status_topic);
	}
	if (c.unit) {
		jw_key(&w, "unit_of_measurement");
		jw_string(&w, c.unit);
	}
	if (c.device_class) {
		jw_key(&w, "device_class");
		jw_string(&w, c.device_class);
	}
	if (c.state_class) {
		jw_key(&w, "state_class");
		jw_string(&w, c.state_class);
	}
	ha_device(&w, r, node);
	jw_key(&w, "origin");
	jw_object_begin(&w);
	jw_key(&w, "name");
	jw_string(&w, "meter2mqtt");
	if (version) {
		jw_key(&w, "sw");
		jw_string(&w, version);
	}
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

void ha_announce(struct ha_registry *h, const struct mm_opts *o, const struct reading *r, const char *own_type,
                 const char *own_device, const char *status_topic, const char *version, ha_emit_fn *emit,
                 void *arg)
{
	if (!r->values)
		return;
	bool own = strcmp(r->type, own_type) == 0 && strcmp(r->device, own_device) == 0;
	const char *param;
	json_t *entry;
	json_object_foreach(r->values, param, entry) {
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
		if (ha_config(o, r, param, own ? status_topic : NULL, version, &config) <= 0)
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
