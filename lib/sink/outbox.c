#include "sink/outbox.h"

#include <string.h>

#include "base/err.h"
#include "base/util.h"

void outbox_open_memory(struct outbox *o, size_t max_count, size_t max_bytes)
{
	memset(o, 0, sizeof *o);
	queue_init(&o->q, max_count, max_bytes);
}

int outbox_open_spool(struct outbox *o, const char *dir, int64_t max_bytes, int sync_ms, char *why,
                      size_t whylen)
{
	memset(o, 0, sizeof *o);
	/* The spool's bound is the queue's: memory holds what it holds. */
	queue_init(&o->q, SIZE_MAX, SIZE_MAX);
	if (spool_open(&o->spool, dir, (uint64_t)max_bytes, sync_ms, &o->q, why, whylen) < 0)
		return -1;
	o->spooling = true;
	o->spool_dir = dir;
	o->spool_max = max_bytes;
	return 0;
}

void outbox_push(struct outbox *o, const char *topic, const char *payload, size_t len, bool retain)
{
	if (o->spooling) {
		if (spool_push(&o->spool, topic, strlen(topic), payload, len, retain) < 0)
			warnx("cannot spool a message for %s: %s", topic,
			      len > (size_t)o->spool_max / 2 ? "larger than --spool-max" : "out of memory");
		return;
	}
	if (queue_push(&o->q, topic, strlen(topic), payload, len, retain) < 0)
		warnx("cannot queue a message for %s: %s", topic,
		      queue_msg_size(strlen(topic), len) > o->q.max_bytes ? "larger than --queue-bytes" : "out of memory");
}

void outbox_report_drops(struct outbox *o, bool now)
{
	if (o->q.dropped == o->dropped_reported)
		return;
	int64_t t = mono_ms();
	if (!now && t - o->dropped_warned_ms < 10000)
		return;
	if (o->spooling)
		warnx("spool %s full (--spool-max %lld): dropped the oldest, %lu dropped so far", o->spool_dir,
		      (long long)o->spool_max, o->q.dropped);
	else
		warnx("queue full (--queue-max %zu, --queue-bytes %zu): dropped the oldest, %lu dropped so far",
		      o->q.max_count, o->q.max_bytes, o->q.dropped);
	o->dropped_reported = o->q.dropped;
	o->dropped_warned_ms = t;
}

void outbox_flush(struct outbox *o, int64_t now)
{
	if (o->spooling && spool_flush(&o->spool, now) < 0 && !o->spool_failed) {
		warn_errno("spool %s: cannot write (messages stay in memory only)", o->spool_dir);
		o->spool_failed = true;
	}
}

int64_t outbox_wake(const struct outbox *o) { return o->spooling ? spool_wake(&o->spool) : INT64_MAX; }

unsigned long outbox_delivered(const struct outbox *o) { return o->q.pushed - o->q.dropped - o->q.count; }

void outbox_close(struct outbox *o)
{
	if (o->spooling)
		spool_close(&o->spool);
	queue_free(&o->q);
}
