/* t/bench/jsonparse.c: parse one reading line N times with one JSON reader
 * (chosen at compile time: -DREADER_JANSSON, -DREADER_JSONC, -DREADER_YAJL,
 * or -DREADER_OURS for line/reading.c, yajl plus the tree mqttpub uses) and
 * print microseconds per line.  Built and run by t/bench/jsonparse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(READER_JANSSON)
#include <jansson.h>
#define NAME "jansson (doubles, no number text)"
static void parse(const char *s, size_t n)
{
	json_t *r = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (!r)
		abort();
	json_decref(r);
}
#elif defined(READER_JSONC)
#include <json-c/json.h>
#define NAME "json-c (keeps a double's text, not an integer's)"
static void parse(const char *s, size_t n)
{
	static struct json_tokener *tok;
	if (!tok) {
		tok = json_tokener_new_ex(64);
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	}
	json_tokener_reset(tok);
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)n);
	if (!o)
		abort();
	json_object_put(o);
}
#elif defined(READER_YAJL)
#include <yajl/yajl_tree.h>
#define NAME "yajl_tree (keeps every number's text)"
static void parse(const char *s, size_t n)
{
	(void)n;
	char err[128];
	yajl_val v = yajl_tree_parse(s, err, sizeof err);
	if (!v)
		abort();
	yajl_tree_free(v);
}
#else
#include "base/arena.h"
#include "line/reading.h"
#define NAME "line/reading.c (yajl events, tree in the arena)"
static void parse(const char *s, size_t n)
{
	static bool arena;
	if (!arena)
		reading_use_arena();
	arena = true;
	struct reading r;
	char why[256];
	if (reading_parse(s, n, &r, why, sizeof why) < 0)
		abort();
	reading_free(&r);
	arena_reset();
}
#endif

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	static char line[65536];
	FILE *f = fopen(argv[1], "r");
	if (!f || !fgets(line, sizeof line, f))
		return 1;
	size_t n = strcspn(line, "\n");
	line[n] = '\0';
	long count = atol(argv[2]);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++)
		parse(line, n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / (double)count;
	printf("  %-52s %6.2f us/line\n", NAME, us);
	return 0;
}
