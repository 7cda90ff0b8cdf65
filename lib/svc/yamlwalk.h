/* yamlwalk.h: walking a YAML document loaded with libyaml's document
 * loader (which keeps every node's line and column), collecting every
 * error as "file:line:column: what is wrong" instead of stopping. */
#ifndef M2M_YAMLWALK_H
#define M2M_YAMLWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "base/strv.h"

struct yw {
	yaml_document_t doc;
	const char *file;     /* the name in messages */
	struct cfg_diag *d;   /* where errors go */
	int errors;
};

#define YW_LINE(n) ((int)(n)->start_mark.line + 1)
#define YW_COL(n) ((int)(n)->start_mark.column + 1)

/* An error at node n (NULL: the top of the file). */
void yw_error(struct yw *w, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Loads the first document of buf.  Returns its root, or NULL (an empty
 * file, or a syntax error, reported with libyaml's position: then
 * *syntax_error is true and there is no document to delete). */
yaml_node_t *yw_load(struct yw *w, const char *buf, size_t len, bool *syntax_error);
yaml_node_t *yw_node(struct yw *w, int id);
/* "", "~" and "null", unquoted. */
bool yw_is_null(const yaml_node_t *n);
/* "a mapping", "a list" or "a scalar", for messages. */
const char *yw_kind_name(const yaml_node_t *n);

/* The text of a scalar, or NULL after an error naming key. */
const char *yw_scalar(struct yw *w, const yaml_node_t *n, const char *key);
/* YAML 1.1 booleans, as people write them (true, yes, on...): 0/1, or -1. */
int yw_bool_text(const char *v);
void yw_set_str(struct yw *w, const yaml_node_t *n, const char *key, char **dst);
void yw_set_long(struct yw *w, const yaml_node_t *n, const char *key, long min, long max, long *dst);
void yw_set_bool(struct yw *w, const yaml_node_t *n, const char *key, bool *dst);

/* Calls fn for every key of a mapping, after checking that the keys are
 * plain text, known (known NULL: any; else a did-you-mean) and not
 * repeated.  fn gets the key's node, for positions. */
typedef void yw_pair_fn(struct yw *w, const yaml_node_t *knode, const char *key, yaml_node_t *val, void *ctx);
void yw_each_pair(struct yw *w, yaml_node_t *map, const char *what, const char *const *known, size_t n_known,
                  yw_pair_fn *fn, void *ctx);

#endif
