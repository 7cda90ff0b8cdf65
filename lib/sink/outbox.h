/* outbox.h: where mqttpub's messages wait for the broker: the queue in
 * memory (sink/queue.h), or the queue mirrored on disk (sink/spool.h) with
 * --spool.  One interface for both, so that the publisher never asks
 * which; the connection (sink/mqttconn.h) drains q either way.
 *
 * A message that cannot be held (larger than the bound, or memory ran
 * out) is said on stderr; the oldest dropped to make room are counted and
 * said at most every 10 s (outbox_report_drops). */
#ifndef M2M_OUTBOX_H
#define M2M_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink/queue.h"
#include "sink/spool.h"

struct outbox {
	struct queue q;
	struct spool spool;
	bool spooling;           /* the queue is on disk */
	bool spool_failed;       /* a write failed (said once) */
	const char *spool_dir;
	int64_t spool_max;
	unsigned long dropped_reported;
	int64_t dropped_warned_ms;
};

/* In memory, bounded by count and bytes. */
void outbox_open_memory(struct outbox *o, size_t max_count, size_t max_bytes);
/* On disk in dir (sink/spool.h), replaying what an earlier run left.
 * Returns 0, or -1 with the reason in why. */
int outbox_open_spool(struct outbox *o, const char *dir, int64_t max_bytes, int sync_ms, char *why,
                      size_t whylen);
void outbox_push(struct outbox *o, const char *topic, const char *payload, size_t len, bool retain);
/* Says how many were dropped for room since the last time: now, or when
 * 10 s have passed since then. */
void outbox_report_drops(struct outbox *o, bool now);
/* Writes what was pushed to the spool (before it goes to the broker). */
void outbox_flush(struct outbox *o, int64_t now);
/* When outbox_flush next has a sync to do (or INT64_MAX). */
int64_t outbox_wake(const struct outbox *o);
/* Delivered (acknowledged, or written at QoS 0) since the start. */
unsigned long outbox_delivered(const struct outbox *o);
/* Syncs and closes the spool (what is left stays for the next run); frees. */
void outbox_close(struct outbox *o);

#endif
