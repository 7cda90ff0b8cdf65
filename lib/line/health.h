/* health.h: a reader's health: its counters and the health line that
 * reports them (meter2mqtt(7), HEALTH):
 *
 *   {"time":..,"type":..,"device":..,"health":{"telegrams":N,
 *    "dropped":{"crc":3,"too_long":1},"last_error":"..","link":"up"}}
 *
 * The reader counts every telegram (or poll) it reads well and every one it
 * drops, under a short snake_case reason word of its own; it says how its
 * link to the meter is.  With an interval, a line goes out every interval
 * and at once when the link changes; without one (the default), never, so
 * that `p1read FILE | jq` sees reading lines only.  The counters are kept
 * either way. */
#ifndef M2M_HEALTH_H
#define M2M_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "line/jsonw.h"

enum health_link {
	HEALTH_LINK_UNKNOWN, /* not yet known: no "link" member */
	HEALTH_LINK_UP,      /* the port is open and data comes */
	HEALTH_LINK_DOWN,    /* lost, cannot be opened, silent, no reply */
};

/* Distinct reasons kept; any beyond are counted as "other". */
#define HEALTH_MAX_REASONS 16

struct health_count {
	const char *reason; /* a static snake_case word */
	unsigned long long n;
};

struct health {
	const char *type, *device;
	int64_t interval_ms; /* 0: no health lines */
	int64_t due_ms;      /* when the next periodic line goes out */
	unsigned long long good;
	struct health_count dropped[HEALTH_MAX_REASONS];
	int nreasons;
	char last_error[512];
	enum health_link link;
	struct jw w;
};

/* --health-interval's value: seconds, 0 (never, the default) to 86400, or
 * a usage error. */
long health_interval_arg(const char *s);

/* type and device as in the reader's reading lines (kept, not copied). */
void health_init(struct health *h, const char *type, const char *device, long interval_s);

/* One telegram or poll read well. */
void health_good(struct health *h);
/* One dropped, for reason; the complaint (without "prog: ") becomes
 * last_error, for the caller to print as well. */
void health_drop(struct health *h, const char *reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A complaint that drops nothing (the link lost): last_error only. */
void health_complain(struct health *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The link as it is now; a line goes out at once when it changed. */
void health_link(struct health *h, enum health_link link);
/* A line when one is due. */
void health_tick(struct health *h);
/* Milliseconds until the next line is due (0 when it is), or -1 when
 * health lines are off: the longest a reader may block. */
int health_wait_ms(const struct health *h);
/* health_tick, then health_wait_ms: the idle hook of meter/port.h, for the
 * waits between reconnection attempts. */
int health_idle(void *h);
/* The last line, at the end of the input: the link down, as nothing more
 * will come.  Nothing when health lines are off. */
void health_final(struct health *h);

#endif
