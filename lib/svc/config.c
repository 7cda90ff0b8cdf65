/* config.c: the two file formats of meter2mqtt(5), read with libyaml's
 * document loader (which keeps every node's line and column). */
#include "svc/config.h"
#include "base/err.h"
#include "base/text.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* ---- diagnostics ---- */

void diag_add(struct cfg_diag *d, const char *file, int line, int col, const char *fmt, ...)
{
	char msg[768], *full;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	int r = line > 0 ? asprintf(&full, "%s:%d:%d: %s", file, line, col, msg) : asprintf(&full, "%s: %s", file, msg);
	if (r < 0)
		return;
	char **m = realloc(d->msgs, (d->n + 1) * sizeof *m);
	if (!m) {
		free(full);
		return;
	}
	d->msgs = m;
	d->msgs[d->n++] = full;
}

void diag_free(struct cfg_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = 0;
}

/* ---- did you mean ---- */

int edit_distance(const char *a, const char *b, int cap)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return cap + 1;
	if ((int)(la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	int row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb] > cap ? cap + 1 : row[lb];
}

const char *did_you_mean(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	int best_d = 3;
	int limit = (int)strlen(word) / 2;
	for (size_t i = 0; i < n; i++) {
		int dist = edit_distance(word, cands[i], 2);
		if (dist < best_d && dist <= limit) {
			best_d = dist;
			best = cands[i];
		}
	}
	return best;
}

/* ---- files ---- */

int read_file(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	if (st.st_size > CONFIG_MAX_BYTES) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *b = malloc(cap + 1);
	if (!b) {
		close(fd);
		return -1;
	}
	for (;;) {
		if (n == cap) { /* the file grew while we read it */
			close(fd);
			free(b);
			errno = EFBIG;
			return -1;
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(b);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

/* ---- the YAML walk ---- */

struct walk {
	yaml_document_t doc;
	const char *file;
	struct cfg_diag *d;
	int errors;
};

#define LINE(n) ((int)(n)->start_mark.line + 1)
#define COL(n) ((int)(n)->start_mark.column + 1)

static void err_at(struct walk *w, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err_at(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[640];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	diag_add(w->d, w->file, n ? LINE(n) : 1, n ? COL(n) : 1, "%s", msg);
	w->errors++;
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a scalar";
	}
}

/* Loads the first document.  Returns its root, or NULL (empty file or a
 * syntax error, which is reported with libyaml's position). */
static yaml_node_t *load(struct walk *w, const char *buf, size_t len, bool *syntax_error)
{
	yaml_parser_t p;
	*syntax_error = false;
	if (!yaml_parser_initialize(&p)) {
		diag_add(w->d, w->file, 1, 1, "out of memory");
		w->errors++;
		*syntax_error = true;
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, &w->doc)) {
		const yaml_mark_t *m = p.problem_mark.line || p.problem_mark.column ? &p.problem_mark : &p.context_mark;
		diag_add(w->d, w->file, (int)m->line + 1, (int)m->column + 1, "YAML syntax error: %s%s%s",
		         p.problem ? p.problem : "unknown", p.context ? " " : "", p.context ? p.context : "");
		w->errors++;
		*syntax_error = true;
		yaml_parser_delete(&p);
		memset(&w->doc, 0, sizeof w->doc);
		return NULL;
	}
	yaml_parser_delete(&p);
	return yaml_document_get_root_node(&w->doc);
}

static yaml_node_t *node(struct walk *w, int id) { return yaml_document_get_node(&w->doc, id); }

static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;
	return n->data.scalar.length == 0 || !strcmp(v, "~") || !strcasecmp(v, "null");
}

/* The text of a scalar, or NULL after an error naming key. */
static const char *scalar(struct walk *w, const yaml_node_t *n, const char *key)
{
	if (n->type != YAML_SCALAR_NODE) {
		err_at(w, n, "'%s' must be a single value, not %s", key, kind_name(n));
		return NULL;
	}
	if (is_null(n)) {
		err_at(w, n, "'%s' has no value", key);
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		err_at(w, n, "'%s' contains a NUL character", key);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* YAML 1.1 booleans, as people write them.  Returns 0/1, or -1. */
static int bool_text(const char *v)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	for (size_t i = 0; i < 3; i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -1;
}

static void set_str(struct walk *w, const yaml_node_t *n, const char *key, char **dst)
{
	const char *v = scalar(w, n, key);
	if (!v)
		return;
	free(*dst);
	*dst = strdup(v);
}

static void set_long(struct walk *w, const yaml_node_t *n, const char *key, long min, long max, long *dst)
{
	const char *v = scalar(w, n, key);
	if (v && parse_long(v, min, max, dst) < 0)
		err_at(w, n, "'%s' must be a whole number from %ld to %ld, not '%s'", key, min, max, v);
}

static void set_bool(struct walk *w, const yaml_node_t *n, const char *key, bool *dst)
{
	const char *v = scalar(w, n, key);
	int b = v ? bool_text(v) : -1;
	if (v && b < 0)
		err_at(w, n, "'%s' must be true or false, not '%s'", key, v);
	if (b >= 0)
		*dst = b;
}

/* Calls fn for every key of a mapping, after checking that the keys are
 * plain text, known (else a did-you-mean) and not repeated. */
typedef void pair_fn(struct walk *w, const char *key, yaml_node_t *val, void *ctx);
/* The key's node, for positions: set by each_pair before each call. */
static const yaml_node_t *current_key;

static void each_pair(struct walk *w, yaml_node_t *map, const char *what, const char *const *known, size_t n_known,
                      pair_fn *fn, void *ctx)
{
	if (map->type != YAML_MAPPING_NODE) {
		err_at(w, map, "%s must be a mapping (key: value lines), not %s", what, kind_name(map));
		return;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(w, p->key), *v = node(w, p->value);
		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE || is_null(k)) {
			err_at(w, k, "a key in %s must be a name, not %s", what, k->type == YAML_SCALAR_NODE ? "empty" : kind_name(k));
			continue;
		}
		const char *key = (const char *)k->data.scalar.value;
		bool dup = false;
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p && !dup; q++) {
			yaml_node_t *qk = node(w, q->key);
			if (qk && qk->type == YAML_SCALAR_NODE && !strcmp((const char *)qk->data.scalar.value, key)) {
				err_at(w, k, "duplicate key '%s' (first at line %d)", key, LINE(qk));
				dup = true;
			}
		}
		if (dup)
			continue;
		if (known) {
			size_t i = 0;
			while (i < n_known && strcmp(known[i], key))
				i++;
			if (i == n_known) {
				const char *sugg = did_you_mean(key, known, n_known);
				if (sugg)
					err_at(w, k, "unknown key '%s' in %s (did you mean '%s'?)", key, what, sugg);
				else
					err_at(w, k, "unknown key '%s' in %s", key, what);
				continue;
			}
		}
		current_key = k;
		fn(w, key, v, ctx);
	}
}

/* ---- config.yaml ---- */

static const char *const top_keys[] = { "mqtt", "logging", "homeassistant", "types_dir", "types", "mqttpub" };
static const char *const mqtt_keys[] = { "host",      "port",      "topic_prefix", "username", "password",
                                         "password_file", "client_id", "qos",      "retain",   "keepalive",
                                         "protocol",  "tls" };
static const char *const tls_keys[] = { "ca_file", "ca_path", "cert_file", "key_file", "version", "insecure" };
static const char *const logging_keys[] = { "level", "dir" };
static const char *const ha_keys[] = { "enabled", "discovery_prefix" };
#define N(a) (sizeof(a) / sizeof *(a))

static void tls_pair(struct walk *w, const char *key, yaml_node_t *v, void *ctx)
{
	struct mqtt_conf *m = ctx;
	if (!strcmp(key, "ca_file"))
		set_str(w, v, key, &m->ca_file);
	else if (!strcmp(key, "ca_path"))
		set_str(w, v, key, &m->ca_path);
	else if (!strcmp(key, "cert_file"))
		set_str(w, v, key, &m->cert_file);
	else if (!strcmp(key, "key_file"))
		set_str(w, v, key, &m->key_file);
	else if (!strcmp(key, "version"))
		set_str(w, v, key, &m->tls_version);
	else
		set_bool(w, v, key, &m->tls_insecure);
}

static void mqtt_pair(struct walk *w, const char *key, yaml_node_t *v, void *ctx)
{
	struct mqtt_conf *m = ctx;
	if (!strcmp(key, "tls")) {
		/* tls: true (the system's CAs) or a mapping of files. */
		if (v->type == YAML_MAPPING_NODE) {
			m->tls = true;
			each_pair(w, v, "'mqtt: tls'", tls_keys, N(tls_keys), tls_pair, m);
		} else {
			set_bool(w, v, "tls", &m->tls);
		}
	} else if (!strcmp(key, "port")) {
		set_long(w, v, key, 1, 65535, &m->port);
	} else if (!strcmp(key, "qos")) {
		set_long(w, v, key, 0, 2, &m->qos);
	} else if (!strcmp(key, "keepalive")) {
		set_long(w, v, key, 5, 65535, &m->keepalive);
	} else if (!strcmp(key, "retain")) {
		bool b = true;
		set_bool(w, v, key, &b);
		m->retain = b;
	} else if (!strcmp(key, "protocol")) {
		const char *s = scalar(w, v, key);
		if (s && strcmp(s, "311") && strcmp(s, "5"))
			err_at(w, v, "'protocol' must be 311 or 5, not '%s'", s);
		else if (s)
			set_str(w, v, key, &m->protocol);
	} else {
		char **dst = !strcmp(key, "host")           ? &m->host
		             : !strcmp(key, "topic_prefix") ? &m->topic_prefix
		             : !strcmp(key, "username")     ? &m->username
		             : !strcmp(key, "password")     ? &m->password
		             : !strcmp(key, "password_file") ? &m->password_file
		                                             : &m->client_id;
		set_str(w, v, key, dst);
	}
}

static void logging_pair(struct walk *w, const char *key, yaml_node_t *v, void *ctx)
{
	struct base_conf *c = ctx;
	if (!strcmp(key, "dir")) {
		set_str(w, v, key, &c->log_dir);
		return;
	}
	const char *s = scalar(w, v, key);
	if (s && log_level_parse(s) < 0)
		err_at(w, v, "'level' must be error, warn, info or debug, not '%s'", s);
	else if (s)
		set_str(w, v, key, &c->log_level);
}

static void ha_pair(struct walk *w, const char *key, yaml_node_t *v, void *ctx)
{
	struct base_conf *c = ctx;
	if (!strcmp(key, "enabled"))
		set_bool(w, v, key, &c->ha_enabled);
	else
		set_str(w, v, key, &c->ha_prefix);
}

static bool type_name_valid(const char *s) { return device_id_valid(s); }

static void types_pair(struct walk *w, const char *key, yaml_node_t *v, void *ctx)
{
	struct base_conf *c = ctx;
	if (!type_name_valid(key)) {
		err_at(w, v, "type name '%s' must match [A-Za-z0-9_-]{1,64}", key);
		return;
	}
	const char *prog = scalar(w, v, key);
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

static void top_pair(struct walk *w, const char *key, yaml_node_t *v, void *ctx)
{
	struct base_conf *c = ctx;
	if (!strcmp(key, "mqtt")) {
		each_pair(w, v, "'mqtt'", mqtt_keys, N(mqtt_keys), mqtt_pair, &c->mqtt);
	} else if (!strcmp(key, "logging")) {
		each_pair(w, v, "'logging'", logging_keys, N(logging_keys), logging_pair, c);
	} else if (!strcmp(key, "homeassistant")) {
		each_pair(w, v, "'homeassistant'", ha_keys, N(ha_keys), ha_pair, c);
	} else if (!strcmp(key, "types")) {
		each_pair(w, v, "'types'", NULL, 0, types_pair, c);
	} else if (!strcmp(key, "mqttpub")) {
		set_str(w, v, key, &c->mqttpub);
	} else if (v->type == YAML_SEQUENCE_NODE) { /* types_dir: [a, b] */
		for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
			yaml_node_t *item = node(w, *i);
			const char *s = item ? scalar(w, item, key) : NULL;
			if (s)
				add_types_dir(c, s);
		}
	} else {
		const char *s = scalar(w, v, key);
		if (s)
			add_types_dir(c, s);
	}
}

int config_load_base(const char *file, const char *buf, size_t len, struct base_conf *out, struct cfg_diag *d)
{
	memset(out, 0, sizeof *out);
	out->mqtt.qos = -1;
	out->mqtt.retain = -1;
	struct walk w = { .file = file, .d = d };
	bool syntax_error;
	yaml_node_t *root = load(&w, buf, len, &syntax_error);
	if (root && !is_null(root))
		each_pair(&w, root, "config.yaml", top_keys, N(top_keys), top_pair, out);
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
		         m->key_file,  m->tls_version, c->log_level, c->log_dir,  c->ha_prefix, c->mqttpub };
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

/* ---- config.d/<id>.yaml ---- */

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
	o[c->n_opts].line = LINE(k);
	o[c->n_opts].col = COL(k);
	c->n_opts++;
}

static char *join_option(const char *name, const char *value)
{
	char *s;
	return asprintf(&s, "%s=%s", name, value) < 0 ? NULL : s;
}

/* A list becomes one comma-separated value. */
static char *list_value(struct walk *w, yaml_node_t *seq, const char *key)
{
	size_t cap = 1, n = 0;
	char *out = calloc(1, 1);
	if (seq->data.sequence.items.start == seq->data.sequence.items.top) {
		err_at(w, seq, "'%s' is an empty list", key);
		free(out);
		return NULL;
	}
	for (yaml_node_item_t *i = seq->data.sequence.items.start; out && i < seq->data.sequence.items.top; i++) {
		yaml_node_t *item = node(w, *i);
		const char *s = item ? scalar(w, item, key) : NULL;
		if (!s) {
			free(out);
			return NULL;
		}
		if (strchr(s, ',')) {
			err_at(w, item, "an item of '%s' contains a comma, which the list form cannot carry: '%s'", key, s);
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

static void device_pair(struct walk *w, const char *key, yaml_node_t *v, void *ctx)
{
	struct device_conf *c = ctx;
	if (!strcmp(key, "type")) {
		c->type_line = LINE(v); /* present, even if wrong: not "missing" */
		const char *t = scalar(w, v, key);
		if (t && !type_name_valid(t))
			err_at(w, v, "'type' must be a type name ([A-Za-z0-9_-]{1,64}), not '%s'", t);
		else if (t) {
			c->type = strdup(t);
			c->type_line = LINE(v);
			c->type_col = COL(v);
		}
		return;
	}
	if (!strcmp(key, "device")) {
		err_at(w, v, "'device' cannot be set: the device id is the file name ('%s')", c->id);
		return;
	}
	if (!device_key_valid(key)) {
		err_at(w, v, "key '%.64s' cannot become an option: use letters, digits, '_' and '-'", key);
		return;
	}
	char *name = option_name(key);
	if (!name)
		return;
	if (v->type == YAML_MAPPING_NODE) {
		err_at(w, v, "wrong type: '%s' is a mapping; a device key takes a value or a list of values", key);
	} else if (v->type == YAML_SEQUENCE_NODE) {
		char *list = list_value(w, v, key);
		if (list) {
			add_opt(c, key, join_option(name, list), current_key);
			free(list);
		}
	} else {
		const char *s = scalar(w, v, key);
		int b = s && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? bool_text(s) : -1;
		if (b == 1)
			add_opt(c, key, strdup(name), current_key);
		else if (b == 0)
			add_opt(c, key, NULL, current_key); /* false: left out, but the key is still checked */
		else if (s)
			add_opt(c, key, join_option(name, s), current_key);
	}
	free(name);
}

/* What the built-in types cannot work without: a clearer message, with a
 * position, than the reader's own --check could give. */
static void builtin_requirements(struct walk *w, struct device_conf *c, yaml_node_t *root)
{
	if (!c->type || (strcmp(c->type, "dsmr") && strcmp(c->type, "multical") && strcmp(c->type, "sml")))
		return;
	const struct dev_opt *conn = device_opt(c, "connection");
	const char *how = conn && conn->arg ? strchr(conn->arg, '=') : NULL;
	how = how ? how + 1 : "serial_port";
	if (!strcmp(how, "stdin"))
		return;
	if (!device_opt(c, "port"))
		err_at(w, root, "missing key 'port' (the %s to read, e.g. %s)",
		       !strcmp(how, "tcp") ? "TCP port" : !strcmp(how, "file") ? "file" : "serial port",
		       !strcmp(how, "tcp") ? "port: 2001" : !strcmp(how, "file") ? "port: \"/tmp/telegrams.txt\"" :
		                                                                  "port: \"/dev/ttyUSB0\"");
	if (!strcmp(how, "tcp") && !device_opt(c, "host"))
		err_at(w, root, "missing key 'host' (connection tcp reads from host:port)");
}

int config_load_device(const char *file, const char *id, const char *buf, size_t len, struct device_conf *out,
                       struct cfg_diag *d)
{
	memset(out, 0, sizeof *out);
	out->id = strdup(id);
	out->file = strdup(file);
	struct walk w = { .file = file, .d = d };
	if (!device_id_valid(id)) {
		diag_add(d, file, 1, 1, "bad device id '%.80s': the file name (without .yaml) must match [A-Za-z0-9_-]{1,64}",
		         id);
		w.errors++;
	}
	bool syntax_error;
	yaml_node_t *root = load(&w, buf, len, &syntax_error);
	if (!syntax_error) {
		if (!root || is_null(root)) {
			diag_add(d, file, 1, 1, "empty device file: it needs at least 'type' (e.g. type: \"dsmr\")");
			w.errors++;
		} else {
			each_pair(&w, root, "a device file", NULL, 0, device_pair, out);
			if (root->type == YAML_MAPPING_NODE && !out->type && !out->type_line)
				err_at(&w, root, "missing key 'type' (the device type, e.g. type: \"dsmr\")");
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
