/* reading.h: one reading line, parsed and checked (meter2mqtt(7)).
 *
 * Pure (no I/O, no clock): every consumer of reading lines (mqttpub, and
 * the sinks to come) parses with reading_parse.  A line is a JSON object
 * with "type" and "device" (each one valid topic level), optional "time",
 * "meter" (an object) and "values" (an object of parameters).  Pointers
 * point into root and live until reading_free. */
#ifndef M2M_READING_H
#define M2M_READING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct reading {
	json_t *root;
	const char *time;   /* may be NULL */
	const char *type, *device;
	json_t *meter;      /* object or NULL */
	json_t *values;     /* object or NULL (a reading without values) */
};

/* Parses one line (without its newline).  Returns 0, or -1 with the reason
 * in why (the line is then to be skipped as a whole): not JSON, not an
 * object, type or device missing or not a valid topic level. */
int reading_parse(const char *line, size_t len, struct reading *r, char *why, size_t whylen);
void reading_free(struct reading *r);
/* Lets the parser allocate from the per-line arena (base/arena.h):
 * reading_free then frees nothing, arena_reset does. */
void reading_use_arena(void);

/* The string member key of obj, or NULL. */
const char *reading_string(const json_t *obj, const char *key);

/* A topic level is at most this long (MQTT limits a topic to 65535 bytes). */
#define READING_LEVEL_MAX 65535

/* One topic level, as type, device and parameter names must be: non-empty,
 * valid UTF-8 without control characters, no '/', '+', '#'.  n is the byte
 * length (a NUL inside makes it invalid).  On failure why (may be NULL)
 * names the problem. */
bool topic_level_valid(const char *s, size_t n, const char **why);

#endif
