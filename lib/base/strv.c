/* strv.c: see strv.h. */
#include "base/strv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int strv_add(struct strv *s, const char *name)
{
	if (strv_has(s, name))
		return 0;
	char **g = realloc(s->v, (s->n + 1) * sizeof *g);
	char *copy = strdup(name);
	if (!g || !copy) {
		free(copy);
		if (g)
			s->v = g;
		return -1;
	}
	s->v = g;
	s->v[s->n++] = copy;
	return 0;
}

bool strv_has(const struct strv *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return true;
	return false;
}

static int by_text(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void strv_sort(struct strv *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof *s->v, by_text);
}

void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

char **argv_new(size_t cap) { return calloc(cap + 1, sizeof(char *)); }

void argv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void argv_word(struct argv_build *a, const char *word)
{
	char **g = a->oom ? NULL : realloc(a->v, (a->n + 2) * sizeof *a->v);
	char *w = g ? strdup(word) : NULL;
	if (g)
		a->v = g;
	if (!w) {
		a->oom = true;
		return;
	}
	a->v[a->n++] = w;
	a->v[a->n] = NULL;
}

void argv_add(struct argv_build *a, const char *opt, const char *value)
{
	argv_word(a, opt);
	if (value)
		argv_word(a, value);
}

void argv_add_long(struct argv_build *a, const char *opt, long value)
{
	char num[24];
	snprintf(num, sizeof num, "%ld", value);
	argv_add(a, opt, num);
}

char **argv_built(struct argv_build *a)
{
	if (!a->oom)
		return a->v;
	argv_free(a->v);
	return NULL;
}

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


const char *did_you_mean_hint(char *hint, size_t size, const char *word, const char *const *cands, size_t n)
{
	const char *s = did_you_mean(word, cands, n);
	if (s)
		snprintf(hint, size, " (did you mean '%s'?)", s);
	else if (size)
		hint[0] = '\0';
	return hint;
}

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

