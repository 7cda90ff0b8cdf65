/* mqttmsg.h: one reading line in, the MQTT messages it stands for out.
 *
 * Pure (no I/O, no clock, no globals): mqttpub feeds it readings
 * (line/reading.h), the fuzz harness anything.  Topics are
 * built as <prefix>/<type>/<device>/<param> and every level is checked, so
 * a line can never make mqttpub publish to a wrong topic.
 *
 * Numbers are published with their text from the line (line/reading.h),
 * byte for byte: 0.070 stays 0.070, 1e3 stays 1e3, integers of any
 * length stay exact.
 * With MM_JSON_READING the line itself is the payload, byte for byte. */
#ifndef M2M_MQTTMSG_H
#define M2M_MQTTMSG_H

#include <stdbool.h>
#include <stddef.h>

#include "line/reading.h"

/* Topics are limited to 65535 bytes by MQTT; levels we build stay far
 * below that, and the checks say so. */
#define MM_TOPIC_MAX 65535
/* Arrays and objects in a value are re-serialized; deeper is refused. */
#define MM_VALUE_DEPTH 12

enum mm_mode {
	MM_RAW,          /* per parameter, the bare value */
	MM_JSON_VALUES,  /* per parameter, {"value":..,"unit":..,"time":..} */
	MM_JSON_READING, /* one message per reading on <prefix>/<type>/<device> */
};

struct mm_opts {
	const char *prefix;    /* "meters"; checked with mm_prefix_valid */
	enum mm_mode mode;
	const char *ha_prefix; /* "homeassistant" */
};

struct mm_msg {
	char *topic;
	char *payload;
	size_t payload_len;
	bool retain;
};

struct mm_list {
	struct mm_msg *v;
	size_t n, cap;
};

/* A complaint about one parameter of an otherwise good line. */
struct mm_problem {
	char param[80]; /* the name, shortened and made printable */
	char why[120];
};

#define MM_MAX_PROBLEMS 8

struct mm_result {
	struct mm_problem problems[MM_MAX_PROBLEMS];
	int nproblems;     /* how many are stored */
	int skipped;       /* parameters skipped in all (may exceed nproblems) */
	int nulls;         /* parameters with a null value (nothing published) */
};

/* Appends the value messages of a parsed reading to out.  line/len is the
 * original line (the payload in MM_JSON_READING mode).  Parameters that
 * cannot be published (bad name, no value, too deep) are skipped and
 * described in res.  Returns the number of messages appended, or -1 when
 * memory ran out. */
int mm_build(const struct mm_opts *o, const struct reading *r, const char *line, size_t len,
             bool retain, struct mm_list *out, struct mm_result *res);

/* <prefix>/<type>/<device>[/<last>], or NULL when memory ran out. */
char *mm_topic(const char *prefix, const char *type, const char *device, const char *last);

/* A parameter name fit for the last topic level: a valid level, and not
 * "status" (the status topic's). */
bool mm_param_valid(const char *param, const char **why);
/* A prefix: one or more valid levels separated by '/', not starting with
 * '$' (reserved for the broker). */
bool mm_prefix_valid(const char *s, const char **why);

/* The payload of one value (raw mode): number text, a string as-is,
 * true/false, arrays and objects as compact JSON.  Returns a malloc'd
 * buffer and its length, or NULL for null, too deep or out of memory
 * (why says which). */
char *mm_value_payload(const struct jv *v, size_t *len, const char **why);

void mm_list_init(struct mm_list *l);
/* Frees the messages (the list stays usable). */
void mm_list_clear(struct mm_list *l);
void mm_list_free(struct mm_list *l);
void mm_msg_free(struct mm_msg *m);

#endif
