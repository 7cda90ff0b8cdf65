/* pubhealth.h: the health message mqttpub publishes, retained, on
 * PREFIX/TYPE/DEVICE/health (meter2mqtt(7), HEALTH): the reader's last
 * health report as it gave it, its link state, and mqttpub's own
 * counters.  Pure: the publisher says when, and where it goes. */
#ifndef M2M_PUBHEALTH_H
#define M2M_PUBHEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "line/reading.h"

/* mqttpub's counters since it started. */
struct pub_counters {
	unsigned long published, queued, dropped, reconnects, bad_lines;
	/* With a spool (sink/spool.h): its bytes on disk, the messages an
	 * earlier run left in it, the oldest dropped when it was full (also
	 * in dropped), and the torn or damaged records skipped at start. */
	bool spooling;
	uint64_t spool_bytes;
	unsigned long spool_replayed, spool_dropped, spool_torn;
};

struct pubhealth {
	char *reader;  /* the reader's last health object, as JSON, or NULL */
	char link[16]; /* its link state, or "" */
};

/* Keeps a reader's health object (a health line's "health").  Returns 1
 * when a health message is due at once (the first report, or the link
 * state changed), 0 when not, -1 when it cannot be kept (why says why). */
int pubhealth_take(struct pubhealth *h, const struct jv *health, const char **why);
/* The message, as a malloc'd string of *len bytes; NULL when memory ran
 * out. */
char *pubhealth_message(const struct pubhealth *h, const char *type, const char *device,
                        const struct pub_counters *c, size_t *len);
void pubhealth_free(struct pubhealth *h);

#endif
