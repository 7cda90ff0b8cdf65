/* yamlwalk.c: see yamlwalk.h. */
#include "svc/yamlwalk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/strv.h"
#include "base/util.h"

void yw_error(struct yw *w, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[640];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	diag_add(w->d, w->file, n ? YW_LINE(n) : 1, n ? YW_COL(n) : 1, "%s", msg);
	w->errors++;
}

const char *yw_kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a scalar";
	}
}

/* Loads the first document.  Returns its root, or NULL (empty file or a
 * syntax error, which is reported with libyaml's position). */
yaml_node_t *yw_load(struct yw *w, const char *buf, size_t len, bool *syntax_error)
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

yaml_node_t *yw_node(struct yw *w, int id) { return yaml_document_get_node(&w->doc, id); }

bool yw_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;
	return n->data.scalar.length == 0 || !strcmp(v, "~") || !strcasecmp(v, "null");
}

/* The text of a scalar, or NULL after an error naming key. */
const char *yw_scalar(struct yw *w, const yaml_node_t *n, const char *key)
{
	if (n->type != YAML_SCALAR_NODE) {
		yw_error(w, n, "'%s' must be a single value, not %s", key, yw_kind_name(n));
		return NULL;
	}
	if (yw_is_null(n)) {
		yw_error(w, n, "'%s' has no value", key);
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		yw_error(w, n, "'%s' contains a NUL character", key);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* YAML 1.1 booleans, as people write them.  Returns 0/1, or -1. */
int yw_bool_text(const char *v)
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

void yw_set_str(struct yw *w, const yaml_node_t *n, const char *key, char **dst)
{
	const char *v = yw_scalar(w, n, key);
	if (!v)
		return;
	free(*dst);
	*dst = strdup(v);
}

void yw_set_long(struct yw *w, const yaml_node_t *n, const char *key, long min, long max, long *dst)
{
	const char *v = yw_scalar(w, n, key);
	if (v && parse_long(v, min, max, dst) < 0)
		yw_error(w, n, "'%s' must be a whole number from %ld to %ld, not '%s'", key, min, max, v);
}

void yw_set_bool(struct yw *w, const yaml_node_t *n, const char *key, bool *dst)
{
	const char *v = yw_scalar(w, n, key);
	int b = v ? yw_bool_text(v) : -1;
	if (v && b < 0)
		yw_error(w, n, "'%s' must be true or false, not '%s'", key, v);
	if (b >= 0)
		*dst = b;
}

void yw_each_pair(struct yw *w, yaml_node_t *map, const char *what, const char *const *known, size_t n_known,
                      yw_pair_fn *fn, void *ctx)
{
	if (map->type != YAML_MAPPING_NODE) {
		yw_error(w, map, "%s must be a mapping (key: value lines), not %s", what, yw_kind_name(map));
		return;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yw_node(w, p->key), *v = yw_node(w, p->value);
		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE || yw_is_null(k)) {
			yw_error(w, k, "a key in %s must be a name, not %s", what, k->type == YAML_SCALAR_NODE ? "empty" : yw_kind_name(k));
			continue;
		}
		const char *key = (const char *)k->data.scalar.value;
		bool dup = false;
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p && !dup; q++) {
			yaml_node_t *qk = yw_node(w, q->key);
			if (qk && qk->type == YAML_SCALAR_NODE && !strcmp((const char *)qk->data.scalar.value, key)) {
				yw_error(w, k, "duplicate key '%s' (first at line %d)", key, YW_LINE(qk));
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
					yw_error(w, k, "unknown key '%s' in %s (did you mean '%s'?)", key, what, sugg);
				else
					yw_error(w, k, "unknown key '%s' in %s", key, what);
				continue;
			}
		}
		fn(w, k, key, v, ctx);
	}
}

