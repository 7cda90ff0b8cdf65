/* config.c: config.yaml, as meter2mqtt(5) describes it. */
#include "svc/config.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/text.h"
#include "svc/yamlwalk.h"

/* ---- config.yaml ---- */

static const char *const top_keys[] = { "mqtt", "logging", "homeassistant", "types_dir", "types", "mqttpub",
	                                 "state_dir", "influxdb", "http", "publisher", "readers" };
static const char *const influx_keys[] = { "url",    "database", "username", "password",    "password_file",
	                                    "org",    "bucket",   "token",    "token_file",  "measurement",
	                                    "batch_size", "batch_time", "sessions" };
static const char *const http_keys[] = { "listen", "stale", "refresh" };
static const char *const mqtt_keys[] = { "host",      "port",      "topic_prefix", "username", "password",
                                         "password_file", "client_id", "qos",      "retain",   "keepalive",
                                         "protocol",  "max_inflight", "tls" };
static const char *const tls_keys[] = { "ca_file", "ca_path", "cert_file", "key_file", "version", "insecure" };
static const char *const logging_keys[] = { "level", "dir" };
static const char *const ha_keys[] = { "enabled", "discovery_prefix" };
#define N(a) (sizeof(a) / sizeof *(a))

/* A setting by its mqttpub option: the same parser, so the same verdict.
 * The option's name that begins the reason ("--port must be ...") gives
 * way to the key's. */
static void mqtt_set(struct yw *w, const yaml_node_t *v, const char *key, struct mqtt_conf *m, int option,
                     const char *text)
{
	if (m->nstrs == N(m->strs))
		return; /* each key once: never reached */
	char *copy = text ? strdup(text) : NULL;
	if (text && !copy)
		return;
	if (copy)
		m->strs[m->nstrs++] = copy;
	char why[256];
	if (mqtt_settings_option(&m->s, option, copy, why, sizeof why) < 0) {
		yw_error(w, v, "'%s'%s", key, why + strcspn(why, " "));
	}
}

/* A true boolean key is a flag option; false leaves the default. */
static void mqtt_flag(struct yw *w, const yaml_node_t *v, const char *key, struct mqtt_conf *m, int option)
{
	bool b = false;
	yw_set_bool(w, v, key, &b);
	if (b)
		mqtt_set(w, v, key, m, option, NULL);
}

static const struct {
	const char *key;
	int option;
} mqtt_options[] = {
	{ "host", MQTT_OPT_HOST },         { "port", MQTT_OPT_PORT },
	{ "username", MQTT_OPT_USERNAME }, { "password_file", MQTT_OPT_PASSWORD_FILE },
	{ "client_id", MQTT_OPT_CLIENT_ID }, { "qos", MQTT_OPT_QOS },
	{ "keepalive", MQTT_OPT_KEEPALIVE }, { "protocol", MQTT_OPT_PROTOCOL },
	{ "max_inflight", MQTT_OPT_MAX_INFLIGHT },
	{ "ca_file", MQTT_OPT_CAFILE },    { "ca_path", MQTT_OPT_CAPATH },
	{ "cert_file", MQTT_OPT_CERT },    { "key_file", MQTT_OPT_KEY },
	{ "version", MQTT_OPT_TLS_VERSION },
};

static void mqtt_text_pair(struct yw *w, const yaml_node_t *v, const char *key, struct mqtt_conf *m)
{
	for (size_t i = 0; i < N(mqtt_options); i++)
		if (!strcmp(key, mqtt_options[i].key)) {
			const char *text = yw_scalar(w, v, key);
			if (text)
				mqtt_set(w, v, key, m, mqtt_options[i].option, text);
			return;
		}
}

static void tls_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	(void)k;
	if (!strcmp(key, "insecure"))
		mqtt_flag(w, v, key, ctx, MQTT_OPT_INSECURE);
	else
		mqtt_text_pair(w, v, key, ctx);
}

static void mqtt_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	(void)k;
	struct mqtt_conf *m = ctx;
	if (!strcmp(key, "tls")) {
		/* tls: true (the system's CAs) or a mapping of files. */
		if (v->type == YAML_MAPPING_NODE) {
			mqtt_set(w, v, key, m, MQTT_OPT_TLS, NULL);
			yw_each_pair(w, v, "'mqtt: tls'", tls_keys, N(tls_keys), tls_pair, m);
		} else {
			mqtt_flag(w, v, key, m, MQTT_OPT_TLS);
		}
	} else if (!strcmp(key, "retain")) {
		bool b = true;
		yw_set_bool(w, v, key, &b);
		if (!b)
			mqtt_set(w, v, key, m, MQTT_OPT_NO_RETAIN, NULL);
	} else if (!strcmp(key, "topic_prefix")) {
		yw_set_str(w, v, key, &m->topic_prefix);
	} else if (!strcmp(key, "password")) {
		yw_set_str(w, v, key, &m->password);
	} else {
		mqtt_text_pair(w, v, key, m);
	}
}

static void influx_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	(void)k;
	struct influx_conf *c = ctx;
	if (!strcmp(key, "batch_size")) {
		yw_set_long(w, v, key, 1, 1000000, &c->batch_size);
		return;
	}
	if (!strcmp(key, "batch_time")) {
		yw_set_long(w, v, key, 0, 3600000, &c->batch_time_ms);
		return;
	}
	if (!strcmp(key, "sessions")) {
		yw_set_long(w, v, key, 1, 8, &c->sessions);
		return;
	}
	char **dst = !strcmp(key, "url")             ? &c->url
	             : !strcmp(key, "database")      ? &c->database
	             : !strcmp(key, "username")      ? &c->username
	             : !strcmp(key, "password")      ? &c->password
	             : !strcmp(key, "password_file") ? &c->password_file
	             : !strcmp(key, "org")           ? &c->org
	             : !strcmp(key, "bucket")        ? &c->bucket
	             : !strcmp(key, "token")         ? &c->token
	             : !strcmp(key, "token_file")    ? &c->token_file
	                                             : &c->measurement;
	yw_set_str(w, v, key, dst);
}

static void http_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	(void)k;
	struct http_conf *c = ctx;
	if (!strcmp(key, "listen"))
		yw_set_str(w, v, key, &c->listen);
	else if (!strcmp(key, "stale"))
		yw_set_long(w, v, key, 1, 86400 * 366, &c->stale_s);
	else
		yw_set_long(w, v, key, 1, 86400, &c->refresh_s);
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
	} else if (!strcmp(key, "publisher")) {
		const char *s = yw_scalar(w, v, key);
		if (s && strcmp(s, "per_device") && strcmp(s, "shared"))
			yw_error(w, v, "'publisher' must be per_device (one mqttpub a device) or shared (one for the "
			         "gateway), not '%s'", s);
		else if (s)
			c->shared_publisher = !strcmp(s, "shared");
	} else if (!strcmp(key, "readers")) {
		const char *s = yw_scalar(w, v, key);
		if (s && strcmp(s, "per_device") && strcmp(s, "shared")) {
			yw_error(w, v, "'readers' must be per_device (a reader a device) or shared (one p1read for the "
			         "gateway's P1 meters), not '%s'", s);
		} else if (s) {
			c->shared_readers = !strcmp(s, "shared");
			c->readers_line = YW_LINE(v);
			c->readers_col = YW_COL(v);
		}
	} else if (!strcmp(key, "influxdb")) {
		c->influx.present = true;
		if (!yw_is_null(v))
			yw_each_pair(w, v, "'influxdb'", influx_keys, N(influx_keys), influx_pair, &c->influx);
	} else if (!strcmp(key, "http")) {
		/* http: with nothing under it: the exporter with its defaults */
		c->http.present = true;
		if (!yw_is_null(v))
			yw_each_pair(w, v, "'http'", http_keys, N(http_keys), http_pair, &c->http);
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
	mqtt_settings_init(&out->mqtt.s);
	struct yw w = { .file = file, .d = d };
	bool syntax_error;
	yaml_node_t *root = yw_load(&w, buf, len, &syntax_error);
	if (root && !yw_is_null(root))
		yw_each_pair(&w, root, "config.yaml", top_keys, N(top_keys), top_pair, out);
	if (!syntax_error)
		yaml_document_delete(&w.doc);
	/* The shared reader writes into the shared publisher's directory. */
	if (out->shared_readers && !out->shared_publisher) {
		diag_add(d, file, out->readers_line, out->readers_col,
		         "'readers: shared' needs 'publisher: shared' (the readers write into its directory)");
		w.errors++;
	}
	struct mqtt_conf *m = &out->mqtt;
	char why[256];
	m->s.password_given = m->password != NULL;
	if (m->password && m->s.password_file) {
		diag_add(d, file, 1, 1, "'mqtt' has both 'password' and 'password_file': keep one");
		w.errors++;
	} else if (out->influx.password && out->influx.password_file) {
		diag_add(d, file, 1, 1, "'influxdb' has both 'password' and 'password_file': keep one");
		w.errors++;
	} else if (out->influx.token && out->influx.token_file) {
		diag_add(d, file, 1, 1, "'influxdb' has both 'token' and 'token_file': keep one");
		w.errors++;
	} else if (mqtt_settings_check(&m->s, why, sizeof why) < 0) {
		/* the options' names are mqttpub's: the keys are near enough */
		diag_add(d, file, 1, 1, "'mqtt': %s (cert_file, key_file, ca_file, ca_path, password_file "
		                        "are config.yaml's names)", why);
		w.errors++;
	}
	return w.errors ? -1 : 0;
}

void base_conf_free(struct base_conf *c)
{
	struct mqtt_conf *m = &c->mqtt;
	for (size_t i = 0; i < m->nstrs; i++)
		free(m->strs[i]);
	struct influx_conf *in = &c->influx;
	char *strs[] = { m->topic_prefix, m->password,   c->log_level,     c->log_dir,  c->ha_prefix,
		         c->mqttpub,      c->state_dir,  in->url,          in->database, in->username,
		         in->password,    in->password_file, in->org,         in->bucket,  in->token,
		         in->token_file,  in->measurement, c->http.listen };
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
