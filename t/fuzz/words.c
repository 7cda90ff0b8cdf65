/* Fuzz harness for the meters file's words (base/text.h, words_split):
 * any line splits without reading or writing outside it, and every list
 * of words mtrcfg writes as a line (svc/svcdir.h, sh_line) splits back to
 * exactly those words: the two ends of p1read --meters agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "svc/svcdir.h"

#define MAX_WORDS 16

static void split_anything(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	char *words[MAX_WORDS];
	int n = words_split(s, words, MAX_WORDS);
	for (int i = 0; i < n; i++)
		if (words[i] < s || words[i] + strlen(words[i]) > s + size)
			abort();
	free(s);
}

/* The input's NUL-separated pieces as words (newlines are not: a meters
 * line is one line, and mtrcfg keeps such a device apart). */
static void round_trip(const uint8_t *data, size_t size)
{
	if (memchr(data, '\n', size) || memchr(data, '\r', size))
		return;
	char *copy = malloc(size + 1), *words[MAX_WORDS + 1], *back[MAX_WORDS];
	if (!copy)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	int n = 0;
	for (char *p = copy; p <= copy + size && n < MAX_WORDS; p += strlen(p) + 1)
		words[n++] = p;
	words[n] = NULL;
	char *line = NULL;
	size_t len = 0;
	if (sh_line(&line, &len, words) == 0) {
		if (len == 0 || line[len - 1] != '\n')
			abort();
		line[len - 1] = '\0';
		int m = words_split(line, back, MAX_WORDS);
		if (m != n)
			abort();
		for (int i = 0; i < n; i++)
			if (strcmp(words[i], back[i]))
				abort();
	}
	free(line);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	split_anything(data, size);
	round_trip(data, size);
	return 0;
}
