#include "line/reading.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "base/arena.h"
#include "base/text.h"

bool topic_level_valid(const char *s, size_t n, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	if (n == 0) {
		*why = "empty topic level";
		return false;
	}
	if (n > READING_LEVEL_MAX) {
		*why = "topic level longer than 65535 bytes";
		return false;
	}
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_seq(p + i, n - i, &cp);
		if (k == 0) {
			*why = "invalid UTF-8 in topic level";
			return false;
		}
		if (cp == 0) {
			*why = "NUL in topic level";
			return false;
		}
		/* MQTT says topics should not carry control characters;
		 * mosquitto refuses them. */
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			*why = "control character in topic level";
			return false;
		}
		if (cp == '/' || cp == '+' || cp == '#') {
			*why = cp == '/' ? "'/' in topic level" : cp == '+' ? "wildcard '+' in topic level"
			                                                    : "wildcard '#' in topic level";
			return false;
		}
		i += k;
	}
	return true;
}

/* ---- memory ---- */

static bool use_arena;

void reading_use_arena(void) { use_arena = ARENA_ENABLED; }

/* Without the arena (ASan builds, other callers) every block is chained
 * to the reading, so that reading_free can give it back. */
struct reading_block {
	struct reading_block *next;
	max_align_t data[];
};

static void *r_alloc(struct reading *r, size_t n)
{
	if (use_arena)
		return arena_alloc(n ? n : 1);
	struct reading_block *b = malloc(sizeof *b + n);
	if (!b)
		return NULL;
	b->next = r->blocks;
	r->blocks = b;
	return b->data;
}

void reading_free(struct reading *r)
{
	for (struct reading_block *b = r->blocks, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	memset(r, 0, sizeof *r);
}

static char *r_strndup(struct reading *r, const char *s, size_t n)
{
	char *p = r_alloc(r, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* ---- building the tree from yajl's events ---- */

/* A member collected while its container is open. */
struct pending {
	struct pending *next;
	struct jmember m;
};

struct frame {
	struct jv *v; /* the array or object being filled */
	struct pending *head, *tail;
	size_t n;
};

struct builder {
	struct reading *r;
	struct frame stack[READING_MAX_DEPTH];
	int depth;
	const char *key; /* the key just read, for the next value */
	bool have_root;
	const char *fail; /* why the builder stopped yajl, or NULL */
};

/* Where the next value goes: a new member of the open container, or the
 * root. */
static struct jv *slot(struct builder *b)
{
	if (b->depth == 0) {
		b->have_root = true;
		return &b->r->root;
	}
	struct frame *f = &b->stack[b->depth - 1];
	struct pending *p = r_alloc(b->r, sizeof *p);
	if (!p) {
		b->fail = "out of memory";
		return NULL;
	}
	memset(p, 0, sizeof *p);
	p->m.key = f->v->type == JV_OBJECT ? b->key : NULL;
	if (f->tail)
		f->tail->next = p;
	else
		f->head = p;
	f->tail = p;
	f->n++;
	return &p->m.v;
}

static int put_scalar(void *ctx, enum jv_type type, const char *s, size_t n)
{
	struct builder *b = ctx;
	struct jv *v = slot(b);
	if (!v)
		return 0;
	*v = (struct jv){ type, n, NULL, NULL };
	if (s && !(v->s = r_strndup(b->r, s, n))) {
		b->fail = "out of memory";
		return 0;
	}
	return 1;
}

static int on_null(void *ctx) { return put_scalar(ctx, JV_NULL, NULL, 0); }
static int on_bool(void *ctx, int t) { return put_scalar(ctx, t ? JV_TRUE : JV_FALSE, NULL, 0); }
static int on_number(void *ctx, const char *s, size_t n) { return put_scalar(ctx, JV_NUMBER, s, n); }
static int on_string(void *ctx, const unsigned char *s, size_t n)
{
	return put_scalar(ctx, JV_STRING, (const char *)s, n);
}

static int open_container(void *ctx, enum jv_type type)
{
	struct builder *b = ctx;
	if (b->depth >= READING_MAX_DEPTH) {
		b->fail = "nested too deeply";
		return 0;
	}
	struct jv *v = slot(b);
	if (!v)
		return 0;
	*v = (struct jv){ type, 0, NULL, NULL };
	b->stack[b->depth++] = (struct frame){ v, NULL, NULL, 0 };
	return 1;
}

static int on_start_map(void *ctx) { return open_container(ctx, JV_OBJECT); }
static int on_start_array(void *ctx) { return open_container(ctx, JV_ARRAY); }

static int on_key(void *ctx, const unsigned char *s, size_t n)
{
	struct builder *b = ctx;
	if (memchr(s, '\0', n)) {
		b->fail = "NUL in an object key";
		return 0;
	}
	b->key = r_strndup(b->r, (const char *)s, n);
	if (!b->key) {
		b->fail = "out of memory";
		return 0;
	}
	return 1;
}

static int key_order(const void *a, const void *b)
{
	return strcmp(((const struct jmember *)a)->key, ((const struct jmember *)b)->key);
}

/* A duplicate key would make "which value" a guess. */
static bool has_duplicate_key(struct reading *r, const struct jv *obj)
{
	if (obj->n < 2)
		return false;
	if (obj->n <= 16) {
		for (size_t i = 1; i < obj->n; i++)
			for (size_t j = 0; j < i; j++)
				if (strcmp(obj->m[i].key, obj->m[j].key) == 0)
					return true;
		return false;
	}
	struct jmember *sorted = r_alloc(r, obj->n * sizeof *sorted);
	if (!sorted)
		return true; /* out of memory: refused, never guessed */
	memcpy(sorted, obj->m, obj->n * sizeof *sorted);
	qsort(sorted, obj->n, sizeof *sorted, key_order);
	for (size_t i = 1; i < obj->n; i++)
		if (strcmp(sorted[i].key, sorted[i - 1].key) == 0)
			return true;
	return false;
}

static int close_container(void *ctx)
{
	struct builder *b = ctx;
	struct frame *f = &b->stack[--b->depth];
	struct jv *v = f->v;
	v->n = f->n;
	if (f->n) {
		v->m = r_alloc(b->r, f->n * sizeof *v->m);
		if (!v->m) {
			b->fail = "out of memory";
			return 0;
		}
		size_t i = 0;
		for (struct pending *p = f->head; p; p = p->next)
			v->m[i++] = p->m;
	}
	if (v->type == JV_OBJECT && has_duplicate_key(b->r, v)) {
		b->fail = "duplicate object key";
		return 0;
	}
	return 1;
}

static const yajl_callbacks callbacks = {
	on_null, on_bool, NULL, NULL, on_number, on_string, on_start_map, on_key, close_container,
	on_start_array, close_container,
};

/* yajl's own allocations come from the same place as the tree's.  In
 * the arena a block carries its size, for realloc. */
struct sized {
	size_t n;
	max_align_t data[];
};

static void *y_malloc(void *ctx, size_t n)
{
	(void)ctx;
	if (!use_arena)
		return malloc(n);
	struct sized *b = arena_alloc(sizeof *b + n);
	if (!b)
		return NULL;
	b->n = n;
	return b->data;
}

static void y_free(void *ctx, void *p)
{
	(void)ctx;
	if (!use_arena)
		free(p);
}

static void *y_realloc(void *ctx, void *p, size_t n)
{
	if (!use_arena)
		return realloc(p, n);
	void *q = y_malloc(ctx, n);
	if (q && p) {
		const struct sized *old = (const struct sized *)((const char *)p - offsetof(struct sized, data));
		memcpy(q, p, old->n < n ? old->n : n);
	}
	return q;
}

/* Parses the whole line into r->root.  Returns 0, or -1 with why. */
static int parse_json(const char *line, size_t len, struct reading *r, char *why, size_t whylen)
{
	struct builder b = { .r = r };
	yajl_alloc_funcs af = { y_malloc, y_realloc, y_free, NULL };
	yajl_handle h = yajl_alloc(&callbacks, &af, &b);
	if (!h) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	yajl_status st = yajl_parse(h, (const unsigned char *)line, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	int rc = 0;
	if (st != yajl_status_ok || !b.have_root) {
		size_t at = yajl_get_bytes_consumed(h);
		if (b.fail) {
			snprintf(why, whylen, "not JSON: %s at byte %zu", b.fail, at);
		} else {
			unsigned char *e = yajl_get_error(h, 0, (const unsigned char *)line, len);
			/* "lexical error: invalid char in json text.\n" */
			const char *text = e ? (const char *)e : "unreadable";
			int tn = (int)strcspn(text, ".\n");
			snprintf(why, whylen, "not JSON: %.*s at byte %zu", tn, text, at);
			if (e)
				yajl_free_error(h, e);
		}
		rc = -1;
	}
	yajl_free(h);
	return rc;
}

/* ---- the reading ---- */

const struct jv *jv_get(const struct jv *obj, const char *key)
{
	if (!obj || obj->type != JV_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (strcmp(obj->m[i].key, key) == 0)
			return &obj->m[i].v;
	return NULL;
}

const char *reading_string(const struct jv *obj, const char *key)
{
	const struct jv *v = jv_get(obj, key);
	return v && v->type == JV_STRING ? v->s : NULL;
}

static bool level_member(const struct jv *root, const char *key, const char **out, char *why, size_t whylen)
{
	const struct jv *v = jv_get(root, key);
	const char *problem;
	if (!v) {
		snprintf(why, whylen, "no \"%s\"", key);
		return false;
	}
	if (v->type != JV_STRING) {
		snprintf(why, whylen, "\"%s\" is not a string", key);
		return false;
	}
	if (!topic_level_valid(v->s, v->n, &problem)) {
		snprintf(why, whylen, "\"%s\" is not a valid topic level: %s", key, problem);
		return false;
	}
	*out = v->s;
	return true;
}

int reading_parse(const char *line, size_t len, struct reading *r, char *why, size_t whylen)
{
	memset(r, 0, sizeof *r);
	if (parse_json(line, len, r, why, whylen) < 0)
		goto bad;
	if (r->root.type != JV_OBJECT) {
		snprintf(why, whylen, "not a JSON object");
		goto bad;
	}
	if (!level_member(&r->root, "type", &r->type, why, whylen) ||
	    !level_member(&r->root, "device", &r->device, why, whylen))
		goto bad;
	r->time = reading_string(&r->root, "time");
	r->meter = jv_get(&r->root, "meter");
	if (r->meter && r->meter->type != JV_OBJECT)
		r->meter = NULL;
	r->values = jv_get(&r->root, "values");
	if (r->values && r->values->type != JV_OBJECT) {
		snprintf(why, whylen, "\"values\" is not an object");
		goto bad;
	}
	return 0;
bad:
	reading_free(r);
	return -1;
}
