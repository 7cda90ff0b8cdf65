/* reading.h: one reading line, parsed and checked (meter2mqtt(7)).
 *
 * Pure (no I/O, no clock): every consumer of reading lines (mqttpub, and
 * the sinks to come) parses with reading_parse.  A line is a JSON object
 * with "type" and "device" (each one valid topic level), optional "time",
 * "meter" (an object) and "values" (an object of parameters).
 *
 * The line is parsed by yajl into a small tree of struct jv.  A number
 * keeps its text from the line, byte for byte ("0.070", "-0.0", "1e3",
 * integers of any length): a consumer never has to print a double, and
 * no digit the meter sent is lost.  Strings are decoded (they may hold
 * NUL: use the length).  Duplicate keys make the line bad.
 *
 * The tree lives until reading_free; with reading_use_arena it comes from
 * the per-line arena (base/arena.h) and the caller's arena_reset frees it. */
#ifndef M2M_READING_H
#define M2M_READING_H

#include <stdbool.h>
#include <stddef.h>

/* The type a fan-in mqttpub that no --type names publishes its own
 * status and health under (PREFIX/meter2mqtt/HOST/...): the gateway's
 * publisher, not a meter.  Reserved: no device may have it (mtrcfg says
 * so), and the exporter tells the publisher from meters by it. */
#define PUBLISHER_TYPE "meter2mqtt"

enum jv_type { JV_NULL, JV_FALSE, JV_TRUE, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT };

struct jmember;

/* One JSON value.  JV_NUMBER: s/n is its text in the line (a valid JSON
 * number); JV_STRING: the decoded string, NUL-terminated after n bytes;
 * JV_ARRAY, JV_OBJECT: n members in m (key NULL in an array). */
struct jv {
	enum jv_type type;
	size_t n;
	const char *s;
	struct jmember *m;
};

struct jmember {
	const char *key; /* NUL-terminated; no NUL inside (such a key makes the line bad) */
	struct jv v;
};

struct reading_block;

struct reading {
	struct jv root;
	const char *time;   /* may be NULL */
	const char *type, *device;
	const struct jv *meter;  /* object or NULL */
	const struct jv *values; /* object or NULL (a reading without values) */
	struct reading_block *blocks; /* what reading_free gives back (no arena) */
};

/* Deepest nesting accepted in a line. */
#define READING_MAX_DEPTH 64

/* Parses one line (without its newline).  Returns 0, or -1 with the reason
 * in why (the line is then to be skipped as a whole): not JSON (with the
 * byte where it stops being JSON), not an object, type or device missing
 * or not a valid topic level, a duplicate key. */
int reading_parse(const char *line, size_t len, struct reading *r, char *why, size_t whylen);
void reading_free(struct reading *r);
/* Lets the parser allocate from the per-line arena (base/arena.h). */
void reading_use_arena(void);

/* The member key of obj (an object), or NULL. */
const struct jv *jv_get(const struct jv *obj, const char *key);
/* The string member key of obj, or NULL. */
const char *reading_string(const struct jv *obj, const char *key);

/* A topic level is at most this long (MQTT limits a topic to 65535 bytes). */
#define READING_LEVEL_MAX 65535

/* One topic level, as type, device and parameter names must be: non-empty,
 * valid UTF-8 without control characters, no '/', '+', '#'.  n is the byte
 * length (a NUL inside makes it invalid).  On failure why (may be NULL)
 * names the problem. */
bool topic_level_valid(const char *s, size_t n, const char **why);

#endif
