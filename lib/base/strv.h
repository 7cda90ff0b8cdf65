/* strv.h: lists of strings: a set of names, argv vectors, the
 * did-you-mean hint and collected diagnostics ("file:line:col: what"). */
#ifndef M2M_STRV_H
#define M2M_STRV_H

#include <stdbool.h>
#include <stddef.h>

/* A set of names, in the order added (each once). */
struct strv {
	char **v;
	size_t n;
};
/* Adds a copy of s unless it is there; -1 when out of memory. */
int strv_add(struct strv *s, const char *name);
bool strv_has(const struct strv *s, const char *name);
void strv_sort(struct strv *s);
void strv_free(struct strv *s);

/* An argv of at most cap words and its NULL; argv_free frees each word. */
char **argv_new(size_t cap);
void argv_free(char **v);

/* An argv built a word at a time.  Once memory runs out, oom is set and
 * the rest is not added: argv_built then frees it all and gives NULL. */
struct argv_build {
	char **v;
	size_t n;
	bool oom;
};
/* opt, then value unless it is NULL. */
void argv_add(struct argv_build *a, const char *opt, const char *value);
void argv_add_long(struct argv_build *a, const char *opt, long value);
char **argv_built(struct argv_build *a);

/* Levenshtein distance, capped: returns at most cap + 1. */
int edit_distance(const char *a, const char *b, int cap);
/* The candidate closest to word when it is close enough to be a likely
 * typo (distance <= 2, and less than half the word), else NULL. */
const char *did_you_mean(const char *word, const char *const *cands, size_t n);
/* " (did you mean 'x'?)" for word among cands, or "", in hint (n bytes). */
const char *did_you_mean_hint(char *hint, size_t size, const char *word, const char *const *cands, size_t n);

/* Messages collected, so that one run names every problem. */
struct cfg_diag {
	char **msgs;
	size_t n;
};
/* "file:line:col: fmt" (or "file: fmt" when line is 0). */
void diag_add(struct cfg_diag *d, const char *file, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void diag_free(struct cfg_diag *d);

#endif
