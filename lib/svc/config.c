/* config.c: config.yaml, as meter2mqtt(5) describes it. */
#include "svc/config.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/text.h"
#include "svc/yamlwalk.h"

/* ---- config.yaml ---- */

static const char *const top_keys[] = { "mqtt", "logging", "homeassistant", "types_dir", "types", "mqttpub",
	                                 "state_dir" };
static const char *const mqtt_keys[] = { "host",      "port",      "topic_prefix", "username", "password",
                                         "password_file", "client_id", "qos",      "retain",   "keepalive",
                                         "protocol",  "tls" };
static const char *const tls_keys[] = { "ca_file", "ca_path", "cert_file", "key_file", "version", "insecure" };
static const char *const logging_keys[] = { "level", "dir" };
static const char *const ha_keys[] = { "enabled", "discovery_prefix" };
#define N(a) (sizeof(a) / sizeof *(a))

static void tls_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	(void)k;
	struct mqtt_conf *m = ctx;
	if (!strcmp(key, "ca_file"))
		yw_set_str(w, v, key, &m->ca_file);
	else if (!strcmp(key, "ca_path"))
		yw_set_str(w, v, key, &m->ca_path);
	else if (!strcmp(key, "cert_file"))
		yw_set_str(w, v, key, &m->cert_file);
	else if (!strcmp(key, "key_file"))
		yw_set_str(w, v, key, &m->key_file);
	else if (!strcmp(key, "version"))
		yw_set_str(w, v, key, &m->tls_version);
	else
		yw_set_bool(w, v, key, &m->tls_insecure);
}

static void mqtt_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	(void)k;
	struct mqtt_conf *m = ctx;
	if (!strcmp(key, "tls")) {
		/* tls: true (the system's CAs) or a mapping of files. */
		if (v->type == YAML_MAPPING_NODE) {
			m->tls = true;
			yw_each_pair(w, v, "'mqtt: tls'", tls_keys, N(tls_keys), tls_pair, m);
		} else {
			yw_set_bool(w, v, "tls", &m->tls);
		}
	} else if (!strcmp(key, "port")) {
		yw_set_long(w, v, key, 1, 65535, &m->port);
	} else if (!strcmp(key, "qos")) {
		yw_set_long(w, v, key, 0, 2, &m->qos);
	} else if (!strcmp(key, "keepalive")) {
		yw_set_long(w, v, key, 5, 65535, &m->keepalive);
	} else if (!strcmp(key, "retain")) {
		bool b = true;
		yw_set_bool(w, v, key, &b);
		m->retain = b;
	} else if (!strcmp(key, "protocol")) {
		const char *s = yw_scalar(w, v, key);
		if (s && strcmp(s, "311") && strcmp(s, "5"))
			yw_error(w, v, "'protocol' must be 311 or 5, not '%s'", s);
		else if (s)
			yw_set_str(w, v, key, &m->protocol);
	} else {
		char **dst = !strcmp(key, "host")           ? &m->host
		             : !strcmp(key, "topic_prefix") ? &m->topic_prefix
		             : !strcmp(key, "username")     ? &m->username
		             : !strcmp(key, "password")     ? &m->password
		             : !strcmp(key, "password_file") ? &m->password_file
		                                             : &m->client_id;
		yw_set_str(w, v, key, dst);
	}
}

static void logging_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	(void)k;
	struct base_conf *c = ctx;
	if (!strcmp(key, "dir")) {
		yw_set_str(w, v, key, &c->log_dir);
		return;
	}
	const char *s = yw_scalar(w, v, key);
	if (s && log_level_parse(s) < 0)
		yw_error(w, v, "'level' must be debug, info, warning, error or critical (any case), not '%s'", s);
	else if (s)
		yw_set_str(w, v, key, &c->log_level);
}

static void ha_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	(void)k;
	struct base_conf *c = ctx;
	if (!strcmp(key, "enabled"))
		yw_set_bool(w, v, key, &c->ha_enabled);
	else
		yw_set_str(w, v, key, &c->ha_prefix);
}

static bool type_name_valid(const char *s) { return device_id_valid(s); }

static void types_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	(void)k;
	struct base_conf *c = ctx;
	if (!type_name_valid(key)) {
		yw_error(w, v, "type name '%s' must match [A-Za-z0-9_-]{1,64}", key);
		return;
	}
	const char *prog = yw_scalar(w, v, key);
	if (!prog)
		return;
	struct type_program *t = realloc(c->types, (c->n_types + 1) * sizeof *t);
	if (!t)
		return;
	c->types = t;
	t[c->n_types].name = strdup(key);
	t[c->n_types].program = strdup(prog);
	c->n_types++;
}

static void add_types_dir(struct base_conf *c, const char *dir)
{
	char **t = realloc(c->types_dirs, (c->n_types_dirs + 1) * sizeof *t);
	if (!t)
		return;
	c->types_dirs = t;
	t[c->n_types_dirs++] = strdup(dir);
}

static void top_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	(void)k;
	struct base_conf *c = ctx;
	if (!strcmp(key, "mqtt")) {
		yw_each_pair(w, v, "'mqtt'", mqtt_keys, N(mqtt_keys), mqtt_pair, &c->mqtt);
	} else if (!strcmp(key, "logging")) {
		yw_each_pair(w, v, "'logging'", logging_keys, N(logging_keys), logging_pair, c);
	} else if (!strcmp(key, "homeassistant")) {
		yw_each_pair(w, v, "'homeassistant'", ha_keys, N(ha_keys), ha_pair, c);
	} else if (!strcmp(key, "types")) {
		yw_each_pair(w, v, "'types'", NULL, 0, types_pair, c);
	} else if (!strcmp(key, "mqttpub")) {
		yw_set_str(w, v, key, &c->mqttpub);
	} else if (!strcmp(key, "state_dir")) {
		yw_set_str(w, v, key, &c->state_dir);
	} else if (v->type == YAML_SEQUENCE_NODE) { /* types_dir: [a, b] */
		for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
			yaml_node_t *item = yw_node(w, *i);
			const char *s = item ? yw_scalar(w, item, key) : NULL;
			if (s)
				add_types_dir(c, s);
		}
	} else {
		const char *s = yw_scalar(w, v, key);
		if (s)
			add_types_dir(c, s);
	}
}

int config_load_base(const char *file, const char *buf, size_t len, struct base_conf *out, struct cfg_diag *d)
{
	memset(out, 0, sizeof *out);
	out->mqtt.qos = -1;
	out->mqtt.retain = -1;
	struct yw w = { .file = file, .d = d };
	bool syntax_error;
	yaml_node_t *root = yw_load(&w, buf, len, &syntax_error);
	if (root && !yw_is_null(root))
		yw_each_pair(&w, root, "config.yaml", top_keys, N(top_keys), top_pair, out);
	if (!syntax_error)
		yaml_document_delete(&w.doc);
	if (out->mqtt.password && out->mqtt.password_file) {
		diag_add(d, file, 1, 1, "'mqtt' has both 'password' and 'password_file': keep one");
		w.errors++;
	}
	return w.errors ? -1 : 0;
}

void base_conf_free(struct base_conf *c)
{
	struct mqtt_conf *m = &c->mqtt;
	char *strs[] = { m->host,    m->topic_prefix, m->username,  m->password, m->password_file,
		         m->client_id, m->protocol,   m->ca_file,   m->ca_path,  m->cert_file,
		         m->key_file,  m->tls_version, c->log_level, c->log_dir,  c->ha_prefix, c->mqttpub,
		         c->state_dir };
	for (size_t i = 0; i < N(strs); i++)
		free(strs[i]);
	for (size_t i = 0; i < c->n_types_dirs; i++)
		free(c->types_dirs[i]);
	free(c->types_dirs);
	for (size_t i = 0; i < c->n_types; i++) {
		free(c->types[i].name);
		free(c->types[i].program);
	}
	free(c->types);
	memset(c, 0, sizeof *c);
}
