/* pubdev.h: the devices of a fan-in mqttpub (sink/fanin.h), each with its
 * own status and health over the one connection.
 *
 * A device is a type and device id, as its lines name them.  It is known
 * from its first line (or from a message an earlier run left in the
 * spool); its status topic says online from then on and offline when its
 * FIFO is removed or mqttpub stops cleanly.  Its messages are counted as
 * they enter and leave the queue (queue_watch_fn), by the topic's
 * PREFIX/TYPE/DEVICE, so that its health says what the broker took of
 * its own. */
#ifndef M2M_PUBDEV_H
#define M2M_PUBDEV_H

#include <stdbool.h>
#include <stddef.h>

#include "sink/pubhealth.h"
#include "sink/queue.h"

struct pubdev {
	struct pubdev *next_in_slot;
	char *key;                /* "TYPE/DEVICE" */
	char *type, *device;
	char *status_topic, *health_topic;
	char *source;             /* the FIFO its lines came from, or NULL */
	struct pubhealth health;
	unsigned long published, queued, dropped;
};

struct pubdevs {
	const char *prefix;
	const char *self_key;     /* the publisher's own TYPE/DEVICE: not a device */
	struct pubdev **v;        /* in order of arrival */
	size_t n;
	struct pubdev **slots;    /* by hash of key */
	size_t nslots;
	struct pubdev *last;      /* the last one a message was counted for */
};

void pubdevs_init(struct pubdevs *d, const char *prefix, const char *self_key);
/* The device type/device; *added says whether it is new.  NULL when
 * memory ran out. */
struct pubdev *pubdevs_get(struct pubdevs *d, const char *type, const char *device, bool *added);
/* Counts a message in or out for the device its topic names (the queue's
 * watcher; arg is the struct pubdevs). */
void pubdevs_count(void *arg, const struct qmsg *m, enum queue_event ev);
void pubdevs_remove(struct pubdevs *d, struct pubdev *dev);
void pubdevs_free(struct pubdevs *d);

#endif
