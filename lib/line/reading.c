#include "line/reading.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 when it is not
 * well-formed: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned long *cp)
{
	unsigned char c = s[0];
	size_t len;
	unsigned long v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2, v = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, v = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

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
		unsigned long cp;
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

const char *reading_string(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool level_member(const json_t *root, const char *key, const char **out, char *why, size_t whylen)
{
	const json_t *v = json_object_get(root, key);
	const char *problem;
	if (!v) {
		snprintf(why, whylen, "no \"%s\"", key);
		return false;
	}
	if (!json_is_string(v)) {
		snprintf(why, whylen, "\"%s\" is not a string", key);
		return false;
	}
	if (!topic_level_valid(json_string_value(v), json_string_length(v), &problem)) {
		snprintf(why, whylen, "\"%s\" is not a valid topic level: %s", key, problem);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/* The integer token that ends just before byte end of s (jansson reports
 * an integer overflow there): its start, or -1 when it is not one. */
static long integer_token_start(const char *s, size_t end)
{
	size_t i = end;
	while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
		i--;
	if (i == end)
		return -1;
	if (i > 0 && s[i - 1] == '-')
		i--;
	return (long)i;
}

static bool followed_by_colon(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	return i < n && s[i] == ':';
}

/* Parses with jansson.  An integer beyond 64 bits, which jansson refuses
 * ("too big integer") but a reader may legally write, is quoted and parsed
 * again, so that it becomes a string of its exact digits: never rounded
 * through a double, and the rest of the line is not lost. */
static json_t *load_line(const char *line, size_t len, json_error_t *err)
{
	enum { FLAGS = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, MAX_QUOTED = 64 };
	json_t *root = json_loadb(line, len, FLAGS, err);
	char *copy = NULL;
	int shift = 0;
	for (int quoted = 0; !root && quoted < MAX_QUOTED; quoted++) {
		if (json_error_code(err) != json_error_numeric_overflow || err->position < 1 ||
		    (size_t)err->position > len || strstr(err->text, "integer") == NULL)
			break;
		size_t end = (size_t)err->position;
		const char *cur = copy ? copy : line;
		long start = integer_token_start(cur, end);
		if (start < 0 || followed_by_colon(cur + end, len - end))
			break; /* not a value (a key, quoted, would turn bad JSON good) */
		char *next = malloc(len + 2);
		if (!next)
			break;
		memcpy(next, cur, (size_t)start);
		next[start] = '"';
		memcpy(next + start + 1, cur + start, end - (size_t)start);
		next[end + 1] = '"';
		memcpy(next + end + 2, cur + end, len - end);
		free(copy);
		copy = next;
		len += 2;
		root = json_loadb(copy, len, FLAGS, err);
		shift = 2 * (quoted + 1);
	}
	/* A later error's position, in the line as read. */
	if (!root && err->position >= shift)
		err->position -= shift;
	free(copy);
	return root;
}

int reading_parse(const char *line, size_t len, struct reading *r, char *why, size_t whylen)
{
	memset(r, 0, sizeof *r);
	json_error_t err;
	r->root = load_line(line, len, &err);
	if (!r->root) {
		snprintf(why, whylen, "not JSON: %s at byte %d", err.text, err.position);
		return -1;
	}
	if (!json_is_object(r->root)) {
		snprintf(why, whylen, "not a JSON object");
		goto bad;
	}
	if (!level_member(r->root, "type", &r->type, why, whylen) ||
	    !level_member(r->root, "device", &r->device, why, whylen))
		goto bad;
	r->time = reading_string(r->root, "time");
	r->meter = json_object_get(r->root, "meter");
	if (!json_is_object(r->meter))
		r->meter = NULL;
	r->values = json_object_get(r->root, "values");
	if (r->values && !json_is_object(r->values)) {
		snprintf(why, whylen, "\"values\" is not an object");
		goto bad;
	}
	return 0;
bad:
	reading_free(r);
	return -1;
}

void reading_free(struct reading *r)
{
	json_decref(r->root);
	memset(r, 0, sizeof *r);
}


void reading_use_arena(void)
{
	if (ARENA_ENABLED)
		json_set_alloc_funcs(arena_alloc, arena_free);
}
