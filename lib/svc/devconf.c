/* devconf.c: config.d/<id>.yaml, one device a file, each key a reader
 * option by the documented rule (meter2mqtt(5)). */
#include "svc/devconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "line/reading.h"
#include "meter/port.h"
#include "svc/yamlwalk.h"

/* A key becomes an option name, so it may hold only what an option name
 * holds: no '=', no spaces, no leading dash. */
static bool device_key_valid(const char *k)
{
	if (!*k || *k == '-' || strlen(k) > 64)
		return false;
	for (const char *p = k; *p; p++)
		if (!is_id_char(*p))
			return false;
	return true;
}

/* --poll-interval from poll_interval. */
static char *option_name(const char *key)
{
	char *o = malloc(strlen(key) + 3);
	if (!o)
		return NULL;
	strcpy(o, "--");
	strcat(o, key);
	for (char *p = o + 2; *p; p++)
		if (*p == '_')
			*p = '-';
	return o;
}

static void add_opt(struct device_conf *c, const char *key, char *arg, const yaml_node_t *k)
{
	struct dev_opt *o = realloc(c->opts, (c->n_opts + 1) * sizeof *o);
	if (!o) {
		free(arg);
		return;
	}
	c->opts = o;
	o[c->n_opts].key = strdup(key);
	o[c->n_opts].arg = arg;
	o[c->n_opts].line = YW_LINE(k);
	o[c->n_opts].col = YW_COL(k);
	c->n_opts++;
}

static char *join_option(const char *name, const char *value)
{
	char *s;
	return asprintf(&s, "%s=%s", name, value) < 0 ? NULL : s;
}

/* A list becomes one comma-separated value. */
static char *list_value(struct yw *w, yaml_node_t *seq, const char *key)
{
	size_t cap = 1, n = 0;
	char *out = calloc(1, 1);
	if (seq->data.sequence.items.start == seq->data.sequence.items.top) {
		yw_error(w, seq, "'%s' is an empty list", key);
		free(out);
		return NULL;
	}
	for (yaml_node_item_t *i = seq->data.sequence.items.start; out && i < seq->data.sequence.items.top; i++) {
		yaml_node_t *item = yw_node(w, *i);
		const char *s = item ? yw_scalar(w, item, key) : NULL;
		if (!s) {
			free(out);
			return NULL;
		}
		if (strchr(s, ',')) {
			yw_error(w, item, "an item of '%s' contains a comma, which the list form cannot carry: '%s'", key, s);
			free(out);
			return NULL;
		}
		size_t l = strlen(s);
		char *grown = realloc(out, cap + l + 1);
		if (!grown) {
			free(out);
			return NULL;
		}
		out = grown;
		cap += l + 1;
		if (n)
			out[n++] = ',';
		memcpy(out + n, s, l);
		n += l;
		out[n] = '\0';
	}
	return out;
}

static void device_pair(struct yw *w, const yaml_node_t *k, const char *key, yaml_node_t *v, void *ctx)
{
	struct device_conf *c = ctx;
	if (!strcmp(key, "type")) {
		c->type_line = YW_LINE(v); /* present, even if wrong: not "missing" */
		const char *t = yw_scalar(w, v, key);
		if (t && !device_id_valid(t))
			yw_error(w, v, "'type' must be a type name ([A-Za-z0-9_-]{1,64}), not '%s'", t);
		else if (t && !strcmp(t, PUBLISHER_TYPE))
			yw_error(w, v, "'type' cannot be '%s': the gateway's publisher reports under it", t);
		else if (t) {
			c->type = strdup(t);
			c->type_line = YW_LINE(v);
			c->type_col = YW_COL(v);
		}
		return;
	}
	if (!strcmp(key, "device")) {
		yw_error(w, v, "'device' cannot be set: the device id is the file name ('%s')", c->id);
		return;
	}
	if (!device_key_valid(key)) {
		yw_error(w, v, "key '%.64s' cannot become an option: use letters, digits, '_' and '-'", key);
		return;
	}
	char *name = option_name(key);
	if (!name)
		return;
	if (v->type == YAML_MAPPING_NODE) {
		yw_error(w, v, "wrong type: '%s' is a mapping; a device key takes a value or a list of values", key);
	} else if (v->type == YAML_SEQUENCE_NODE) {
		char *list = list_value(w, v, key);
		if (list) {
			add_opt(c, key, join_option(name, list), k);
			free(list);
		}
	} else {
		const char *s = yw_scalar(w, v, key);
		int b = s && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? yw_bool_text(s) : -1;
		if (b == 1)
			add_opt(c, key, strdup(name), k);
		else if (b == 0)
			add_opt(c, key, NULL, k); /* false: left out, but the key is still checked */
		else if (s)
			add_opt(c, key, join_option(name, s), k);
	}
	free(name);
}

const char *device_opt_value(const struct device_conf *c, const char *key)
{
	const struct dev_opt *o = device_opt(c, key);
	const char *eq = o && o->arg ? strchr(o->arg, '=') : NULL;
	return eq ? eq + 1 : NULL;
}

/* What the two built-in types cannot work without.  The port rule is the
 * readers' own (meter/port.h), called, not restated, so that mtrcfg --check
 * and the reader's --check give one verdict.  A service has no stdin to
 * fall back on, so a device that names no port at all is refused here,
 * with a position and an example. */
static void builtin_requirements(struct yw *w, struct device_conf *c, yaml_node_t *root)
{
	if (!c->type || (strcmp(c->type, "dsmr") && strcmp(c->type, "multical") && strcmp(c->type, "sml")))
		return;
	const char *port = device_opt_value(c, "port"), *conn = device_opt_value(c, "connection"),
		   *host = device_opt_value(c, "host");
	if (!port && !(conn && !strcmp(conn, "stdin"))) {
		const char *how = host || (conn && !strcmp(conn, "tcp")) ? "tcp" : conn ? conn : "serial_port";
		yw_error(w, root, "missing key 'port' (the %s to read, e.g. %s)",
		       !strcmp(how, "tcp") ? "TCP port" : !strcmp(how, "file") ? "file" : "serial port",
		       !strcmp(how, "tcp") ? "port: 2001" : !strcmp(how, "file") ? "port: \"/tmp/telegrams.txt\"" :
		                                                                  "port: \"/dev/ttyUSB0\"");
		return;
	}
	char spec[512], why[256];
	if (port_options_check(port, conn, host, spec, sizeof spec, why, sizeof why) < 0)
		yw_error(w, root, "%s", why);
}

/* The design's device files say version: "50" for the DSMR version,
 * which p1read calls --dsmr (--version prints a program's version). */
static void design_spellings(struct device_conf *c)
{
	static const struct {
		const char *type, *key, *option;
	} spellings[] = { { "dsmr", "version", "--dsmr" } };
	for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
		if (!c->type || strcmp(c->type, spellings[i].type))
			continue;
		for (size_t k = 0; k < c->n_opts; k++) {
			struct dev_opt *o = &c->opts[k];
			if (strcmp(o->key, spellings[i].key) || !o->arg)
				continue;
			const char *eq = strchr(o->arg, '=');
			char *arg;
			if (asprintf(&arg, "%s%s", spellings[i].option, eq ? eq : "") < 0)
				continue;
			free(o->arg);
			o->arg = arg;
		}
	}
}

int config_load_device(const char *file, const char *id, const char *buf, size_t len, struct device_conf *out,
                       struct cfg_diag *d)
{
	memset(out, 0, sizeof *out);
	out->id = strdup(id);
	out->file = strdup(file);
	struct yw w = { .file = file, .d = d };
	if (!device_id_valid(id)) {
		diag_add(d, file, 1, 1, "bad device id '%.80s': the file name (without .yaml) must match [A-Za-z0-9_-]{1,64}",
		         id);
		w.errors++;
	}
	bool syntax_error;
	yaml_node_t *root = yw_load(&w, buf, len, &syntax_error);
	if (!syntax_error) {
		if (!root || yw_is_null(root)) {
			diag_add(d, file, 1, 1, "empty device file: it needs at least 'type' (e.g. type: \"dsmr\")");
			w.errors++;
		} else {
			yw_each_pair(&w, root, "a device file", NULL, 0, device_pair, out);
			if (root->type == YAML_MAPPING_NODE && !out->type && !out->type_line)
				yw_error(&w, root, "missing key 'type' (the device type, e.g. type: \"dsmr\")");
			design_spellings(out);
			if (root->type == YAML_MAPPING_NODE && !w.errors)
				builtin_requirements(&w, out, root);
		}
		yaml_document_delete(&w.doc);
	}
	return w.errors ? -1 : 0;
}

const struct dev_opt *device_opt(const struct device_conf *c, const char *key)
{
	for (size_t i = 0; i < c->n_opts; i++)
		if (!strcmp(c->opts[i].key, key))
			return &c->opts[i];
	return NULL;
}

void device_conf_free(struct device_conf *c)
{
	for (size_t i = 0; i < c->n_opts; i++) {
		free(c->opts[i].key);
		free(c->opts[i].arg);
	}
	free(c->opts);
	free(c->id);
	free(c->file);
	free(c->type);
	memset(c, 0, sizeof *c);
}
